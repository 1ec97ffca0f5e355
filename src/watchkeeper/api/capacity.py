"""Capacity API: the report (what runs out first and when, filtered), one forecast with its
chart's series, and asking for a refresh now.

Reading needs the viewer role, a refresh the operator role. The forecasts are those the
capacity service stored at its last refresh (``capacity.refresh``), never refitted here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.releases.capacity import report as capacity_report
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1/capacity", tags=["capacity"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]
Kind = Literal["host", "target", "database"]
Status = Literal["over", "soon", "later", "never", "insufficient", "error"]


class ForecastOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Stays while the item exists (GET /api/v1/capacity/{id}).")
    kind: Kind
    host: str = Field(description='The host it is about ("" when none).')
    resource: str = Field(
        description="cpu, memory, disk or network (hosts); the target's or database's name."
    )
    subject: str = Field(
        description="The mountpoint, network direction (receive, transmit), target series' "
        "labels, or size/disk of a database."
    )
    title: str
    unit: str = Field(description="bytes, bytes/s, ratio (0..1), percent, or the plan's unit.")
    direction: Literal["up", "down"]
    status: Status = Field(
        description="over (at or past the limit), soon (within alert_within), later (within "
        "the horizon), never, insufficient (too little history), error."
    )
    detail: str = Field(description="Why there is no forecast (insufficient, error).")
    current: float | None
    limit: float | None
    fit: str = Field(description="linear, daily or weekly.")
    per_day: float | None = Field(description="The trend's change per day.")
    sigma: float | None = Field(description="Residual standard deviation of the fit.")
    points: int = Field(description="Hourly values fitted.")
    reaches_at: datetime | None = Field(description="When the fit reaches the limit.")
    reaches_earliest: datetime | None = Field(description="...by the band's near edge.")
    reaches_latest: datetime | None = Field(description="...by the band's far edge.")
    days_left: float | None = Field(description="Days until reaches_at (0 when over).")
    alert_within_s: int = Field(description="CapacityForecast fires within this (0: never).")
    severity: str
    labels: dict[str, str] = Field(description="The labels of its CapacityForecast alert.")
    computed_at: datetime


class ReportOut(BaseModel):
    refreshed_at: datetime | None = Field(description="The last refresh (None before any).")
    counts: dict[str, int] = Field(description="Every item by status (before filters).")
    items: list[ForecastOut]


class SeriesOut(BaseModel):
    t: list[float] = Field(description="Unix seconds: the history, then the projection.")
    value: list[float | None] = Field(description="The history (None over the projection).")
    fit: list[float | None] = Field(description="The projection (None over the history).")
    low: list[float | None]
    high: list[float | None]
    limit: float | None
    unit: str
    title: str


class ForecastDetailOut(ForecastOut):
    series: SeriesOut


class RefreshOut(BaseModel):
    started: bool = Field(
        description="True when this replica runs the capacity service and refreshes now; "
        "otherwise the replica that runs it refreshes on its schedule."
    )


@router.get("", response_model=ReportOut, summary="The capacity report")
async def capacity_report_route(
    db: Db,
    _: Viewer,
    within: Annotated[
        str | None,
        Query(max_length=20, description="Only items reaching their limit within this (`30d`)."),
    ] = None,
    kind: Kind | None = None,
    host: Annotated[str | None, Query(max_length=200, description="Host name glob.")] = None,
    status: Status | None = None,
) -> ReportOut:
    span = capacity_report.parse_within(within) if within else None

    def work() -> capacity_report.Report:
        return capacity_report.report(
            db, utcnow(), within=span, kind=kind, host=host, status=status
        )

    found = await run_in_threadpool(work)
    return ReportOut(
        refreshed_at=found.refreshed_at,
        counts=found.counts,
        items=[ForecastOut.model_validate(v) for v in found.items],
    )


@router.get(
    "/{forecast_id}",
    response_model=ForecastDetailOut,
    summary="One forecast with its history, projection, band and limit",
)
async def capacity_item(
    db: Db, _: Viewer, forecast_id: Annotated[int, Path(ge=1)]
) -> ForecastDetailOut:
    view, series = await run_in_threadpool(capacity_report.get, db, forecast_id, utcnow())
    data: dict[str, Any] = {**ForecastOut.model_validate(view).model_dump(), "series": series}
    return ForecastDetailOut.model_validate(data)


@router.post(
    "/refresh", response_model=RefreshOut, status_code=202, summary="Refresh the forecasts now"
)
async def capacity_refresh(request: Request, _: Operator) -> RefreshOut:
    wake = getattr(request.app.state, "wake_capacity", None)
    return RefreshOut(started=bool(wake()) if wake is not None else False)
