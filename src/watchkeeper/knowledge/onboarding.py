"""Onboarding: the first-run tour (a first check, an alert channel, a backup: each step
done once the plan has one) and what a new team member should read first (their teams,
the on-call schedules and escalation policies they are part of, their teams' services and
those services' runbooks).

The starter objects of the tour are also what the object editor opens with
(``/objects/<kind>/new``), so the tour's links land on a ready snippet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.teams import teams_of
from watchkeeper.exceptions import NotFoundError
from watchkeeper.incidents import overrides
from watchkeeper.incidents.oncall_config import EscalationPolicy, Schedule
from watchkeeper.incidents.plan import load_oncall
from watchkeeper.incidents.policies import describe
from watchkeeper.incidents.schedules import OnCallNow, Shift
from watchkeeper.knowledge.generated.architecture import load_services
from watchkeeper.knowledge.runbook_links import named_slug
from watchkeeper.knowledge.runbooks import RunbookExport, all_for_export
from watchkeeper.plan.catalog import count_by_kind
from watchkeeper.releases.config import Service
from watchkeeper.store.tables import User, utcnow

STARTERS: dict[str, str] = {
    "checks": "name: my-service\ntype: http\nurl: https://my-service.example.com/health\n"
    "interval: 1m\n",
    "notifications.channels": "name: ops-email\ntype: email\nto: [ops@example.com]\n"
    "from: watchkeeper@example.com\nhost: smtp.example.com\n",
    "backups.repositories": "name: local\nurl: /var/backups/restic\n"
    "password: replace-with-a-long-random-passphrase\n",
    "backups.policies": "name: app-files\nsource:\n  type: files\n  paths: [/srv/app]\n"
    "repositories: [local]\nschedule: 0 2 * * *\n",
}
"""Objects the editor starts from, by kind: valid as they are, to be adapted."""
SHIFTS_AHEAD = timedelta(days=28)


def plan_snippet(*kinds: str) -> str:
    """The starters of ``kinds`` as they would sit in ``watchkeeper.yaml``."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for kind in kinds:
        section, _, collection = kind.partition(".")
        sections.setdefault(section, []).append((collection, STARTERS[kind]))
    out = []
    for section, items in sections.items():
        out.append(f"{section}:")
        for collection, text in items:
            indent = "  " if collection else ""
            if collection:
                out.append(f"  {collection}:")
            for i, line in enumerate(text.rstrip("\n").splitlines()):
                out.append(f"{indent}  {'- ' if i == 0 else '  '}{line}")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class TourStep:
    key: str
    title: str
    why: str
    done: bool
    links: tuple[tuple[str, str], ...]  # (label, editor page)
    snippet: str  # the same, for the plan file


@dataclass(frozen=True)
class Tour:
    steps: tuple[TourStep, ...]

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps if s.done)

    @property
    def complete(self) -> bool:
        return self.done == len(self.steps)


def first_run_tour(db: Session) -> Tour:
    """The three first steps and whether the plan (file or UI) has done each."""
    counts = {kind: total for kind, (total, _) in count_by_kind(db).items()}
    has_repo = counts.get("backups.repositories", 0) > 0
    backup_links = (
        (("Declare a backup policy", "/objects/backups.policies/new"),)
        if has_repo
        else (
            ("1. a repository", "/objects/backups.repositories/new"),
            ("2. a policy", "/objects/backups.policies/new"),
        )
    )
    return Tour(
        (
            TourStep(
                "check",
                "Declare a first check",
                "An HTTP, TCP or TLS check of a service you run: its state, uptime and "
                "response time from the first minute.",
                counts.get("checks", 0) > 0,
                (("Write a check", "/objects/checks/new"),),
                plan_snippet("checks"),
            ),
            TourStep(
                "channel",
                "Add an alert channel",
                "Where alerts and pages go: e-mail, chat, a webhook or a pager.",
                counts.get("notifications.channels", 0) > 0,
                (("Add a channel", "/objects/notifications.channels/new"),),
                plan_snippet("notifications.channels"),
            ),
            TourStep(
                "backup",
                "Back something up",
                "A restic repository and a policy: scheduled, encrypted backups, proven by "
                "automated restore drills.",
                counts.get("backups.policies", 0) > 0,
                backup_links,
                plan_snippet("backups.repositories", "backups.policies"),
            ),
        )
    )


