"""Who must attend which training (``tasks.trainings``), and each person's standing in it:
current, expiring (within ``warn_before`` of its expiry), expired, or missing (never
attended). Also a new member's onboarding checklist, generated from their teams, role and
on-call schedules.

People are the enabled people with an account and the members of the plan's on-call
schedules (who may have no account).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Literal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth.mfa import has_second_factor, mfa_required
from watchkeeper.auth.roles import role_allows
from watchkeeper.exceptions import NotFoundError
from watchkeeper.incidents.plan import load_oncall
from watchkeeper.store.tables import StoredObject, Team, TeamMember, User
from watchkeeper.tasks.training import last_attended
from watchkeeper.tasks.training_config import RequiredTraining

log = logging.getLogger(__name__)
KIND = "tasks.trainings"
State = Literal["current", "expiring", "expired", "missing"]


def load_trainings(db: Session) -> list[RequiredTraining]:
    """The plan's required trainings whose stored spec validates (others are logged)."""
    found: list[RequiredTraining] = []
    for obj in db.scalars(
        select(StoredObject).where(StoredObject.kind == KIND).order_by(StoredObject.id)
    ):
        try:
            found.append(RequiredTraining.model_validate(obj.spec))
        except ValidationError as exc:
            log.error(
                "training %s: stored spec is invalid (%d problem(s))", obj.name, exc.error_count()
            )
    return found


@dataclass
class Person:
    """Someone trainings may apply to: their role (empty without an account), teams and
    on-call schedules."""

    name: str
    role: str = ""
    teams: set[str] = field(default_factory=set)
    schedules: set[str] = field(default_factory=set)

    def in_audience(self, audience: str) -> bool:
        kind, _, value = audience.partition(":")
        if kind == "everyone":
            return True
        if kind == "team":
            return value in self.teams
        if kind == "role":
            return bool(self.role) and role_allows(self.role, value)
        return value in self.schedules

    def required(self, trainings: Iterable[RequiredTraining]) -> list[RequiredTraining]:
        return [t for t in trainings if any(self.in_audience(a) for a in t.required_for)]


def people(db: Session) -> dict[str, Person]:
    """Every enabled person with an account and every on-call schedule member, by name."""
    found: dict[str, Person] = {}
    for name, role in db.execute(
        select(User.username, User.role).where(User.disabled.is_(False), User.kind == "human")
    ):
        found[name] = Person(name, role)
    for team, name in db.execute(
        select(Team.name, User.username)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .join(User, User.id == TeamMember.user_id)
        .where(User.disabled.is_(False), User.kind == "human")
    ):
        found[name].teams.add(team)
    for schedule in load_oncall(db).schedules:
        for layer in schedule.layers:
            for member in layer.members:
                found.setdefault(member, Person(member)).schedules.add(schedule.name)
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class Standing:
    """A person's standing in a required training."""

    person: str
    training: str
    state: State
    attended: date | None
    expires: date | None


def expiry_of(training: RequiredTraining, attended: date) -> date | None:
    return attended + training.valid_for if training.valid_for is not None else None


def standing(
    person: str, training: RequiredTraining, attended: date | None, now: datetime
) -> Standing:
    """The standing of ``person`` in ``training`` given the day they last attended it."""
    if attended is None:
        return Standing(person, training.name, "missing", None, None)
    expires = expiry_of(training, attended)
    state: State = "current"
    if expires is not None:
        at = datetime.combine(expires, time(0), UTC)
        if at <= now:
            state = "expired"
        elif at - training.warn_before <= now:
            state = "expiring"
    return Standing(person, training.name, state, attended, expires)


@dataclass(frozen=True)
class Matrix:
    """People (rows) × required trainings (columns); ``cells[person][training]`` is None
    where the training does not apply to the person."""

    trainings: list[RequiredTraining]
    people: list[Person]
    cells: dict[str, dict[str, Standing | None]]

    def count(self, state: State) -> int:
        return sum(
            1
            for row in self.cells.values()
            for cell in row.values()
            if cell and cell.state == state
        )


def matrix(db: Session, now: datetime) -> Matrix:
    """Everyone some training applies to, with their standing in each."""
    trainings = load_trainings(db)
    latest = last_attended(db)
    rows: list[Person] = []
    cells: dict[str, dict[str, Standing | None]] = {}
    for person in people(db).values():
        required = {t.name for t in person.required(trainings)}
        if not required:
            continue
        rows.append(person)
        cells[person.name] = {
            t.name: standing(person.name, t, latest.get((person.name, t.name)), now)
            if t.name in required
            else None
            for t in trainings
        }
    return Matrix(trainings, rows, cells)


@dataclass(frozen=True)
class Step:
    """One line of an onboarding checklist; ``link`` where to do it."""

    text: str
    done: bool
    link: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Onboarding:
    person: Person
    steps: list[Step]

    @property
    def left(self) -> int:
        return sum(1 for s in self.steps if not s.done)


def onboarding(db: Session, name: str, now: datetime) -> Onboarding:
    """The onboarding checklist of ``name``: a second factor when their role requires one,
    each required training marked ``onboarding`` (done while current), and for on-call
    members their contact rules in ``oncall.people``. Raise NotFoundError."""
    person = people(db).get(name)
    if person is None:
        raise NotFoundError(f'no enabled person or on-call member named "{name}"')
    steps: list[Step] = []
    user = db.scalar(select(User).where(User.username == name))
    if user is not None and mfa_required(db, user.role):
        steps.append(
            Step(
                "Set up a second factor (required for the role " + user.role + ")",
                has_second_factor(db, user.id),
                "/account",
            )
        )
    latest = last_attended(db)
    for training in person.required(load_trainings(db)):
        if not training.onboarding:
            continue
        got = standing(name, training, latest.get((name, training.name)), now)
        detail = (f"attended {got.attended:%Y-%m-%d}" if got.attended else "not attended yet") + (
            f", expires {got.expires:%Y-%m-%d}" if got.expires else ""
        )
        steps.append(
            Step(
                f"Attend “{training.title}”",
                got.state in ("current", "expiring"),
                training.material,
                detail,
            )
        )
    if person.schedules:
        directory = {p.name: p for p in load_oncall(db).people}
        entry = directory.get(name)
        steps.append(
            Step(
                "Add contact rules to oncall.people (on call in "
                + ", ".join(sorted(person.schedules))
                + ")",
                entry is not None and bool(entry.contact),
                "/incidents/directory",
            )
        )
    return Onboarding(person, steps)
