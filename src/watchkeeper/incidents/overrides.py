"""On-call overrides ("I cover Tuesday") in the store, and who is on call now.

Adding and deleting an override is recorded in the audit trail in the caller's
transaction; the caller commits. :func:`who_is_on_call` is what escalation asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.incidents import schedules
from watchkeeper.incidents.oncall_config import OncallSection, Schedule
from watchkeeper.incidents.plan import load_oncall
from watchkeeper.store.tables import OncallOverride, utcnow

MAX_LENGTH = timedelta(days=90)
MAX_NOTE = 500
MAX_NAME = 128


@dataclass(frozen=True)
class OverrideView:
    id: int
    schedule: str
    person: str
    starts_at: datetime
    ends_at: datetime
    note: str
    created_by: str
    created_at: datetime


def _view(row: OncallOverride) -> OverrideView:
    return OverrideView(
        id=row.id,
        schedule=row.schedule,
        person=row.person,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def find_schedule(oncall: OncallSection, name: str) -> Schedule | None:
    """Return the plan's schedule called ``name``, or None."""
    return next((s for s in oncall.schedules if s.name == name), None)


def check_override(
    oncall: OncallSection,
    *,
    schedule: str,
    person: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    note: str = "",
    now: datetime | None = None,
) -> list[tuple[str, str]]:
    """Return every problem of a new override as ``(field, message)``: the fields are
    ``schedule``, ``person``, ``starts_at``, ``ends_at`` and ``note``."""
    errors: list[tuple[str, str]] = []
    if find_schedule(oncall, schedule) is None:
        known = ", ".join(s.name for s in oncall.schedules) or "none"
        errors.append(("schedule", f'no schedule "{schedule}" in the plan (known: {known})'))
    if not person.strip():
        errors.append(("person", "name the person who covers"))
    elif person not in {p.name for p in oncall.people}:
        errors.append(("person", f'"{person}" is not in the plan\'s oncall.people'))
    if starts_at is None:
        errors.append(("starts_at", "give a start time"))
    elif starts_at.tzinfo is None:
        errors.append(("starts_at", "give a time zone (e.g. 2026-01-31T09:00:00Z)"))
    if ends_at is None:
        errors.append(("ends_at", "give an end time"))
    elif ends_at.tzinfo is None:
        errors.append(("ends_at", "give a time zone (e.g. 2026-01-31T17:00:00Z)"))
    elif starts_at is not None and starts_at.tzinfo is not None:
        if ends_at <= starts_at:
            errors.append(("ends_at", "must be after the start"))
        elif ends_at - starts_at > MAX_LENGTH:
            errors.append(("ends_at", "an override lasts at most 90 days"))
        elif ends_at <= (now or utcnow()):
            errors.append(("ends_at", "is in the past"))
    if len(note) > MAX_NOTE:
        errors.append(("note", f"must be at most {MAX_NOTE} characters"))
    return errors


def add_override(
    db: Session,
    actor: Actor,
    *,
    schedule: str,
    person: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    note: str = "",
    now: datetime | None = None,
) -> OverrideView:
    """Record that ``person`` covers ``schedule`` from ``starts_at`` to ``ends_at``.

    Raise ValidationFailed naming every bad field (see :func:`check_override`)."""
    now = now or utcnow()
    person, note = person.strip(), note.strip()
    errors = check_override(
        load_oncall(db),
        schedule=schedule,
        person=person,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note,
        now=now,
    )
    if errors:
        raise ValidationFailed("the override is not valid", errors)
    assert starts_at is not None and ends_at is not None
    row = OncallOverride(
        schedule=schedule,
        person=person,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note,
        created_by=actor.name[:MAX_NAME],
        created_at=now,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor,
        "oncall.override.add",
        f"oncall/{schedule}/override/{row.id}",
        {
            "schedule": schedule,
            "person": person,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "note": note,
        },
    )
    return _view(row)


def get_override(db: Session, override_id: int) -> OverrideView:
    """Return one override; raise NotFoundError if there is none with that id."""
    row = db.get(OncallOverride, override_id)
    if row is None:
        raise NotFoundError(f"no on-call override {override_id}")
    return _view(row)