@dataclass(frozen=True)
class ScheduleMembership:
    schedule: Schedule
    layers: tuple[str, ...]  # the rotations they are in ("" names: "layer 1")
    now: OnCallNow
    shifts: tuple[Shift, ...]  # theirs, in the next four weeks
    username: str

    @property
    def on_call_now(self) -> bool:
        return self.now.person == self.username


@dataclass(frozen=True)
class PolicyMembership:
    policy: EscalationPolicy
    why: str  # "directly at step 1", "through schedule primary at step 2"
    steps: tuple[str, ...]  # the policy in words


@dataclass(frozen=True)
class MemberOverview:
    username: str
    display_name: str
    role: str
    person: str | None  # their full name in oncall.people (None: not in it)
    teams: tuple[str, ...]
    schedules: tuple[ScheduleMembership, ...]
    policies: tuple[PolicyMembership, ...]
    services: tuple[Service, ...]
    runbooks: tuple[RunbookExport, ...]
    services_problem: str = ""


def _layer_names(schedule: Schedule, username: str) -> tuple[str, ...]:
    return tuple(
        layer.name or f"layer {i + 1}"
        for i, layer in enumerate(schedule.layers)
        if username in layer.members
    )


def _why(policy: EscalationPolicy, username: str, schedules: set[str]) -> str:
    reasons = []
    for number, step in enumerate(policy.steps, 1):
        for target in step.notify:
            if target.person == username:
                reasons.append(f"directly at step {number}")
            elif target.schedule in schedules:
                reasons.append(f"through schedule {target.schedule} at step {number}")
    return "; ".join(dict.fromkeys(reasons))


def _runbooks_of(
    services: list[Service], runbooks: list[RunbookExport]
) -> tuple[RunbookExport, ...]:
    """The runbooks that name one of ``services``, or that one of them names."""
    names = {s.name for s in services}
    named = {named_slug(r) for s in services for r in s.runbooks}
    return tuple(r for r in runbooks if names.intersection(r.services) or r.slug in named)


def member_overview(db: Session, username: str, now: datetime | None = None) -> MemberOverview:
    """What ``username`` is part of; raise NotFoundError when there is no such user."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f'there is no user "{username}"')
    now = now or utcnow()
    oncall = load_oncall(db)
    people = {p.name: p.full_name for p in oncall.people}
    shifts = overrides.person_shifts(db, username, now, now + SHIFTS_AHEAD)
    memberships = []
    for schedule in oncall.schedules:
        layers = _layer_names(schedule, username)
        mine = tuple(s for name, s in shifts if name == schedule.name)
        if not layers and not mine:
            continue
        memberships.append(
            ScheduleMembership(
                schedule, layers, overrides.now_and_next(db, schedule, now), mine, username
            )
        )
    in_schedules = {m.schedule.name for m in memberships}
    policies = []
    for policy in oncall.escalation_policies:
        why = _why(policy, username, in_schedules)
        if why:
            policies.append(PolicyMembership(policy, why, tuple(describe(policy, people))))
    teams = teams_of(db, user.id)
    services, problem = load_services(db)
    theirs = [s for s in services if s.team and s.team in teams]
    return MemberOverview(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        person=(people[username] or username) if username in people else None,
        teams=tuple(teams),
        schedules=tuple(memberships),
        policies=tuple(policies),
        services=tuple(theirs),
        runbooks=_runbooks_of(theirs, all_for_export(db)),
        services_problem=problem,
    )
