"""Login throttling and temporary lockout.

Counted per user name (whether or not the account exists, so that the answers never tell
the two apart) and per client address:

* after ``DELAY_AFTER`` failures on a name within ``WINDOW``, each further attempt must wait
  ``2 ** (n - DELAY_AFTER)`` seconds (at most ``MAX_DELAY``) after the last failure;
* after ``LOCK_AFTER`` failures within ``WINDOW`` the name is locked for ``LOCK_FOR``;
* a client address with ``ADDRESS_LIMIT`` failures within ``WINDOW`` (password spraying
  across many names) is refused for the rest of the window.

Attempts refused by the throttle are not checked and not counted, so a lock always ends:
an attacker can hold an account for at most ``LOCK_FOR`` at a time, and can make at most
``LOCK_AFTER`` guesses per lock cycle (the delays plus ``LOCK_FOR``, about 16.5 minutes):
at most 40 failures in any hour with the defaults, below NIST's limit of 100. An admin can
lift a lock at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from watchkeeper.store.tables import LoginFailure, utcnow

WINDOW = timedelta(minutes=15)
DELAY_AFTER = 3
MAX_DELAY = timedelta(seconds=30)
LOCK_AFTER = 10
LOCK_FOR = timedelta(minutes=15)
ADDRESS_LIMIT = 50
KEEP_FOR = timedelta(days=1)


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may be checked now; ``retry_after`` seconds when not."""

    allowed: bool
    retry_after: int = 0
    locked: bool = False


def _key(username: str) -> str:
    return username.strip().casefold()[:150]


def check(db: Session, username: str, client_addr: str, now: datetime | None = None) -> Verdict:
    """Return whether a sign-in attempt for ``username`` from ``client_addr`` may go ahead."""
    now = now or utcnow()
    since = now - WINDOW
    count, last = db.execute(
        select(func.count(), func.max(LoginFailure.at)).where(
            LoginFailure.username == _key(username), LoginFailure.at > since
        )
    ).one()
    if count >= LOCK_AFTER and last is not None:
        until = last + LOCK_FOR
        if until > now:
            return Verdict(False, _seconds(until - now), locked=True)
    elif count >= DELAY_AFTER and last is not None:
        wait = min(timedelta(seconds=2 ** (count - DELAY_AFTER)), MAX_DELAY)
        if last + wait > now:
            return Verdict(False, _seconds(last + wait - now))
    by_address = (
        db.scalar(
            select(func.count()).where(
                LoginFailure.client_addr == client_addr, LoginFailure.at > since
            )
        )
        or 0
    )
    if client_addr and by_address >= ADDRESS_LIMIT:
        oldest = db.scalar(
            select(func.min(LoginFailure.at)).where(
                LoginFailure.client_addr == client_addr, LoginFailure.at > since
            )
        )
        return Verdict(False, _seconds((oldest or now) + WINDOW - now))
    return Verdict(True)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def record_failure(db: Session, username: str, client_addr: str) -> bool:
    """Count a failed attempt; return True when this failure locks the name."""
    key = _key(username)
    db.add(LoginFailure(username=key, client_addr=client_addr[:64]))
    db.flush()
    recent = (
        db.scalar(
            select(func.count()).where(
                LoginFailure.username == key, LoginFailure.at > utcnow() - WINDOW
            )
        )
        or 0
    )
    return recent == LOCK_AFTER


def clear(db: Session, username: str) -> int:
    """Forget the failures of ``username`` (after a good sign-in, or an admin's unlock)."""
    result = db.execute(delete(LoginFailure).where(LoginFailure.username == _key(username)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def is_locked(db: Session, username: str) -> bool:
    return check(db, username, "").locked


def purge_old(db: Session) -> int:
    """Delete failures older than ``KEEP_FOR``; return how many."""
    result = db.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - KEEP_FOR))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
