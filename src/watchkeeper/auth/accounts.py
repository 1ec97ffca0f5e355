"""User administration and self-service, each change recorded in the audit trail.

Admins change roles, disable and enable accounts, lift sign-in locks and sign users out
everywhere; users change their own password and profile and end their other sessions. A
role change or disabling ends every session of that user (privileges changed: new sign-in).
Every function records its change in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit, recovery, security_keys, throttle, totp
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.mfa import has_second_factor
from watchkeeper.auth.passwords import hash_password, password_problems, verify_password
from watchkeeper.auth.roles import ROLES
from watchkeeper.auth.sessions import end_all_sessions
from watchkeeper.auth.users import UserView, create_user
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.store.tables import User, utcnow

EDITABLE = ("role", "disabled", "display_name", "email")
PROFILE = ("display_name", "email")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def get_user(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f'no user "{username}"')
    return user


def _target(user: User) -> str:
    return f"user/{user.username}"


def _snapshot(user: User) -> dict[str, Any]:
    return {k: getattr(user, k) for k in EDITABLE}


def add_user(
    db: Session,
    actor: Actor,
    username: str,
    password: str,
    role: str = "viewer",
    display_name: str = "",
    email: str | None = None,
) -> UserView:
    """Create a person's account (see :func:`users.create_user`) and audit it."""
    errors = _field_problems({"display_name": display_name, "email": email})
    if errors:
        raise ValidationFailed("invalid user", errors)
    view = create_user(db, username, password, role, display_name.strip(), email or None)
    audit.record(
        db,
        actor,
        "user.create",
        f"user/{view.username}",
        {"changes": audit.changes(None, {"role": role, "display_name": view.display_name})},
    )
    return view


def _field_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for key, value in values.items():
        if key == "role" and value not in ROLES:
            errors.append(("role", f'"{value}" is not a role (use {", ".join(ROLES)})'))
        elif key == "disabled" and not isinstance(value, bool):
            errors.append(("disabled", "must be true or false"))
        elif key == "display_name" and (not isinstance(value, str) or len(value) > 200):
            errors.append(("display_name", "must be text of at most 200 characters"))
        elif key == "email" and value not in (None, ""):
            if not isinstance(value, str) or len(value) > 320 or not _EMAIL.match(value):
                errors.append(("email", "must be an e-mail address like ana@example.com"))
    return errors


def _enabled_admins(db: Session, but: int) -> int:
    """Count the enabled people with the admin role, other than user ``but``."""
    return (
        db.scalar(
            select(func.count())
            .select_from(User)
            .where(
                User.role == "admin",
                User.kind == "human",
                User.disabled.is_(False),
                User.id != but,
            )
        )
        or 0
    )


def update_user(
    db: Session, actor: Actor, username: str, values: Mapping[str, Any]
) -> tuple[UserView, int]:
    """Change any of ``role``, ``disabled``, ``display_name``, ``email``; return the user and
    how many of their sessions ended (a role change or disabling ends them all).

    Raise ValidationFailed naming the fields, NotFoundError, or ConflictError when the
    change would leave no enabled admin who can sign in.
    """
    errors = [
        (k, f"cannot be changed here (only {', '.join(EDITABLE)})")
        for k in values
        if k not in EDITABLE
    ]
    errors += _field_problems({k: v for k, v in values.items() if k in EDITABLE})
    if errors:
        raise ValidationFailed("invalid change", errors)
    user = get_user(db, username)
    before = _snapshot(user)
    was_admin = before["role"] == "admin" and not before["disabled"] and user.kind == "human"
    stays_admin = values.get("role", user.role) == "admin" and not values.get(
        "disabled", user.disabled
    )
    if was_admin and not stays_admin and _enabled_admins(db, but=user.id) == 0:
        raise ConflictError(
            f'"{username}" is the last enabled admin; make someone else admin first'
        )
    for key, value in values.items():
        if key == "display_name":
            value = value.strip() or user.username
        elif key == "email":
            value = value or None
        setattr(user, key, value)
    after = _snapshot(user)
    changed = audit.changes(before, after)
    if not changed:
        return UserView.of(user), 0
    ended = 0
    if "role" in changed or after["disabled"]:
        ended = end_all_sessions(db, user.id)
    user.updated_at = utcnow()
    detail: dict[str, Any] = {"changes": changed}
    if ended:
        detail["sessions_ended"] = ended
    audit.record(db, actor, "user.update", _target(user), detail)
    return UserView.of(user), ended