def list_overrides(
    db: Session, schedule: str, start: datetime | None = None, end: datetime | None = None
) -> list[OverrideView]:
    """Return the overrides of ``schedule`` overlapping ``[start, end)`` (open sides: no
    bound), oldest first: where two overlap, the later one wins."""
    query = select(OncallOverride).where(OncallOverride.schedule == schedule)
    if start is not None:
        query = query.where(OncallOverride.ends_at > start)
    if end is not None:
        query = query.where(OncallOverride.starts_at < end)
    query = query.order_by(OncallOverride.created_at, OncallOverride.id)
    return [_view(r) for r in db.scalars(query)]


def delete_override(db: Session, actor: Actor, override_id: int) -> OverrideView:
    """Delete an override; raise NotFoundError if there is none with that id."""
    row = db.get(OncallOverride, override_id)
    if row is None:
        raise NotFoundError(f"no on-call override {override_id}")
    view = _view(row)
    db.delete(row)
    db.flush()
    audit.record(
        db,
        actor,
        "oncall.override.delete",
        f"oncall/{view.schedule}/override/{view.id}",
        {
            "schedule": view.schedule,
            "person": view.person,
            "starts_at": view.starts_at.isoformat(),
            "ends_at": view.ends_at.isoformat(),
        },
    )
    return view


def who_is_on_call(db: Session, schedule_name: str, at: datetime) -> list[str]:
    """Return who is on call in ``schedule_name`` at ``at`` (overrides included): one
    name, or an empty list in a gap or when the plan has no such schedule."""
    schedule = find_schedule(load_oncall(db), schedule_name)
    if schedule is None:
        return []
    found = list_overrides(db, schedule_name, at, at + timedelta(microseconds=1))
    return schedules.oncall_at(schedule, found, at)


def oncall_now(db: Session, at: datetime | None = None) -> dict[str, list[str]]:
    """Return ``{schedule name: who is on call at at}`` for every schedule of the plan."""
    at = at or utcnow()
    return {
        s.name: schedules.oncall_at(
            s, list_overrides(db, s.name, at, at + timedelta(microseconds=1)), at
        )
        for s in load_oncall(db).schedules
    }


@dataclass(frozen=True)
class LayerCalendar:
    index: int
    name: str
    rotation: str
    members: list[str]
    shifts: list[schedules.Shift]


@dataclass(frozen=True)
class ScheduleCalendar:
    """One schedule over a range: each layer's shifts, the final shifts, gaps, holidays
    and the overrides that touch the range."""

    schedule: Schedule
    start: datetime
    end: datetime
    layers: list[LayerCalendar]
    final: list[schedules.Shift]
    gaps: list[tuple[datetime, datetime]]
    holidays: list[date]
    overrides: list[OverrideView]


def schedule_calendar(
    db: Session, schedule: Schedule, start: datetime, end: datetime
) -> ScheduleCalendar:
    """Return ``schedule`` computed over ``[start, end)`` with its stored overrides."""
    found = list_overrides(db, schedule.name, start, end)
    final = schedules.final_shifts(schedule, found, start, end)
    return ScheduleCalendar(
        schedule=schedule,
        start=start,
        end=end,
        layers=[
            LayerCalendar(
                i,
                schedules.layer_name(schedule, i),
                layer.rotation,
                list(layer.members),
                schedules.layer_shifts(schedule, i, start, end),
            )
            for i, layer in enumerate(schedule.layers)
        ],
        final=final,
        gaps=schedules.gaps_of(final, start, end),
        holidays=schedules.holidays_in(schedule, start, end),
        overrides=found,
    )


def now_and_next(db: Session, schedule: Schedule, at: datetime) -> schedules.OnCallNow:
    """Return who is on call in ``schedule`` at ``at``, until when, and who is next."""
    found = list_overrides(db, schedule.name, at, at + timedelta(days=93))
    return schedules.now_and_next(schedule, found, at)


def person_shifts(
    db: Session, person: str, start: datetime, end: datetime
) -> list[tuple[str, schedules.Shift]]:
    """Return ``(schedule name, shift)`` for every final shift of ``person`` within
    ``[start, end)``, over all schedules of the plan."""
    out: list[tuple[str, schedules.Shift]] = []
    for schedule in load_oncall(db).schedules:
        found = list_overrides(db, schedule.name, start, end)
        out += [
            (schedule.name, s)
            for s in schedules.final_shifts(schedule, found, start, end)
            if s.person == person
        ]
    return sorted(out, key=lambda e: (e[1].start, e[0]))
