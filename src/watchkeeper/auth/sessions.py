"""Server-side sessions for the web UI; the cookie holds only a random token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from watchkeeper.store.tables import User, WebSession, utcnow

IDLE_TIMEOUT = timedelta(hours=8)
ABSOLUTE_TIMEOUT = timedelta(hours=24)
COOKIE_NAME = "wk_session"


@dataclass(frozen=True)
class SessionInfo:
    user_id: int
    username: str
    role: str
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Session, user: User, client_addr: str = "", user_agent: str = "") -> str:
    """Create a session for ``user``; return the cookie token (stored only as a digest)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        WebSession(
            id=_digest(token),
            user_id=user.id,
            csrf_token=secrets.token_hex(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
            client_addr=client_addr[:64],
            user_agent=user_agent[:300],
        )
    )
    return token


def resolve_session(db: Session, token: str) -> SessionInfo | None:
    """Return the live session for ``token`` (refreshing its idle timer), else None."""
    if not token:
        return None
    row = db.get(WebSession, _digest(token))
    now = utcnow()
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at + IDLE_TIMEOUT <= now:
        db.delete(row)
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):  # avoid a write on every request
        row.last_seen_at = now
    return SessionInfo(user.id, user.username, user.role, row.csrf_token)


def purge_expired_sessions(db: Session) -> int:
    """Delete sessions past their absolute or idle timeout; return how many."""
    now = utcnow()
    result = db.execute(
        delete(WebSession).where(
            (WebSession.expires_at <= now) | (WebSession.last_seen_at <= now - IDLE_TIMEOUT)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def end_session(db: Session, token: str) -> None:
    db.execute(delete(WebSession).where(WebSession.id == _digest(token)))
