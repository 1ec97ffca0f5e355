"""Plan compliance API: is each section of the plan being followed right now (the latest
snapshot of the plan-compliance service, or one evaluated for this answer when none is
stored yet), and the trend of the overall and per-section scores. Viewer role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.types import parse_duration
from watchkeeper.security.compliance import plan_status
from watchkeeper.security.compliance.evaluator_probe import EvaluatorProbe
from watchkeeper.security.compliance.plan_sections import PAGES, TITLES
from watchkeeper.security.compliance.plan_sections.base import Live, SectionResult
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1/plan", tags=["plan"])
Viewer = Annotated[SessionInfo, require("viewer")]
DEFAULT_SPAN = timedelta(days=7)
MIN_STEP = timedelta(minutes=1)


class FailingOut(BaseModel):
    kind: str = Field(description="What the object is: check, backup policy, user, ...")
    name: str
    reason: str = Field(description="Why it breaks the plan, with the evidence.")
    link: str = Field(description="Its page in the UI (drill-down).")


class UnknownOut(BaseModel):
    kind: str
    name: str
    reason: str = Field(description="Why its state cannot be read here.")


class SectionOut(BaseModel):
    section: str = Field(description="The plan section: checks, alerts, backups, ...")
    title: str
    page: str = Field(description="The section's page in the UI.")
    status: str = Field(
        description="ok, failing, unknown, or empty (not in the plan, or nothing in it to judge)."
    )
    score: float | None = Field(description="0-100: share of its judged objects that are ok.")
    evidence: list[str] = Field(description="What was found, in sentences.")
    failing: list[FailingOut] = Field(description="The failing objects (at most 50).")
    failing_total: int = Field(description="How many objects fail in all.")
    unknown: list[UnknownOut]
    judged: int = Field(description="Objects judged (ok or failing).")
    ok: int
    last_ok: datetime | None = Field(description="The last evaluation at which it was followed.")

    @classmethod
    def of(cls, s: SectionResult) -> SectionOut:
        return cls(
            section=s.section,
            title=TITLES.get(s.section, s.section),
            page=PAGES.get(s.section, "/"),
            status=s.status,
            score=s.score,
            evidence=list(s.evidence),
            failing=[FailingOut(**f.__dict__) for f in s.failing],
            failing_total=s.failing_total,
            unknown=[UnknownOut(**u.__dict__) for u in s.unknown],
            judged=s.judged,
            ok=s.ok,
            last_ok=s.last_ok,
        )


class ComplianceOut(BaseModel):
    evaluated_at: datetime
    score: float | None = Field(
        description="0-100: the mean score of the sections that could be judged; null when none."
    )
    followed: bool = Field(description="Every section in the plan is followed right now.")
    last_all_ok: datetime | None = Field(
        description="The last evaluation at which every section in the plan was followed."
    )
    stored: bool = Field(
        description="False when no snapshot was stored yet and this one was evaluated for "
        "this answer (parts only the server's services can read may be unknown)."
    )
    sections: list[SectionOut] = Field(description="In the plan's order.")


class PointSectionOut(BaseModel):
    status: str
    score: float | None


class PointOut(BaseModel):
    at: datetime
    score: float | None
    sections: dict[str, PointSectionOut]


class HistoryOut(BaseModel):
    since: datetime
    until: datetime
    step: str | None = Field(description="Bucket length; each point holds its bucket's worst.")
    points: list[PointOut] = Field(description="Oldest first.")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@router.get(
    "/compliance",
    response_model=ComplianceOut,
    summary="Whether each section of the plan is being followed right now",
)
def compliance(request: Request, db: Db, _: Viewer) -> ComplianceOut:
    status = plan_status.latest(db)
    if status is None:
        ctx = get_ctx(request)
        live = Live(
            utcnow(),
            plan_status.plan_settings(db),
            metrics=ctx.metrics,
            logs=ctx.logs.store,
            evaluator=EvaluatorProbe(),
        )
        status = plan_status.evaluate_plan(db, live)
        db.rollback()  # evaluated for this answer only: nothing to keep
    return ComplianceOut(
        evaluated_at=status.evaluated_at,
        score=status.score,
        followed=status.followed,
        last_all_ok=status.last_all_ok,
        stored=status.stored,
        sections=[SectionOut.of(s) for s in status.sections],
    )


@router.get(
    "/compliance/history",
    response_model=HistoryOut,
    summary="The trend of the plan-compliance score, overall and per section",
)
def compliance_history(
    db: Db,
    _: Viewer,
    since: Annotated[
        datetime | None, Query(description="From this time (UTC if no offset); default 7 days ago.")
    ] = None,
    until: Annotated[datetime | None, Query(description="Up to this time; default now.")] = None,
    step: Annotated[
        str | None,
        Query(max_length=20, description="Bucket length (`1h`, `1d`): one point per bucket."),
    ] = None,
) -> HistoryOut:
    end = _utc(until) if until else utcnow()
    start = _utc(since) if since else end - DEFAULT_SPAN
    if start > end:
        raise ValidationFailed("the range is empty", [("since", "must be before `until`")])
    bucket: timedelta | None = None
    if step:
        try:
            bucket = parse_duration(step)
        except ValueError:
            raise ValidationFailed(
                "invalid step", [("step", f'"{step}" is not a duration (use 1h, 1d)')]
            ) from None
        if bucket < MIN_STEP:
            raise ValidationFailed("invalid step", [("step", "must be at least 1m")])
    points = plan_status.history(db, start, end, bucket)
    return HistoryOut(
        since=start,
        until=end,
        step=step or None,
        points=[
            PointOut(
                at=p.at,
                score=p.score,
                sections={
                    n: PointSectionOut(status=v[0], score=v[1]) for n, v in p.sections.items()
                },
            )
            for p in points
        ],
    )
