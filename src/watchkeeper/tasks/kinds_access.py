"""The access review: every enabled account (role, second factor, last sign-in) and every
live API token (owner, role, made, last used), with the stale ones (no sign-in or use in
``stale_after``, 90 days by default) pre-marked "revoke". The reviewer confirms or revokes
each; a revoked token fails at once, a revoked account is disabled (its sessions end and its
tokens stop working). Every decision is audited.

It is the task kind ``access_review`` and also the page ``/access-review`` for a review
outside any task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.accounts import update_user
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.mfa import has_second_factor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.tokens import TOKEN_PREFIX, revoke_token
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.store.tables import ApiToken, User
from watchkeeper.tasks.kinds import KindContext, TaskKind, WorkItem, register

DECISIONS = ("confirm", "revoke")
DEFAULT_STALE = timedelta(days=90)


class AccessReviewOptions(PlanModel):
    """Options of the ``access_review`` task kind."""

    stale_after: Duration = Field(
        DEFAULT_STALE,
        description="An account not signed in (a token not used) for this long is stale and "
        "pre-marked for revocation.",
    )


@dataclass(frozen=True)
class AccessEntry:
    """One line of the review: an account (``kind`` "user" or "service") or a token.
    ``last_used``: the last sign-in of a person, the last use of a token, or of a service
    account's newest-used token; ``mfa`` is None for tokens."""

    key: str
    kind: str
    name: str
    owner: str
    role: str
    mfa: bool | None
    created_at: datetime
    last_used: datetime | None
    expires_at: datetime | None
    stale: bool

    @property
    def label(self) -> str:
        if self.kind == "token":
            return f"token {self.name} of {self.owner}"
        return f"{'service account' if self.kind == 'service' else 'user'} {self.name}"

    def detail(self, now: datetime) -> str:
        parts = [f"role {self.role}"]
        if self.mfa is not None and self.kind == "user":
            parts.append("MFA" if self.mfa else "no MFA")
        verb = "signed in" if self.kind == "user" else "used"
        if self.last_used is None:
            parts.append(f"never {verb}")
        else:
            parts.append(f"{verb} {format_duration(now - self.last_used)} ago")
        parts.append(f"made {self.created_at:%Y-%m-%d}")
        if self.stale:
            parts.append("stale")
        return ", ".join(parts)

    def work_item(self, now: datetime) -> WorkItem:
        return WorkItem(
            self.key, self.label, self.detail(now), "revoke" if self.stale else "", "/access"
        )


def _stale(created: datetime, last: datetime | None, cutoff: datetime) -> bool:
    return (last or created) < cutoff


def review_entries(
    db: Session, now: datetime, stale_after: timedelta = DEFAULT_STALE
) -> list[AccessEntry]:
    """Every enabled account, then every live token (not revoked, not expired), by name."""
    cutoff = now - stale_after
    tokens = [
        (t, o)
        for t, o in db.execute(
            select(ApiToken, User.username)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.revoked_at.is_(None), User.disabled.is_(False))
            .order_by(User.username, ApiToken.name, ApiToken.id)
        )
        if t.expires_at is None or t.expires_at > now
    ]
    token_use: dict[str, datetime] = {}
    for token, owner in tokens:
        if token.last_used_at is not None:
            token_use[owner] = max(token_use.get(owner, token.last_used_at), token.last_used_at)
    entries: list[AccessEntry] = []
    for user in db.scalars(select(User).where(User.disabled.is_(False)).order_by(User.username)):
        service = user.kind == "service"
        last = token_use.get(user.username) if service else user.last_login_at
        entries.append(
            AccessEntry(
                key=f"user:{user.username}",
                kind="service" if service else "user",
                name=user.username,
                owner=user.username,
                role=user.role,
                mfa=None if service else has_second_factor(db, user.id),
                created_at=user.created_at,
                last_used=last,
                expires_at=None,
                stale=_stale(user.created_at, last, cutoff),
            )
        )
    for token, owner in tokens:
        entries.append(
            AccessEntry(
                key=f"token:{token.id}",
                kind="token",
                name=token.name,
                owner=owner,
                role=token.role,
                mfa=None,
                created_at=token.created_at,
                last_used=token.last_used_at,
                expires_at=token.expires_at,
                stale=_stale(token.created_at, token.last_used_at, cutoff),
            )
        )
    return entries


