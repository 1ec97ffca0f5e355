"""Training records: the sessions held (course, day, trainer, material link) and who
attended each. Recording and deleting a session is audited."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.store.tables import StoredObject, TrainingAttendance, TrainingSession
from watchkeeper.tasks.training_config import is_link

COURSE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,149}$")
MAX_ATTENDEES = 500


@dataclass(frozen=True)
class SessionView:
    """A session as pages, the API and the CLI show it."""

    id: int
    course: str
    title: str
    held_on: date
    trainer: str
    material_url: str
    notes: str
    attendees: tuple[str, ...]
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class NewSession:
    """What recording a session needs (``course``: the required training's name)."""

    course: str
    held_on: date
    attendees: Sequence[str]
    title: str = ""
    trainer: str = ""
    material_url: str = ""
    notes: str = ""


def _problems(new: NewSession) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not COURSE.match(new.course):
        problems.append(("course", "a course name: lower-case letters, digits, . _ -"))
    if len(new.title) > 200:
        problems.append(("title", "at most 200 characters"))
    if len(new.trainer) > 200:
        problems.append(("trainer", "at most 200 characters"))
    if len(new.notes) > 20_000:
        problems.append(("notes", "at most 20000 characters"))
    url = new.material_url.strip()
    if url and (len(url) > 2000 or not is_link(url)):
        problems.append(("material_url", "an http(s) URL or a path on this server"))
    people = [p.strip() for p in new.attendees if p.strip()]
    if not people:
        problems.append(("attendees", "name at least one person who attended"))
    elif len(people) > MAX_ATTENDEES:
        problems.append(("attendees", f"at most {MAX_ATTENDEES} people"))
    problems += [
        ("attendees", f'"{p}" is not a user or on-call person name')
        for p in people[:50]
        if not PERSON.match(p)
    ]
    return problems


def _view(db: Session, row: TrainingSession) -> SessionView:
    people = db.scalars(
        select(TrainingAttendance.username)
        .where(TrainingAttendance.session_id == row.id)
        .order_by(TrainingAttendance.username)
    )
    return SessionView(
        row.id,
        row.course,
        row.title,
        row.held_on,
        row.trainer,
        row.material_url,
        row.notes,
        tuple(people),
        row.recorded_by,
        row.recorded_at,
    )


def _course_title(db: Session, course: str) -> str:
    """The title the plan gives the required training ``course`` ("" when none)."""
    spec = db.scalar(
        select(StoredObject.spec).where(
            StoredObject.kind == "tasks.trainings", StoredObject.name == course
        )
    )
    return str((spec or {}).get("title", ""))


def record_session(db: Session, actor: Actor, new: NewSession) -> SessionView:
    """Record a session and its attendees (without a title: the required training's);
    audit. Raise ValidationFailed naming the fields. The caller commits."""
    problems = _problems(new)
    if problems:
        raise ValidationFailed("the training session is not valid", problems)
    people = sorted({p.strip() for p in new.attendees if p.strip()})
    title = new.title.strip() or _course_title(db, new.course) or new.course
    row = TrainingSession(
        course=new.course,
        title=title,
        held_on=new.held_on,
        trainer=new.trainer.strip(),
        material_url=new.material_url.strip(),
        notes=new.notes.strip(),
        recorded_by=actor.name,
    )
    db.add(row)
    db.flush()
    db.add_all(TrainingAttendance(session_id=row.id, username=p) for p in people)
    db.flush()
    audit.record(
        db,
        actor,
        "training.record",
        f"training/{row.course}/{row.id}",
        {"held_on": row.held_on.isoformat(), "attendees": people[:100], "trainer": row.trainer},
    )
    return _view(db, row)


def get_session(db: Session, session_id: int) -> SessionView:
    """Return the session ``session_id``; raise NotFoundError."""
    row = db.get(TrainingSession, session_id)
    if row is None:
        raise NotFoundError(f"no training session {session_id}")
    return _view(db, row)


def list_sessions(
    db: Session, course: str = "", person: str = "", limit: int = 200
) -> list[SessionView]:
    """Sessions, newest first, of one ``course`` and/or attended by ``person``."""
    query = select(TrainingSession).order_by(
        TrainingSession.held_on.desc(), TrainingSession.id.desc()
    )
    if course:
        query = query.where(TrainingSession.course == course)
    if person:
        query = query.where(
            TrainingSession.id.in_(
                select(TrainingAttendance.session_id).where(TrainingAttendance.username == person)
            )
        )
    return [_view(db, row) for row in db.scalars(query.limit(limit))]


def delete_session(db: Session, actor: Actor, session_id: int) -> None:
    """Delete a session recorded by mistake; audit. Raise NotFoundError."""
    found = get_session(db, session_id)
    db.execute(delete(TrainingAttendance).where(TrainingAttendance.session_id == session_id))
    db.execute(delete(TrainingSession).where(TrainingSession.id == session_id))
    audit.record(
        db,
        actor,
        "training.delete",
        f"training/{found.course}/{found.id}",
        {"held_on": found.held_on.isoformat(), "attendees": list(found.attendees)[:100]},
    )


def last_attended(db: Session) -> dict[tuple[str, str], date]:
    """``(person, course) -> the day of the latest session they attended``."""
    latest: dict[tuple[str, str], date] = {}
    rows = db.execute(
        select(TrainingAttendance.username, TrainingSession.course, TrainingSession.held_on).join(
            TrainingSession, TrainingSession.id == TrainingAttendance.session_id
        )
    )
    for person, course, held in rows:
        key = (person, course)
        if key not in latest or held > latest[key]:
            latest[key] = held
    return latest