def update_profile(db: Session, actor: Actor, user_id: int, values: Mapping[str, Any]) -> UserView:
    """Let a user change their own display name and e-mail address."""
    user = db.get(User, user_id)
    if user is None:
        raise NotFoundError("user not found")
    wrong = [(k, "cannot be changed on your profile") for k in values if k not in PROFILE]
    if wrong:
        raise ValidationFailed("invalid change", wrong)
    view, _ = update_user(db, actor, user.username, values)
    return view


def unlock(db: Session, actor: Actor, username: str) -> int:
    """Lift a sign-in lock (forget the failed attempts); return how many were forgotten.

    Works for names that have no account too: failures are counted per name typed.
    """
    was_locked = throttle.is_locked(db, username)
    forgotten = throttle.clear(db, username)
    audit.record(
        db,
        actor,
        "user.unlocked",
        f"user/{username}",
        {"was_locked": was_locked, "failures_forgotten": forgotten},
    )
    return forgotten


def sign_out_everywhere(db: Session, actor: Actor, username: str, keep_token: str = "") -> int:
    """End every session of ``username`` (but the one of ``keep_token``); return how many."""
    user = get_user(db, username)
    ended = end_all_sessions(db, user.id, keep_token)
    audit.record(
        db,
        actor,
        "user.sessions_ended",
        _target(user),
        {"sessions_ended": ended, "kept_current": bool(keep_token)},
    )
    return ended


def reset_mfa(db: Session, actor: Actor, username: str) -> dict[str, int]:
    """Remove every second factor of ``username`` (for a user who lost both device and
    recovery codes) and end their sessions; return what was removed. If their role requires
    MFA they set a new factor up at their next sign-in."""
    user = get_user(db, username)
    removed = {
        "totp": int(totp.disable(db, user.id)),
        "security_keys": sum(
            1
            for key in security_keys.list_keys(db, user.id)
            if security_keys.remove(db, user.id, key.id)
        ),
        "recovery_codes": recovery.remove_all(db, user.id),
        "sessions_ended": end_all_sessions(db, user.id),
    }
    audit.record(db, actor, "mfa.reset", _target(user), removed)
    return removed


def change_password(
    db: Session,
    actor: Actor,
    user_id: int,
    current: str,
    new: str,
    keep_token: str = "",
) -> int:
    """Change a user's own password; end their other sessions; return how many ended.

    The current password is checked (wrong guesses count toward the sign-in lock, so a
    stolen session cannot be used to guess it) and the new one against the policy. Raise
    ValidationFailed naming ``current_password`` or ``new_password`` otherwise.
    """
    user = db.get(User, user_id)
    if user is None or user.kind != "human":
        raise ValidationFailed(
            "no password to change", [("current_password", "this account has no password")]
        )
    verdict = throttle.check(db, user.username, actor.client_addr)
    if not verdict.allowed:
        raise ValidationFailed(
            "too many wrong passwords",
            [
                (
                    "current_password",
                    f"too many wrong passwords; try again in {verdict.retry_after} s",
                )
            ],
        )
    if not verify_password(user.password_hash, current):
        locked = throttle.record_failure(db, user.username, actor.client_addr)
        audit.record(db, actor, "user.password_change_failed", _target(user))
        if locked:
            audit.record(
                db,
                actor,
                "user.locked",
                _target(user),
                {"for_minutes": int(throttle.LOCK_FOR.total_seconds() // 60)},
            )
        db.commit()  # the failure must count even though the change is refused
        raise ValidationFailed(
            "wrong current password", [("current_password", "is not your current password")]
        )
    problems = password_problems(new, user.username, has_mfa=has_second_factor(db, user.id))
    if problems:
        raise ValidationFailed("password refused", [("new_password", p) for p in problems])
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    ended = end_all_sessions(db, user.id, keep_token)
    audit.record(
        db,
        actor,
        "user.password_changed",
        _target(user),
        {"other_sessions_ended": ended},
    )
    return ended