def _check(decisions: Mapping[str, str]) -> None:
    problems = [
        (f"decisions.{key}", f'"{value}" is not one of {", ".join(DECISIONS)}')
        for key, value in decisions.items()
        if value not in DECISIONS
    ]
    problems += [
        (f"decisions.{key}", "use user:<name> or token:<id>")
        for key in decisions
        if not key.startswith(("user:", "token:"))
    ]
    if problems:
        raise ValidationFailed("the decisions are not valid", problems)


def _may_revoke(db: Session, actor: Actor, role: str) -> None:
    """Revoking needs an enabled admin account and, when the call carries one, an admin
    effective role: an admin's token scoped to responder may not revoke."""
    stored = db.scalar(
        select(User.role).where(User.username == actor.name, User.disabled.is_(False))
    )
    for have in (stored, role or stored):
        if have is None or not role_allows(have, "admin"):
            raise ConflictError(
                f"revoking access needs the admin role; {actor.name} acts as {have or 'unknown'}"
            )


def _revoke(db: Session, key: str, actor: Actor) -> str:
    kind, _, ident = key.partition(":")
    if kind == "user":
        try:
            update_user(db, actor, ident, {"disabled": True})
        except NotFoundError:
            return f"user {ident}: no longer exists"
        except ConflictError as exc:
            return f"user {ident}: kept ({exc})"
        return f"disabled user {ident}"
    token = db.get(ApiToken, int(ident)) if ident.isdigit() else None
    if token is None:
        return f"token {ident}: no longer exists"
    view = revoke_token(db, actor, token.id, token.user_id)
    return f"revoked token {view.name} ({TOKEN_PREFIX}{view.prefix}) of {view.owner}"


def apply_decisions(
    db: Session,
    decisions: Mapping[str, str],
    actor: Actor,
    reference: str = "",
    *,
    role: str = "",
) -> list[str]:
    """Apply ``decisions`` (``user:<name>`` or ``token:<id>`` → ``confirm`` or ``revoke``);
    return one sentence per revocation and one for the confirmations. Revoking needs an
    admin ``actor`` acting with an admin ``role`` (its effective role, when the call
    carries one). Audit each change, and the review itself (``access.review``) with
    ``reference`` (a task instance). Raise ValidationFailed for a bad decision or key,
    ConflictError when a non-admin revokes. The caller commits."""
    _check(decisions)
    revoke = sorted(k for k, v in decisions.items() if v == "revoke")
    confirm = sorted(k for k, v in decisions.items() if v == "confirm")
    if revoke:
        _may_revoke(db, actor, role)
    applied = [_revoke(db, key, actor) for key in revoke]
    if confirm:
        applied.append(f"confirmed {len(confirm)} account(s) and token(s)")
    audit.record(
        db,
        actor,
        "access.review",
        reference or "access",
        {"confirmed": confirm[:200], "revoked": revoke[:200], "outcome": applied[:50]},
    )
    return applied


def _prepare(db: Session, context: KindContext) -> list[WorkItem]:
    options: AccessReviewOptions = context.options
    return [e.work_item(context.now) for e in review_entries(db, context.now, options.stale_after)]


def _apply(db: Session, context: KindContext, chosen: dict[str, str], actor: Actor) -> list[str]:
    return apply_decisions(
        db, chosen, actor, f"task/{context.task}/{context.instance_id}", role=context.role
    )


KIND = register(
    TaskKind(
        name="access_review",
        description="Every account and API token with its role, MFA and last use; stale "
        "ones pre-marked; revocations applied (tokens fail at once, accounts disabled).",
        prepare=_prepare,
        apply=_apply,
        options_model=AccessReviewOptions,
        decisions=DECISIONS,
    )
)
