"""Server-side sessions for the web UI; the cookie holds only a random token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper.store.tables import User, WebSession, utcnow

IDLE_TIMEOUT = timedelta(hours=8)
ABSOLUTE_TIMEOUT = timedelta(hours=24)
PENDING_TIMEOUT = timedelta(minutes=10)
COOKIE_NAME = "wk_session"


@dataclass(frozen=True)
class SessionInfo:
    """Who is calling. ``via_token`` marks API-token calls (no cookie, so no CSRF check)."""

    user_id: int
    username: str
    role: str
    csrf_token: str
    stage: str = "full"
    via_token: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    db: Session, user: User, client_addr: str = "", user_agent: str = "", stage: str = "full"
) -> str:
    """Create a session for ``user``; return the cookie token (stored only as a digest).

    A session in stage "mfa" or "enrol" expires after ``PENDING_TIMEOUT``.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = ABSOLUTE_TIMEOUT if stage == "full" else PENDING_TIMEOUT
    db.add(
        WebSession(
            id=_digest(token),
            user_id=user.id,
            csrf_token=secrets.token_hex(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            client_addr=client_addr[:64],
            user_agent=user_agent[:300],
            stage=stage,
        )
    )
    return token


def promote_session(db: Session, token: str, stage: str = "full") -> str:
    """Replace the session of ``token`` by a new one in ``stage``; return the new token.

    Called when a second factor is verified: the identifier changes whenever privileges do.
    """
    row = db.get(WebSession, _digest(token))
    user = db.get(User, row.user_id) if row else None
    if row is None or user is None:
        raise LookupError("no such session")
    db.delete(row)
    return start_session(db, user, row.client_addr, row.user_agent, stage)


def end_all_sessions(db: Session, user_id: int, keep_token: str = "") -> int:
    """Sign a user out everywhere (except the session of ``keep_token``); return how many."""
    query = delete(WebSession).where(WebSession.user_id == user_id)
    if keep_token:
        query = query.where(WebSession.id != _digest(keep_token))
    return int(db.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def list_sessions(db: Session, user_id: int) -> list[WebSession]:
    return list(
        db.scalars(
            select(WebSession)
            .where(WebSession.user_id == user_id, WebSession.stage == "full")
            .order_by(WebSession.last_seen_at.desc())
        )
    )


def session_id_of(token: str) -> str:
    """Return the stored identifier of the session whose cookie holds ``token``."""
    return _digest(token)


def resolve_session(
    db: Session, token: str, stages: tuple[str, ...] = ("full",)
) -> SessionInfo | None:
    """Return the live session for ``token`` in one of ``stages`` (refreshing its idle
    timer), else None."""
    if not token:
        return None
    row = db.get(WebSession, _digest(token))
    now = utcnow()
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at + IDLE_TIMEOUT <= now:
        db.delete(row)
        return None
    if row.stage not in stages:
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):  # avoid a write on every request
        row.last_seen_at = now
    return SessionInfo(user.id, user.username, user.role, row.csrf_token, row.stage)


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
