"""Second factors: whether a user has one, and whether their role requires one."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from watchkeeper.store.tables import StoredObject, TotpCredential, WebAuthnCredential


def has_second_factor(db: Session, user_id: int) -> bool:
    """Return True if the user has a confirmed TOTP app or a registered security key."""
    totp = exists().where(TotpCredential.user_id == user_id, TotpCredential.confirmed)
    key = exists().where(WebAuthnCredential.user_id == user_id)
    return bool(db.scalar(select(totp | key)))


def roles_requiring_mfa(db: Session) -> set[str]:
    """Return the roles the plan's ``access.require_mfa`` names."""
    spec = db.scalar(
        select(StoredObject.spec).where(
            StoredObject.kind == "settings", StoredObject.name == "access"
        )
    )
    return set((spec or {}).get("require_mfa", []))


def mfa_required(db: Session, role: str) -> bool:
    return role in roles_requiring_mfa(db)
