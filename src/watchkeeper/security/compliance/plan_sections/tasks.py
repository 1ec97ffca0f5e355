"""Tasks: every enabled recurring task has no instance open past its due time (done or
skipped with a reason in time). A task that has not fallen due yet is followed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    declared,
    not_in_plan,
    plural,
)
from watchkeeper.store.tables import TaskInstance
from watchkeeper.tasks.schedule import load_tasks


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "tasks"):
        return not_in_plan("tasks")
    tally = Tally("tasks")
    tasks = load_tasks(db)
    late: dict[str, list[TaskInstance]] = {}
    for row in db.scalars(
        select(TaskInstance)
        .where(TaskInstance.status == "open", TaskInstance.due_at < live.now)
        .order_by(TaskInstance.due_at)
    ):
        late.setdefault(row.task, []).append(row)
    judged = 0
    for task in tasks:
        rows = late.get(task.name, [])
        if not task.spec.enabled and not rows:
            continue
        judged += 1
        if not rows:
            tally.passed()
            continue
        first = rows[0]
        more = f" ({plural(len(rows), 'instance')} overdue)" if len(rows) > 1 else ""
        tally.failed(
            "task",
            task.name,
            f"{first.title}: due {at(first.due_at)}, still open{more}",
            f"/tasks/{task.name}/instances/{first.id}",
        )
    if judged:
        overdue = sum(1 for t in tasks if late.get(t.name))
        tally.say(f"{judged - overdue} of {plural(judged, 'task')} without an overdue instance.")
    return tally.result()
