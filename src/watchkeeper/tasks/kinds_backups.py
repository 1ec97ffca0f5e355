"""The backup/restore review: the period's restore drills (with their measured RTO/RPO)
and every failed backup run, for sign-off. Each is "signed off" or marked "follow-up"
(failures are pre-marked); the follow-ups are listed with the completion and audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.store.tables import BackupRun
from watchkeeper.tasks.kinds import KindContext, TaskKind, WorkItem, register

DECISIONS = ("signed-off", "follow-up")


class BackupReviewOptions(PlanModel):
    """Options of the ``backup_review`` task kind."""

    lookback: Duration = Field(
        timedelta(days=90),
        description="Period the first review covers (later ones: since the previous).",
    )
    policy: str = Field("", description="Only this backup policy (empty: all).")


def period_runs(db: Session, start: datetime, end: datetime, policy: str = "") -> list[BackupRun]:
    """Drills, and failed runs of any kind, started in ``[start, end)``; oldest first."""
    query = select(BackupRun).where(
        BackupRun.started_at >= start,
        BackupRun.started_at < end,
        or_(BackupRun.kind == "drill", BackupRun.status == "failed"),
    )
    if policy:
        query = query.where(BackupRun.policy == policy)
    return list(db.scalars(query.order_by(BackupRun.started_at, BackupRun.id).limit(1000)))


def _item(row: BackupRun) -> WorkItem:
    where = f"{row.policy} → {row.repository}" if row.repository else row.policy
    label = f"{'restore drill' if row.kind == 'drill' else row.kind} of {where}"
    parts = [f"{row.status} {row.started_at:%Y-%m-%d %H:%M}"]
    if row.rto_s is not None:
        parts.append(f"RTO {format_duration(timedelta(seconds=round(row.rto_s)))}")
    if row.rpo_s is not None:
        parts.append(f"RPO {format_duration(timedelta(seconds=round(row.rpo_s)))}")
    if row.error:
        parts.append(row.error.splitlines()[0][:200])
    suggested = "follow-up" if row.status == "failed" else ""
    return WorkItem(f"run:{row.id}", label, ", ".join(parts), suggested, f"/backups/{row.policy}")


def _prepare(db: Session, context: KindContext) -> list[WorkItem]:
    options: BackupReviewOptions = context.options
    start = context.since or context.occurrence_at - options.lookback
    return [_item(r) for r in period_runs(db, start, context.occurrence_at, options.policy)]


def _apply(db: Session, context: KindContext, chosen: dict[str, str], actor: Actor) -> list[str]:
    signed = sorted(k for k, v in chosen.items() if v == "signed-off")
    follow = sorted(k for k, v in chosen.items() if v == "follow-up")
    audit.record(
        db,
        actor,
        "backups.review",
        f"task/{context.task}/{context.instance_id}",
        {"signed_off": signed[:200], "follow_up": follow[:200]},
    )
    applied = [f"signed off {len(signed)} run(s)"] if signed else []
    for key in follow:
        row = db.get(BackupRun, int(key.removeprefix("run:"))) if key[4:].isdigit() else None
        what = f"{row.kind} {row.id} of {row.policy} ({row.status})" if row else key
        applied.append(f"follow-up: {what}")
    return applied


KIND = register(
    TaskKind(
        name="backup_review",
        description="The period's restore drills and failed backup runs, for sign-off.",
        prepare=_prepare,
        apply=_apply,
        options_model=BackupReviewOptions,
        decisions=DECISIONS,
    )
)
