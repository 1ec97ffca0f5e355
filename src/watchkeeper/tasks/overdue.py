"""``TaskOverdue``: Watchkeeper's own alert about a task instance still open ``escalate_after``
past its due time, routed like any other alert (see :mod:`watchkeeper.alerts.internal`).

Escalation goes through the alerting path rather than starting an escalation policy here:
the alert reaches the routes' receivers, and an ``incidents.auto_open`` rule matching
``alertname="TaskOverdue"`` with an ``escalation`` policy opens an incident and pages the
policy's steps until someone acknowledges. Silences and maintenance windows apply as to any
alert.

One alert per task, labelled ``task``, ``owner`` (the oldest overdue instance's; a user or
``team:<name>``) and ``severity``. It resolves when no instance of the task is overdue any
more (completed or skipped), or when the task leaves the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.internal import INTERNAL_RULE, raise_internal, resolve_internal
from watchkeeper.store.tables import Alert, TaskInstance
from watchkeeper.tasks.schedule import StoredTask

TASK_OVERDUE = "TaskOverdue"


@dataclass(frozen=True)
class OverdueTask:
    """What the alert says about one task: its oldest overdue instance and how many."""

    task: str
    title: str
    owner: str
    severity: str
    instance_id: int
    due_at: datetime
    count: int


def _bare(alert: Alert) -> dict[str, str]:
    return {k: v for k, v in alert.labels.items() if k != "alertname"}


def _firing(db: Session) -> dict[str, Alert]:
    return {
        alert.labels.get("task", ""): alert
        for alert in db.scalars(
            select(Alert).where(Alert.rule == INTERNAL_RULE, Alert.state == "firing")
        )
        if alert.labels.get("alertname") == TASK_OVERDUE
    }


def _labels(item: OverdueTask) -> dict[str, str]:
    labels = {"task": item.task, "severity": item.severity}
    if item.owner:
        labels["owner"] = item.owner
    return labels


def _annotations(item: OverdueTask) -> dict[str, str]:
    more = f" ({item.count} instances overdue)" if item.count > 1 else ""
    who = f", owner {item.owner}" if item.owner else ""
    return {
        "summary": f'Task "{item.title}" is overdue: due {item.due_at:%Y-%m-%d %H:%M} UTC{who}'
        + more,
        "description": "Do it and complete it with its evidence, or skip it with a reason.",
        "fix": f"/tasks/{item.task}/instances/{item.instance_id}",
    }


def overdue_tasks(db: Session, tasks: list[StoredTask], now: datetime) -> list[OverdueTask]:
    """Tasks with an instance open past ``due + escalate_after``."""
    specs = {t.name: t.spec for t in tasks}
    found: dict[str, OverdueTask] = {}
    rows = db.scalars(
        select(TaskInstance)
        .where(TaskInstance.status == "open", TaskInstance.due_at < now)
        .order_by(TaskInstance.due_at, TaskInstance.id)
    )
    for row in rows:
        spec = specs.get(row.task)
        if spec is None or row.due_at + spec.escalate_after > now:
            continue
        first = found.get(row.task)
        if first is None:
            found[row.task] = OverdueTask(
                row.task, row.title, row.owner, spec.severity, row.id, row.due_at, 1
            )
        else:
            found[row.task] = OverdueTask(
                first.task,
                first.title,
                first.owner,
                first.severity,
                first.instance_id,
                first.due_at,
                first.count + 1,
            )
    return list(found.values())


def evaluate(db: Session, tasks: list[StoredTask], now: datetime) -> list[str]:
    """Raise ``TaskOverdue`` for each overdue task, keep the firing ones current, resolve
    it for every other task; return the tasks it fires for. The caller commits."""
    wanted = {item.task: item for item in overdue_tasks(db, tasks, now)}
    firing = _firing(db)
    for name, item in sorted(wanted.items()):
        labels, annotations = _labels(item), _annotations(item)
        alert = firing.get(name)
        if alert is not None and _bare(alert) != labels:
            resolve_internal(db, TASK_OVERDUE, _bare(alert), now)  # owner or severity changed
            alert = None
        if alert is None:
            raise_internal(db, TASK_OVERDUE, labels, annotations, now)
        elif alert.annotations != annotations:
            alert.annotations = annotations
    for name, alert in firing.items():
        if name not in wanted:
            resolve_internal(db, TASK_OVERDUE, _bare(alert), now)
    return sorted(wanted)


def settle(db: Session, task: str, now: datetime) -> None:
    """After an instance of ``task`` was finished: resolve ``TaskOverdue`` for it unless
    another instance is still overdue (the next pass brings its details). Caller commits."""
    alert = _firing(db).get(task)
    if alert is None:
        return
    db.flush()
    still = db.scalar(
        select(TaskInstance.id)
        .where(TaskInstance.task == task, TaskInstance.status == "open", TaskInstance.due_at < now)
        .limit(1)
    )
    if still is None:
        resolve_internal(db, TASK_OVERDUE, _bare(alert), now)
