"""User accounts: create, list, authenticate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.auth.passwords import (
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from watchkeeper.auth.roles import ROLES
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.store.tables import User, utcnow

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,149}$")
USERNAME_RULE = "must be 2-150 letters, digits or . _ @ -, starting with a letter or digit"


def valid_username(username: str) -> bool:
    return bool(_USERNAME.match(username))


@dataclass(frozen=True)
class UserView:
    """What the API and UI may show of a user (never the hash)."""

    id: int
    username: str
    display_name: str
    email: str | None
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    kind: str = "human"  # or "service": no password, signs in with API tokens only

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            user.id,
            user.username,
            user.display_name,
            user.email,
            user.role,
            user.disabled,
            user.created_at,
            user.last_login_at,
            user.kind,
        )


def validate_new_user(username: str, password: str, role: str) -> None:
    """Raise ValidationFailed naming every problem with the fields."""
    errors: list[tuple[str, str]] = []
    if not _USERNAME.match(username):
        errors.append(("username", USERNAME_RULE))
    errors += [("password", p) for p in password_problems(password, username)]
    if role not in ROLES:
        errors.append(("role", f'"{role}" is not a role (use {", ".join(ROLES)})'))
    if errors:
        raise ValidationFailed("invalid user", errors)


def count_users(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User)) or 0


def create_user(
    db: Session,
    username: str,
    password: str,
    role: str = "viewer",
    display_name: str = "",
    email: str | None = None,
) -> UserView:
    """Create a user and flush; raise ValidationFailed or ConflictError (name taken)."""
    validate_new_user(username, password, role)
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        display_name=display_name or username,
        email=email,
    )
    try:
        with db.begin_nested():
            db.add(user)
    except IntegrityError:
        raise ConflictError(f'user "{username}" already exists') from None
    return UserView.of(user)


def list_users(db: Session) -> list[UserView]:
    return [UserView.of(u) for u in db.scalars(select(User).order_by(User.username))]


def authenticate(db: Session, username: str, password: str) -> User | None:
    """Return the enabled user whose password matches, else None (same cost either way)."""
    user = db.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if not user or not ok or user.disabled or user.kind != "human":
        return None  # service accounts have no password and never sign in here
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user
