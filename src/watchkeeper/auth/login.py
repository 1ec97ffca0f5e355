"""Signing in: throttle, check the password, decide what the session may do next."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from watchkeeper.auth import audit, throttle
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.mfa import has_second_factor, mfa_required
from watchkeeper.auth.sessions import start_session
from watchkeeper.auth.users import authenticate


@dataclass(frozen=True)
class LoginResult:
    """``outcome``: "ok" (signed in), "mfa" (second factor next), "enrol" (must set one up
    first), "denied" (wrong name or password) or "throttled" (wait ``retry_after`` s)."""

    outcome: str
    token: str = ""
    retry_after: int = 0


def sign_in(
    db: Session, username: str, password: str, client_addr: str, user_agent: str = ""
) -> LoginResult:
    """Check a password sign-in and start the session it earns; the caller commits.

    Unknown names and wrong passwords take the same path, time and answer.
    """
    actor = Actor(username[:150] or "?", client_addr)
    verdict = throttle.check(db, username, client_addr)
    if not verdict.allowed:
        audit.record(
            db,
            actor,
            "login.throttled",
            f"user/{username}",
            {"retry_after_s": verdict.retry_after, "locked": verdict.locked},
        )
        return LoginResult("throttled", retry_after=verdict.retry_after)
    user = authenticate(db, username, password)
    if user is None:
        locked = throttle.record_failure(db, username, client_addr)
        audit.record(db, actor, "login.failed", f"user/{username}")
        if locked:
            audit.record(
                db,
                actor,
                "user.locked",
                f"user/{username}",
                {"for_minutes": int(throttle.LOCK_FOR.total_seconds() // 60)},
            )
        return LoginResult("denied")
    if has_second_factor(db, user.id):
        # Failures are forgotten only once the second factor is given too: otherwise the
        # right password would reset the count, and the code could be guessed without end.
        stage = "mfa"
    else:
        throttle.clear(db, username)
        stage = "enrol" if mfa_required(db, user.role) else "full"
    token = start_session(db, user, client_addr, user_agent, stage)
    audit.record(
        db,
        actor,
        "login.password_ok" if stage != "full" else "login",
        f"user/{user.username}",
        {"next": stage} if stage != "full" else None,
    )
    return LoginResult("ok" if stage == "full" else stage, token)
