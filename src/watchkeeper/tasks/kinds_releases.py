"""Release acceptance (UAT) sign-off: the planned releases (``releases.planned``) coming up
within ``horizon`` of the task's occurrence, each "accepted" or left "not-accepted" (the
default: a sign-off is always an explicit choice). Each decision is audited, and
:func:`signoff` tells whether, by whom and when a planned release was accepted (what a
release gate requiring the sign-off asks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration
from watchkeeper.releases.section import load_section
from watchkeeper.store.tables import TaskInstance
from watchkeeper.tasks.kinds import KindContext, TaskKind, WorkItem, register

DECISIONS = ("not-accepted", "accepted")
NAME = "release_acceptance"


class ReleaseAcceptanceOptions(PlanModel):
    """Options of the ``release_acceptance`` task kind."""

    service: str = Field("", description="Only this service's planned releases (empty: all).")
    horizon: Duration = Field(
        timedelta(days=14),
        description="List the releases planned from the occurrence to this much later.",
    )


def _prepare(db: Session, context: KindContext) -> list[WorkItem]:
    options: ReleaseAcceptanceOptions = context.options
    end = context.occurrence_at + options.horizon
    items = []
    for planned in sorted(load_section(db).planned, key=lambda p: (p.at, p.name)):
        if options.service and planned.service != options.service:
            continue
        if not context.occurrence_at <= planned.at <= end:
            continue
        label = f"{planned.service} {planned.version or planned.name} → {planned.environment}"
        detail = f"planned {planned.at:%Y-%m-%d %H:%M} UTC" + (
            f", {planned.description}" if planned.description else ""
        )
        items.append(WorkItem(f"release:{planned.name}", label, detail, "", "/releases/calendar"))
    return items


def _apply(db: Session, context: KindContext, chosen: dict[str, str], actor: Actor) -> list[str]:
    applied = []
    for key, decision in sorted(chosen.items()):
        name = key.removeprefix("release:")
        audit.record(
            db,
            actor,
            "release.acceptance",
            f"release/{name}",
            {"decision": decision, "task": f"task/{context.task}/{context.instance_id}"},
        )
        applied.append(f"{name}: {decision}")
    return applied


@dataclass(frozen=True)
class Signoff:
    release: str
    by: str
    at: datetime
    task: str
    instance_id: int


def signoff(db: Session, release: str) -> Signoff | None:
    """The latest completed acceptance that accepted the planned release ``release``, or
    None (never accepted, or only "not-accepted")."""
    rows = db.scalars(
        select(TaskInstance)
        .where(TaskInstance.kind == NAME, TaskInstance.status == "done")
        .order_by(TaskInstance.completed_at.desc(), TaskInstance.id.desc())
    )
    for row in rows:
        if (row.decisions or {}).get(f"release:{release}") == "accepted" and row.completed_at:
            return Signoff(release, row.completed_by, row.completed_at, row.task, row.id)
    return None


KIND = register(
    TaskKind(
        name=NAME,
        description="Acceptance (UAT) sign-off of the planned releases coming up.",
        prepare=_prepare,
        apply=_apply,
        options_model=ReleaseAcceptanceOptions,
        decisions=DECISIONS,
    )
)
