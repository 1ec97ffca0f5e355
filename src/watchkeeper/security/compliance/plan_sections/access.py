"""Access: every enabled person whose role ``access.require_mfa`` names has a second factor
(a confirmed TOTP app or a security key), and no enabled admin is locked out by failed
sign-ins or stale (no sign-in for ``compliance.plan_status.stale_admin_after``; never
signed in counts from when the account was made). Service accounts sign in with tokens
only and are left out."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.throttle import is_locked
from watchkeeper.plan.models import AccessSection
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    declared,
    load_section,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import TotpCredential, User, WebAuthnCredential

LINK = "/access#users"


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "access"):
        return not_in_plan("access")
    section = load_section(db, "access", AccessSection)
    need_mfa = set(section.require_mfa)
    users = list(
        db.scalars(
            select(User)
            .where(User.disabled.is_(False), User.kind == "human")
            .order_by(User.username)
        )
    )
    with_factor = set(
        db.scalars(select(TotpCredential.user_id).where(TotpCredential.confirmed.is_(True)))
    ) | set(db.scalars(select(WebAuthnCredential.user_id)))
    tally = Tally("access")
    without = admins = 0
    stale_after = live.settings.stale_admin_after
    for user in users:
        if user.role not in need_mfa and user.role != "admin":
            continue
        problems = []
        if user.role in need_mfa and user.id not in with_factor:
            without += 1
            problems.append(f"no second factor, which role {user.role} requires")
        if user.role == "admin":
            admins += 1
            if is_locked(db, user.username):
                problems.append("locked out by failed sign-ins")
            seen = user.last_login_at or user.created_at
            if live.now - seen > stale_after:
                when = "signed in" if user.last_login_at else "made, never signed in"
                problems.append(f"stale: {when} {span(live.now - seen)} ago")
        if problems:
            tally.failed("user", user.username, "; ".join(problems), LINK)
        else:
            tally.passed()
    if need_mfa:
        tally.say(
            f"MFA required for {', '.join(sorted(need_mfa))}: "
            f"{plural(without, 'user')} without a second factor."
        )
    tally.say(f"{plural(admins, 'enabled admin')}.")
    return tally.result()
