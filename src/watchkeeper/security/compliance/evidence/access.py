"""Evidence from the accounts: second factors of privileged users, and accounts nobody
has used for a long time — read from the ``users``, second-factor and API-token tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.mfa import has_second_factor
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    evidence_query,
    verdict,
    when,
)
from watchkeeper.store.tables import ApiToken, User

Role = Literal["viewer", "responder", "operator", "admin"]


class MfaParams(EvidenceParams):
    roles: list[Role] = Field(
        default_factory=lambda: list[Role](["admin"]),
        description="Roles whose users need a second factor.",
    )


class StaleParams(EvidenceParams):
    inactive_for: Duration = Field(
        timedelta(days=90), description="An account unused for longer than this is stale."
    )
    service_accounts: bool = Field(
        True, description="Also judge service accounts, by the last use of their API tokens."
    )


@evidence_query("admins_have_mfa", MfaParams)
def admins_have_mfa(db: Session, params: MfaParams, now: datetime) -> Evidence:
    """Every enabled person with one of ``roles`` has a confirmed TOTP app or a registered
    security key. Service accounts sign in with API tokens only and are not counted."""
    users = list(
        db.scalars(
            select(User)
            .where(User.role.in_(params.roles), User.kind == "human", User.disabled.is_(False))
            .order_by(User.username)
        )
    )
    roles = "/".join(params.roles)
    if not users:
        return Evidence("unknown", f"There is no enabled {roles} user to judge.")
    facts = [
        Fact(u.username, "pass", f"{u.role}, second factor set up")
        if has_second_factor(db, u.id)
        else Fact(u.username, "fail", f"{u.role} without a second factor")
        for u in users
    ]
    with_mfa = sum(1 for f in facts if f.status == "pass")
    summary = f"{roles.capitalize()} users with a second factor: {with_mfa} of {len(users)}"
    missing = [f.subject for f in facts if f.status == "fail"]
    if missing:
        summary += f"; without: {', '.join(missing[:5])}" + (" …" if len(missing) > 5 else "")
    return Evidence(verdict(facts), summary + ".", tuple(facts))


def _service_last_use(db: Session, user: User, now: datetime) -> datetime | None:
    """The last use of a service account's live tokens (None: never used, or none live)."""
    uses = db.scalars(
        select(ApiToken.last_used_at).where(
            ApiToken.user_id == user.id,
            ApiToken.revoked_at.is_(None),
            (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now),
        )
    )
    found = [u for u in uses if u is not None]
    return max(found) if found else None


@evidence_query("no_stale_accounts", StaleParams)
def no_stale_accounts(db: Session, params: StaleParams, now: datetime) -> Evidence:
    """No enabled account went unused for longer than ``inactive_for``: people by their last
    sign-in, service accounts by the last use of their API tokens. An account made more
    recently than that is not stale yet."""
    cutoff = now - params.inactive_for
    query = select(User).where(User.disabled.is_(False)).order_by(User.username)
    if not params.service_accounts:
        query = query.where(User.kind == "human")
    users = list(db.scalars(query))
    if not users:
        return Evidence("unknown", "There is no enabled account to judge.")
    facts = []
    for user in users:
        service = user.kind == "service"
        last = _service_last_use(db, user, now) if service else user.last_login_at
        what = "token used" if service else "signed in"
        if (last is not None and last >= cutoff) or (last is None and user.created_at >= cutoff):
            facts.append(Fact(user.username, "pass", f"last {what} {when(last)}"))
        else:
            facts.append(
                Fact(
                    user.username,
                    "fail",
                    f"{'service account' if service else user.role}, last {what} {when(last)} "
                    f"(created {when(user.created_at)})",
                )
            )
    stale = [f.subject for f in facts if f.status == "fail"]
    summary = (
        f"Enabled accounts used in the last {format_duration(params.inactive_for)}: "
        f"{len(users) - len(stale)} of {len(users)}"
    )
    if stale:
        summary += f"; stale: {', '.join(stale[:5])}" + (" …" if len(stale) > 5 else "")
    return Evidence(verdict(facts), summary + ".", tuple(facts))
