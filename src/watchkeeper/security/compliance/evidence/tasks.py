"""Evidence from the recurring tasks: each matching task's instances due within a period
were completed on or before their due time — read from the ``task_instances`` table."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.globs import matches
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    Status,
    counted,
    evidence_query,
    verdict,
    when,
)
from watchkeeper.store.tables import TaskInstance
from watchkeeper.tasks.schedule import load_tasks


class OnTimeParams(EvidenceParams):
    task: str = Field("*", description="Task name, or a glob (`*access-review*`).")
    within: Duration = Field(
        timedelta(days=365), description="Judge the instances due within this period."
    )
    skipped_ok: bool = Field(
        False, description="Count an instance skipped with a reason (before due) as done."
    )


def _fact(row: TaskInstance, params: OnTimeParams, now: datetime) -> Fact:
    subject = f"{row.task} due {when(row.due_at)}"
    if row.status == "done":
        if row.on_time:
            return Fact(
                subject, "pass", f"completed {when(row.completed_at)} by {row.completed_by}"
            )
        return Fact(subject, "fail", f"completed late, {when(row.completed_at)}")
    if row.status == "skipped":
        in_time = row.completed_at is not None and row.completed_at <= row.due_at
        status: Status = "pass" if params.skipped_ok and in_time else "fail"
        return Fact(subject, status, f"skipped by {row.completed_by}: {row.skip_reason}")
    return Fact(subject, "fail", "not done (overdue)")


@evidence_query("tasks_done_on_time", OnTimeParams)
def tasks_done_on_time(db: Session, params: OnTimeParams, now: datetime) -> Evidence:
    """Every instance of the matching recurring tasks that fell due within ``within`` was
    completed on or before its due time (a skipped one counts only with ``skipped_ok``). A
    task with no instance due in the period yet is unknown, not passed."""
    names = [t.name for t in load_tasks(db) if matches(t.name, params.task, case_sensitive=True)]
    if not names:
        return Evidence("unknown", f'No task matches "{params.task}".')
    since = now - params.within
    rows = list(
        db.scalars(
            select(TaskInstance)
            .where(
                TaskInstance.task.in_(names),
                TaskInstance.due_at >= since,
                TaskInstance.due_at <= now,
            )
            .order_by(TaskInstance.task, TaskInstance.due_at)
        )
    )
    period = format_duration(params.within)
    if not rows:
        return Evidence(
            "unknown", f"No instance of {', '.join(names[:5])} fell due in the last {period}."
        )
    facts = tuple(_fact(r, params, now) for r in rows)
    passing = sum(1 for f in facts if f.status == "pass")
    summary = f"Done on time in the last {period}: {counted(passing, len(facts), 'instance')}"
    missed = [f.subject for f in facts if f.status == "fail"]
    if missed:
        summary += f"; not: {', '.join(missed[:3])}" + (" …" if len(missed) > 3 else "")
    return Evidence(verdict(facts), summary + ".", facts)
