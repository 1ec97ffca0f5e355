"""API tokens and service accounts.

A token reads ``wk_<prefix>_<secret>``: ``prefix`` (8 hex characters) is stored and shown so
that people can tell their tokens apart; ``secret`` carries 256 random bits. Only the SHA-256
of the whole token is stored, so the plaintext is shown once, when the token is made. (A
slow hash is not needed: nobody can guess 256 random bits, unlike a password.)

A token is scoped to a role no higher than its owner's; a call made with it gets the lower of
the token's role and the owner's role *now*, so demoting the owner demotes their tokens.

Service accounts are users of kind "service": no password, no UI sign-in, tokens only.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.roles import ROLES, role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.auth.users import USERNAME_RULE, UserView, valid_username
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.store.tables import ApiToken, User, utcnow

TOKEN_PREFIX = "wk_"
_TOKEN = re.compile(r"^wk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
LAST_USED_EVERY = timedelta(minutes=1)
MAX_NAME = 100
MAX_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class TokenView:
    """What may be shown of a token (never its hash)."""

    id: int
    owner: str
    name: str
    prefix: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def display_prefix(self) -> str:
        return f"{TOKEN_PREFIX}{self.prefix}_…"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= utcnow():
            return "expired"
        return "active"

    @classmethod
    def of(cls, token: ApiToken, owner: str) -> TokenView:
        return cls(
            token.id,
            owner,
            token.name,
            token.prefix,
            token.role,
            token.created_at,
            token.expires_at,
            token.last_used_at,
            token.revoked_at,
        )


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is the plaintext, to be shown once and then forgotten."""

    token: str
    view: TokenView


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lower_role(a: str, b: str) -> str:
    """Return the less privileged of two roles (an unknown role counts as the lowest)."""
    if a not in ROLES:
        return a  # role_allows() refuses an unknown role everything
    if b not in ROLES:
        return b
    return a if ROLES.index(a) <= ROLES.index(b) else b


def create_token(
    db: Session,
    actor: Actor,
    owner: User,
    name: str,
    role: str,
    *,
    expires_in: timedelta | None = None,
    max_role: str | None = None,
) -> NewToken:
    """Make a token for ``owner`` and flush; the caller commits.

    ``role`` may not exceed the owner's role, nor ``max_role`` (the role of the caller when
    that is lower, e.g. a call made with a narrower token). Raise ValidationFailed naming the
    fields otherwise.
    """
    name = name.strip()
    errors: list[tuple[str, str]] = []
    if not name:
        errors.append(("name", "must not be empty (say what the token is for)"))
    elif len(name) > MAX_NAME:
        errors.append(("name", f"must be at most {MAX_NAME} characters"))
    if role not in ROLES:
        errors.append(("role", f'"{role}" is not a role (use {", ".join(ROLES)})'))
    else:
        ceiling = owner.role if max_role is None else lower_role(owner.role, max_role)
        if not role_allows(ceiling, role):
            whose = (
                f"the owner's role ({owner.role})"
                if ceiling == owner.role
                else f"your current role ({ceiling})"
            )
            errors.append(("role", f"may not exceed {whose}"))
    if expires_in is not None and expires_in <= timedelta(0):
        errors.append(("expires", "must be in the future"))
    elif expires_in is not None and expires_in > MAX_LIFETIME:
        errors.append(("expires", "must be at most 10 years away"))
    if owner.disabled:
        errors.append(("user", f'"{owner.username}" is disabled'))
    if errors:
        raise ValidationFailed("invalid token", errors)
    prefix = secrets.token_hex(4)
    plaintext = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        user_id=owner.id,
        name=name,
        prefix=prefix,
        token_hash=token_digest(plaintext),
        role=role,
        created_at=utcnow(),
        expires_at=utcnow() + expires_in if expires_in is not None else None,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor,
        "token.create",
        f"user/{owner.username}/token/{row.id}",
        {
            "name": name,
            "prefix": f"{TOKEN_PREFIX}{prefix}",
            "role": role,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        },
    )
    return NewToken(plaintext, TokenView.of(row, owner.username))


def list_tokens(db: Session, user_id: int, *, include_revoked: bool = False) -> list[TokenView]:
    """Return a user's tokens, newest first."""
    query = (
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [TokenView.of(t, owner) for t, owner in db.execute(query)]


def revoke_token(db: Session, actor: Actor, token_id: int, user_id: int) -> TokenView:
    """Revoke token ``token_id`` of user ``user_id``; raise NotFoundError if there is none.

    Revoking a revoked token again changes nothing.
    """
    row = db.get(ApiToken, token_id)
    owner = db.get(User, user_id)
    if row is None or owner is None or row.user_id != user_id:
        raise NotFoundError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            db,
            actor,
            "token.revoke",
            f"user/{owner.username}/token/{row.id}",
            {"name": row.name, "prefix": f"{TOKEN_PREFIX}{row.prefix}"},
        )
    return TokenView.of(row, owner.username)


def resolve_token(db: Session, token: str) -> SessionInfo | None:
    """Return who calls with ``token`` (None when unknown, malformed, expired, revoked, or
    its owner is disabled). Records ``last_used_at`` at most once a minute; the caller
    commits."""
    if not _TOKEN.match(token):
        return None
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    user = db.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now
    return SessionInfo(
        user.id, user.username, lower_role(row.role, user.role), "", "full", via_token=True
    )


# Service accounts


def create_service_account(
    db: Session, actor: Actor, username: str, role: str = "viewer", display_name: str = ""
) -> UserView:
    """Make a service account (no password; it signs in with tokens only) and flush."""
    errors: list[tuple[str, str]] = []
    if not valid_username(username):
        errors.append(("username", USERNAME_RULE))
    if role not in ROLES:
        errors.append(("role", f'"{role}" is not a role (use {", ".join(ROLES)})'))
    if len(display_name) > 200:
        errors.append(("display_name", "must be at most 200 characters"))
    if errors:
        raise ValidationFailed("invalid service account", errors)
    user = User(
        username=username,
        password_hash=None,
        role=role,
        kind="service",
        display_name=display_name.strip() or username,
    )
    try:
        with db.begin_nested():
            db.add(user)
    except IntegrityError:
        raise ConflictError(f'user "{username}" already exists') from None
    audit.record(
        db,
        actor,
        "user.create",
        f"user/{username}",
        {"kind": "service", "role": role, "display_name": user.display_name},
    )
    return UserView.of(user)


def list_service_accounts(db: Session) -> list[UserView]:
    return [
        UserView.of(u)
        for u in db.scalars(select(User).where(User.kind == "service").order_by(User.username))
    ]


def get_service_account(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username, User.kind == "service"))
    if user is None:
        raise NotFoundError(f'no service account "{username}"')
    return user
