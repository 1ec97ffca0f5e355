"""Incident figures (MTTA and MTTR per team, service or severity, over time) and the drills
report. Times are in seconds; bad parameters answer a 400 problem naming the parameter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.api.deps import Db, require
from watchkeeper.api.problems import PROBLEM, problem
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.incidents import figures
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Viewer = Annotated[SessionInfo, require("viewer")]
_BAD: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter is wrong; `errors` names it.", "content": {PROBLEM: {}}}
}
StartParam = Annotated[
    str | None,
    Query(
        description="Range start: a date (`2025-01-01`) or RFC 3339 time. Default: 90 days "
        "before the end."
    ),
]
EndParam = Annotated[
    str | None,
    Query(
        description="Range end (exclusive; a date includes that day). Default: now. "
        "The range is at most 2 years."
    ),
]


class StatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    key: str = Field(
        description='The team, service or severity ("all" when not grouped; '
        '"" for incidents without a team or service).'
    )
    count: int = Field(description="Incidents opened in the range.")
    acknowledged: int
    resolved: int
    unacknowledged: int = Field(description="Still open, not acknowledged: not in the means.")
    unresolved: int = Field(description="Not resolved yet: not in the MTTR.")
    mtta: float | None = Field(description="Mean seconds from open to acknowledge.")
    median_tta: float | None
    p90_tta: float | None
    mttr: float | None = Field(description="Mean seconds from open to resolved.")
    median_ttr: float | None
    p90_ttr: float | None


class SeriesGroupOut(BaseModel):
    key: str
    count: list[int]
    acknowledged: list[int]
    resolved: list[int]
    mtta: list[float | None] = Field(description="Per bucket; null when none acknowledged.")
    mttr: list[float | None] = Field(description="Per bucket; null when none resolved.")


class SeriesOut(BaseModel):
    bucket: str
    buckets: list[datetime] = Field(description="Each bucket's start (UTC day or ISO week).")
    groups: list[SeriesGroupOut]


class FiguresOut(BaseModel):
    start: datetime
    end: datetime
    by: str | None
    overall: StatsOut
    groups: list[StatsOut] = Field(description="Busiest first.")
    series: SeriesOut


class DrillRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    started_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    result: str = Field(description="running, acknowledged or missed.")
    incident_id: int | None
    time_to_ack: float | None = Field(description="Seconds from start to acknowledge.")


class DrillStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    runs: int
    acknowledged: int
    missed: int
    running: int
    mean_tta: float | None
    median_tta: float | None


class DrillReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    start: datetime
    end: datetime
    runs: list[DrillRunOut] = Field(description="Oldest first.")
    drills: list[DrillStatsOut]


def _stats(s: figures.Stats) -> StatsOut:
    return StatsOut.model_validate(s)


def _bad(request: Request, exc: ValidationFailed) -> JSONResponse:
    errors = [{"field": f, "message": m} for f, m in exc.errors]
    return problem(400, str(exc), errors=errors, instance=request.url.path)


def _range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    return figures.window(
        figures.parse_when("start", start),
        figures.parse_when("end", end, end=True),
        utcnow(),
    )


@router.get(
    "/incidents/figures",
    response_model=FiguresOut,
    responses=_BAD,
    summary="MTTA and MTTR of the incidents opened in a range, per team, service or "
    "severity, and per day or week (drills left out)",
)
def incident_figures(
    request: Request,
    db: Db,
    _: Viewer,
    start: StartParam = None,
    end: EndParam = None,
    by: Annotated[
        str | None, Query(description="team, service or severity; empty: no grouping.")
    ] = None,
    bucket: Annotated[str | None, Query(description="day or week (default).")] = None,
) -> FiguresOut | JSONResponse:
    try:
        first, last = _range(start, end)
        grouping = figures.check_by(by)
        size = figures.check_bucket(bucket)
    except ValidationFailed as exc:
        return _bad(request, exc)
    totals = figures.summary(db, first, last, grouping)
    lines = figures.series(db, first, last, size, grouping)
    return FiguresOut(
        start=first,
        end=last,
        by=grouping,
        overall=_stats(totals.overall),
        groups=[_stats(s) for s in totals.groups],
        series=SeriesOut(
            bucket=size,
            buckets=lines.buckets,
            groups=[
                SeriesGroupOut(
                    key=g.key,
                    count=g.count,
                    acknowledged=g.acknowledged,
                    resolved=g.resolved,
                    mtta=g.mtta,
                    mttr=g.mttr,
                )
                for g in lines.groups
            ],
        ),
    )


@router.get(
    "/drills/report",
    response_model=DrillReportOut,
    responses=_BAD,
    summary="Drill runs started in a range with their time to acknowledge and result, and "
    "per drill the mean and median",
)
def drills_report(
    request: Request, db: Db, _: Viewer, start: StartParam = None, end: EndParam = None
) -> DrillReportOut | JSONResponse:
    try:
        first, last = _range(start, end)
    except ValidationFailed as exc:
        return _bad(request, exc)
    return DrillReportOut.model_validate(figures.drill_report(db, first, last))
