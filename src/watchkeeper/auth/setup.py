"""First run: a one-time link to create the first admin while no user exists."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper.auth.users import UserView, count_users, create_user
from watchkeeper.exceptions import ConflictError
from watchkeeper.store.tables import Meta, utcnow

SETUP_KEY = "setup_token"
SETUP_TTL = timedelta(hours=24)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_setup_token(db: Session) -> str | None:
    """Return a fresh setup token if no user exists (replacing any older one), else None."""
    if count_users(db) > 0:
        db.execute(delete(Meta).where(Meta.key == SETUP_KEY))
        return None
    token = secrets.token_urlsafe(32)
    expires = (utcnow() + SETUP_TTL).isoformat()
    row = db.get(Meta, SETUP_KEY)
    value = f"{_digest(token)} {expires}"
    if row:
        row.value, row.updated_at = value, utcnow()
    else:
        db.add(Meta(key=SETUP_KEY, value=value))
    return token


def setup_token_valid(db: Session, token: str) -> bool:
    """Return True if ``token`` is the current, unexpired setup token and no user exists."""
    row = db.scalar(select(Meta).where(Meta.key == SETUP_KEY))
    if row is None or not token or count_users(db) > 0:
        return False
    digest, _, expires = row.value.partition(" ")
    if expires < utcnow().isoformat():
        return False
    return hmac.compare_digest(digest, _digest(token))


def complete_setup(db: Session, token: str, username: str, password: str) -> UserView:
    """Create the first admin with ``token``; raise ConflictError if the link is not valid."""
    if not setup_token_valid(db, token):
        raise ConflictError(
            "this setup link is not valid any more; restart the server for a "
            "new one, or sign in if an admin exists"
        )
    user = create_user(db, username, password, role="admin")
    # Only one request can delete the row: a second concurrent setup fails here.
    if db.execute(delete(Meta).where(Meta.key == SETUP_KEY)).rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        raise ConflictError("setup already completed")
    return user
