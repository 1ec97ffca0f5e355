"""The recurring tasks as stored (from the plan or made in the UI), and the instances made
for their occurrences: one per occurrence, never two (a unique key on task and occurrence
time), so every replica may run a pass and a restart repeats nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError
from watchkeeper.plan.stored import SETTINGS_KIND
from watchkeeper.store.tables import StoredObject, TaskInstance
from watchkeeper.tasks.config import TaskSpec
from watchkeeper.tasks.kinds import KindContext, KindError, get_kind, options_of

log = logging.getLogger(__name__)
KIND = "tasks.tasks"
DEFAULT_CATCH_UP = 3


@dataclass(frozen=True)
class StoredTask:
    """A task's spec, when it was added (no instance for an earlier occurrence) and whether
    the plan file manages it (else it was made in the UI)."""

    spec: TaskSpec
    added_at: datetime
    managed: bool

    @property
    def name(self) -> str:
        return self.spec.name


def _stored(obj: StoredObject) -> StoredTask | None:
    try:
        spec = TaskSpec.model_validate(obj.spec)
    except ValidationError as exc:
        log.error("task %s: stored spec is invalid (%d problem(s))", obj.name, exc.error_count())
        return None
    return StoredTask(spec, obj.created_at, obj.managed)


def load_tasks(db: Session) -> list[StoredTask]:
    """Every task whose stored spec validates, by name (an invalid one is logged)."""
    rows = db.scalars(
        select(StoredObject).where(StoredObject.kind == KIND).order_by(StoredObject.name)
    )
    return [t for t in (_stored(o) for o in rows) if t is not None]


def get_task(db: Session, name: str) -> StoredTask:
    """Return the task ``name``; raise NotFoundError."""
    obj = db.scalar(
        select(StoredObject).where(StoredObject.kind == KIND, StoredObject.name == name)
    )
    found = _stored(obj) if obj is not None else None
    if found is None:
        raise NotFoundError(f'no task named "{name}"')
    return found


def catch_up_limit(db: Session) -> int:
    spec = db.scalar(
        select(StoredObject.spec).where(
            StoredObject.kind == SETTINGS_KIND, StoredObject.name == "tasks"
        )
    )
    value = (spec or {}).get("catch_up", DEFAULT_CATCH_UP)
    return int(value) if isinstance(value, int) else DEFAULT_CATCH_UP


def resolve_owner(db: Session, rule: str, at: datetime) -> str:
    """Who owns an instance made at ``at``: the user or ``team:<name>`` the rule names, or
    for ``oncall:<schedule>`` whoever is on call then ("" in a gap: anyone)."""
    if not rule.startswith("oncall:"):
        return rule
    from watchkeeper.incidents.overrides import who_is_on_call

    people = who_is_on_call(db, rule.split(":", 1)[1], at)
    return people[0] if people else ""


def _last_occurrence(db: Session, task: str) -> datetime | None:
    found: datetime | None = db.scalar(
        select(func.max(TaskInstance.occurrence_at)).where(TaskInstance.task == task)
    )
    return found


def previous_occurrence(db: Session, task: str, before: datetime) -> datetime | None:
    """The occurrence of ``task``'s instance before ``before`` (the period an instance
    covers starts there), or None for its first."""
    found: datetime | None = db.scalar(
        select(func.max(TaskInstance.occurrence_at)).where(
            TaskInstance.task == task, TaskInstance.occurrence_at < before
        )
    )
    return found


def _prepare(
    db: Session, task: TaskSpec, row: TaskInstance, since: datetime | None, now: datetime
) -> None:
    """Fill the instance's worklist from its kind; a failure is recorded, not raised."""
    try:
        kind = get_kind(task.kind)
        context = KindContext(
            task=task.name,
            instance_id=row.id,
            occurrence_at=row.occurrence_at,
            due_at=row.due_at,
            since=since,
            options=options_of(kind, task.options),
            now=now,
        )
        with db.begin_nested():
            row.worklist = [item.to_json() for item in kind.prepare(db, context)]
    except (KindError, ValidationError) as exc:
        row.applied = [f"could not prepare the worklist: {exc}"]
    except Exception as exc:  # a broken kind must not stop the other tasks
        log.exception(
            "task %s: kind %s failed to prepare instance %d", task.name, task.kind, row.id
        )
        row.applied = [f"could not prepare the worklist: {type(exc).__name__}"]


def make_due(
    db: Session, now: datetime, tasks: list[StoredTask] | None = None, catch_up: int | None = None
) -> list[TaskInstance]:
    """Make the instances of every enabled task whose occurrences came since its last
    instance (or since it was added), at most ``catch_up`` per task (the latest); return
    them. An instance that exists already is left alone. The caller commits."""
    made: list[TaskInstance] = []
    limit = catch_up or catch_up_limit(db)
    for task in tasks if tasks is not None else load_tasks(db):
        spec = task.spec
        if not spec.enabled:
            continue
        last = _last_occurrence(db, spec.name)
        after = last or task.added_at
        occurrences = spec.recurrence.between(after, now)[-limit:]
        for occurrence in occurrences:
            row = _make(db, spec, occurrence, last, now)
            if row is not None:
                made.append(row)
                last = occurrence
    return made


def _make(
    db: Session, spec: TaskSpec, occurrence: datetime, since: datetime | None, now: datetime
) -> TaskInstance | None:
    row = TaskInstance(
        task=spec.name,
        occurrence_at=occurrence,
        due_at=occurrence + spec.due,
        status="open",
        title=spec.title,
        kind=spec.kind,
        owner=resolve_owner(db, spec.owner, occurrence),
        owner_rule=spec.owner,
        checklist=list(spec.checklist),
        checked=[False] * len(spec.checklist),
        worklist=[],
        decisions={},
        applied=[],
        comment="",
        link="",
        value="",
        completed_by="",
        skip_reason="",
        reminded=[],
        reminders_sent=0,
        created_at=now,
    )
    try:
        with db.begin_nested():  # another replica made it: keep the caller's work
            db.add(row)
            db.flush()
    except IntegrityError:
        return None
    if spec.kind:
        _prepare(db, spec, row, since, now)
    return row


def occurrences_between(
    task: StoredTask, start: datetime, end: datetime, limit: int = 500
) -> list[datetime]:
    """The task's occurrences in ``(start, end]`` (for the calendar), at most ``limit``."""
    return task.spec.recurrence.between(start, end)[:limit]


def next_occurrence(task: StoredTask, now: datetime) -> datetime | None:
    after = max(now, task.added_at) if task.spec.enabled else None
    return task.spec.recurrence.next_after(after) if after is not None else None
