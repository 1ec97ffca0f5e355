"""DORA's four keys of a service, a team or every service over a window, with their bands,
the weekly trend and each service's figures. Times are in seconds, rates between 0 and 1;
null (and no band) where there is no data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from watchkeeper.api.deps import Db, require
from watchkeeper.api.problems import PROBLEM
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.incidents.figures import parse_when
from watchkeeper.releases import dora, dora_query
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1", tags=["releases"])
Viewer = Annotated[SessionInfo, require("viewer")]
BandOut = Literal["elite", "high", "medium", "low"] | None
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "The service is not declared in the plan.", "content": {PROBLEM: {}}},
    409: {
        "description": "The stored releases section does not validate.",
        "content": {PROBLEM: {}},
    },
    422: {"description": "A parameter is wrong; `errors` names it.", "content": {PROBLEM: {}}},
}


class FrequencyOut(BaseModel):
    deploys: int = Field(description="Deploys that reached production in the window.")
    days: float | None = Field(
        description="Days measured: the window, or from the first deploy's day when later."
    )
    per_day: float | None = Field(description="Deploys per day; null when never deployed.")
    weeks: int = Field(description="7-day weeks counted back from the window's end.")
    weeks_deployed: int
    median_days_per_week: float | None = Field(
        description="Median over those weeks of the days with a deploy (3 or more: elite)."
    )
    months: int = Field(description="30-day months counted back from the window's end.")
    months_deployed: int
    band: BandOut


class LeadTimeOut(BaseModel):
    deploys: int = Field(description="Deploys that reached production with commit times.")
    commits: int
    median_seconds: float | None = Field(description="Median commit → production deploy.")
    band: BandOut


class ChangeFailureOut(BaseModel):
    deploys: int = Field(description="Finished deploys (succeeded, failed, rolled back).")
    failed: int = Field(
        description="Failed or rolled back, regressed at the release gate, or linked to an "
        "incident."
    )
    rate: float | None
    band: BandOut


class RestoreOut(BaseModel):
    incidents: int = Field(description="Incidents opened in the window (drills left out).")
    resolved: int
    median_seconds: float | None = Field(description="Median open → resolved.")
    band: BandOut


class FourKeysOut(BaseModel):
    deployment_frequency: FrequencyOut
    lead_time: LeadTimeOut
    change_failure_rate: ChangeFailureOut
    time_to_restore: RestoreOut


class TrendOut(BaseModel):
    weeks: list[datetime] = Field(description="Each ISO week's start (Monday 00:00 UTC).")
    deploys: list[int]
    deploys_per_day: list[float]
    lead_time_seconds: list[float | None]
    finished: list[int]
    failed: list[int]
    change_failure_rate: list[float | None]
    incidents: list[int]
    time_to_restore_seconds: list[float | None]


class ScopeOut(BaseModel):
    kind: Literal["all", "service", "team"]
    name: str = Field(description='The service or team ("" for all services).')


class ServiceKeysOut(BaseModel):
    service: str
    team: str
    production: str = Field(description="The environment counted (the service's first).")
    keys: FourKeysOut


class DoraOut(BaseModel):
    scope: ScopeOut
    start: datetime
    end: datetime
    window: str
    keys: FourKeysOut
    trend: TrendOut
    services: list[ServiceKeysOut] = Field(description="Each service of the scope, by name.")


@router.get(
    "/dora",
    response_model=DoraOut,
    responses=_ERRORS,
    summary="DORA's four keys (deployment frequency, lead time for changes, change failure "
    "rate, time to restore) with their bands, per week and per service",
)
def dora_figures(
    db: Db,
    _: Viewer,
    service: Annotated[
        str | None, Query(description="A service declared in the plan's releases section.")
    ] = None,
    team: Annotated[
        str | None,
        Query(description="A team: its services' deploys, its own and its services' incidents."),
    ] = None,
    window: Annotated[
        str | None, Query(description="Length of the window: 30d, 12w, … (default 90d).")
    ] = None,
    end: Annotated[
        str | None,
        Query(description="End of the window (RFC 3339 time or a date, exclusive). Default: now."),
    ] = None,
) -> DoraOut:
    span = dora.parse_window(window)
    last = parse_when("end", end, end=True)
    figures = dora_query.report(db, utcnow(), service=service, team=team, window=span, end=last)
    return DoraOut.model_validate(dora_query.to_json(figures))
