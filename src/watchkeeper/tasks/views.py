"""Tasks and their instances as pages, the API and the CLI show them: each instance's state
(open, overdue, done, skipped), each task's history and on-time rate.

The on-time rate is the share of a task's *due* instances (due time passed, or completed)
that were completed on or before their due time. Skipped instances are left out of it and
counted apart: a skip is a recorded decision, shown next to the rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError
from watchkeeper.globs import is_glob, matches
from watchkeeper.store.tables import TaskEvidenceFile, TaskInstance
from watchkeeper.tasks.kinds import WorkItem
from watchkeeper.tasks.schedule import StoredTask, load_tasks, next_occurrence

STATES = ("overdue", "open", "done", "skipped")


def state_of(row: TaskInstance, now: datetime) -> str:
    """``overdue`` (open past its due time), ``open``, ``done`` or ``skipped``."""
    if row.status == "open":
        return "overdue" if row.due_at < now else "open"
    return row.status


@dataclass(frozen=True)
class FileView:
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class InstanceView:
    id: int
    task: str
    title: str
    kind: str
    state: str
    occurrence_at: datetime
    due_at: datetime
    owner: str
    owner_rule: str
    checklist: list[str]
    checked: list[bool]
    worklist: list[WorkItem]
    decisions: dict[str, str]
    applied: list[str]
    comment: str
    link: str
    value: str
    completed_at: datetime | None
    completed_by: str
    on_time: bool | None
    skip_reason: str
    reminders_sent: int
    files: list[FileView]

    @property
    def finished(self) -> bool:
        return self.state in ("done", "skipped")

    @property
    def url(self) -> str:
        return f"/tasks/{self.task}/instances/{self.id}"


def _files(db: Session, ids: Sequence[int]) -> dict[int, list[FileView]]:
    found: dict[int, list[FileView]] = {}
    if not ids:
        return found
    for f in db.scalars(
        select(TaskEvidenceFile)
        .where(TaskEvidenceFile.instance_id.in_(list(ids)))
        .order_by(TaskEvidenceFile.id)
    ):
        found.setdefault(f.instance_id, []).append(
            FileView(
                f.id, f.filename, f.content_type, f.size, f.sha256, f.uploaded_by, f.uploaded_at
            )
        )
    return found


def views(db: Session, rows: Iterable[TaskInstance], now: datetime) -> list[InstanceView]:
    rows = list(rows)
    files = _files(db, [r.id for r in rows])
    return [
        InstanceView(
            id=r.id,
            task=r.task,
            title=r.title,
            kind=r.kind,
            state=state_of(r, now),
            occurrence_at=r.occurrence_at,
            due_at=r.due_at,
            owner=r.owner,
            owner_rule=r.owner_rule,
            checklist=list(r.checklist),
            checked=list(r.checked),
            worklist=[WorkItem.from_json(w) for w in r.worklist or []],
            decisions=dict(r.decisions or {}),
            applied=list(r.applied or []),
            comment=r.comment,
            link=r.link,
            value=r.value,
            completed_at=r.completed_at,
            completed_by=r.completed_by,
            on_time=r.on_time,
            skip_reason=r.skip_reason,
            reminders_sent=r.reminders_sent,
            files=files.get(r.id, []),
        )
        for r in rows
    ]


def get_instance(db: Session, instance_id: int, now: datetime) -> InstanceView:
    """Return instance ``instance_id``; raise NotFoundError."""
    row = db.get(TaskInstance, instance_id)
    if row is None:
        raise NotFoundError(f"no task instance {instance_id}")
    return views(db, [row], now)[0]


def list_instances(
    db: Session,
    now: datetime,
    *,
    task: str = "",
    states: Sequence[str] = (),
    owner: str = "",
    limit: int = 100,
    offset: int = 0,
) -> list[InstanceView]:
    """Instances, the open ones first by due time (oldest due first), then the finished
    ones newest first. ``task``: a name or a glob (``*review*``); ``states``: any of
    :data:`STATES`."""
    query = select(TaskInstance)
    if task and not is_glob(task):
        query = query.where(TaskInstance.task == task)
    wanted = set(states)
    statuses = {"open" if s in ("open", "overdue") else s for s in wanted}
    if statuses:
        query = query.where(TaskInstance.status.in_(sorted(statuses)))
    if owner:
        query = query.where(TaskInstance.owner == owner)
    rows = [
        r
        for r in db.scalars(query.order_by(TaskInstance.due_at.desc(), TaskInstance.id.desc()))
        if (not task or matches(r.task, task, case_sensitive=True))
        and (not wanted or state_of(r, now) in wanted)
    ]
    open_rows = sorted((r for r in rows if r.status == "open"), key=lambda r: (r.due_at, r.id))
    done = [r for r in rows if r.status != "open"]
    return views(db, (open_rows + done)[offset : offset + limit], now)


@dataclass(frozen=True)
class Rate:
    """A task's record: ``due`` instances, of which ``on_time`` completed by their due time,
    ``late`` completed after it, ``missed`` still open past it; ``skipped`` apart."""

    due: int = 0
    on_time: int = 0
    late: int = 0
    missed: int = 0
    skipped: int = 0

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.on_time / self.due, 1) if self.due else None


def rate_of(rows: Iterable[TaskInstance], now: datetime) -> Rate:
    due = on_time = late = missed = skipped = 0
    for r in rows:
        if r.status == "skipped":
            skipped += 1
            continue
        if r.status == "done":
            due += 1
            if r.on_time:
                on_time += 1
            else:
                late += 1
        elif r.due_at < now:
            due += 1
            missed += 1
    return Rate(due, on_time, late, missed, skipped)


@dataclass(frozen=True)
class TaskSummary:
    """One task on the list: its spec, the next occurrence, its open instances and record."""

    task: StoredTask
    next_at: datetime | None
    open: int
    overdue: int
    next_due: datetime | None  # the oldest open instance's due time
    rate: Rate
    last_done: datetime | None

    @property
    def name(self) -> str:
        return self.task.name


def summaries(
    db: Session, now: datetime, tasks: list[StoredTask] | None = None
) -> list[TaskSummary]:
    """Every task with its record; those with overdue instances first, then by the next
    due time, then by name."""
    by_task: dict[str, list[TaskInstance]] = {}
    for r in db.scalars(select(TaskInstance)):
        by_task.setdefault(r.task, []).append(r)
    out = []
    for task in tasks if tasks is not None else load_tasks(db):
        rows = by_task.get(task.name, [])
        open_rows = [r for r in rows if r.status == "open"]
        done = [r.completed_at for r in rows if r.status == "done" and r.completed_at]
        out.append(
            TaskSummary(
                task=task,
                next_at=next_occurrence(task, now),
                open=len(open_rows),
                overdue=sum(1 for r in open_rows if r.due_at < now),
                next_due=min((r.due_at for r in open_rows), default=None),
                rate=rate_of(rows, now),
                last_done=max(done, default=None),
            )
        )
    far = datetime.max.replace(tzinfo=now.tzinfo)
    out.sort(key=lambda s: (s.overdue == 0, s.next_due or far, s.name))
    return out


def history(
    db: Session, task: str, now: datetime, limit: int = 200
) -> tuple[Rate, list[InstanceView]]:
    """The task's record over all its instances, and its latest ``limit`` instances."""
    rows = list(
        db.scalars(
            select(TaskInstance)
            .where(TaskInstance.task == task)
            .order_by(TaskInstance.occurrence_at.desc())
        )
    )
    return rate_of(rows, now), views(db, rows[:limit], now)
