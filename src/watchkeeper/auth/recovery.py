"""Recovery codes: ten single-use codes for when the authenticator app or key is lost.

Each code is 10 characters from a 31-character alphabet without look-alikes (no 0/o, 1/l/i),
about 49 bits, shown as ``xxxxx-xxxxx``. Only argon2id hashes are stored; the codes are shown
once, when generated. Generating a new set replaces the old one entirely.
"""

from __future__ import annotations

import secrets

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from watchkeeper.auth.passwords import HASHER
from watchkeeper.store.tables import RecoveryCode, utcnow

COUNT = 10
LENGTH = 10
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise(code: str) -> str:
    """Lower-case the code and drop spaces and dashes; return "" if it cannot be a code."""
    raw = "".join(ch for ch in code.strip().lower() if ch not in " -\t")
    if len(raw) != LENGTH or any(ch not in ALPHABET for ch in raw):
        return ""
    return raw


def generate(db: Session, user_id: int) -> list[str]:
    """Replace the user's recovery codes by ``COUNT`` new ones; return them (shown once)."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(COUNT)]
    db.add_all(
        RecoveryCode(user_id=user_id, code_hash=HASHER.hash(normalise(code))) for code in codes
    )
    db.flush()
    return codes


def use(db: Session, user_id: int, code: str) -> bool:
    """Return True and mark the code used if ``code`` is one of the user's unused codes."""
    raw = normalise(code)
    if not raw:
        return False
    unused = db.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in unused:
        try:
            HASHER.verify(row.code_hash, raw)
        except (VerificationError, InvalidHashError):
            continue
        # Conditional update: of two requests racing with the same code, one wins.
        result = db.execute(
            update(RecoveryCode)
            .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        db.refresh(row)
        return bool(result.rowcount)  # type: ignore[attr-defined]
    return False


def remaining(db: Session, user_id: int) -> int:
    """Return how many unused recovery codes the user has."""
    return (
        db.scalar(
            select(func.count()).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def remove_all(db: Session, user_id: int) -> int:
    """Delete the user's recovery codes (when their last second factor goes); return how many."""
    result = db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
