"""Bug trackers: the configured ones, and the issues opened in them from incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.api.problems import problem
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.incidents import tracking
from watchkeeper.incidents.trackers.interface import TrackerError

router = APIRouter(prefix="/api/v1", tags=["trackers"])
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
BAD_GATEWAY: dict[int | str, dict[str, Any]] = {
    502: {"description": "The tracker refused the request or could not be reached"}
}


class TrackerOut(BaseModel):
    name: str
    type: str = Field(description="github, gitlab, jira or webhook.")
    project: str
    site: str = Field(description="The tracker's address (a webhook's host only).")
    syncs_status: bool = Field(description="Whether the issue's status can be refreshed.")


class TrackerIssueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracker: str = Field(min_length=1, description="Name of a tracker of the plan.")


class TrackerIssueOut(BaseModel):
    id: int
    incident_id: int
    tracker: str
    type: str = Field(description='The tracker\'s type ("" if it left the plan).')
    external_id: str = Field(description="The issue's number or key in the tracker.")
    label: str = Field(description="How to name it: #12, OPS-7.")
    url: str = Field(description="The issue's page.")
    status: str = Field(description="Its status when last seen (open, closed, Done, ...).")
    created_at: datetime
    synced_at: datetime | None


def issue_out(view: tracking.LinkView) -> TrackerIssueOut:
    return TrackerIssueOut(
        id=view.id,
        incident_id=view.incident_id,
        tracker=view.tracker,
        type=view.type,
        external_id=view.external_id,
        label=view.label,
        url=view.url,
        status=view.status,
        created_at=view.created_at,
        synced_at=view.synced_at,
    )


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"User-Agent": "Watchkeeper"})


def _bad_gateway(request: Request, exc: TrackerError) -> JSONResponse:
    return problem(
        502,
        str(exc),
        title="The tracker failed" if not exc.permanent else "The tracker refused the request",
        instance=request.url.path,
    )


@router.get("/trackers", response_model=list[TrackerOut], summary="The configured trackers")
def list_trackers(db: Db, _: Viewer) -> list[TrackerOut]:
    return [
        TrackerOut(
            name=t.name, type=t.type, project=t.project, site=t.site, syncs_status=t.syncs_status
        )
        for t in tracking.trackers(db)
    ]


@router.post(
    "/incidents/{incident_id}/tracker-issues",
    response_model=TrackerIssueOut,
    status_code=201,
    responses=BAD_GATEWAY,
    summary="Open an issue for the incident in a tracker (409 if it has one there already)",
)
async def open_tracker_issue(
    request: Request, incident_id: RowId, body: TrackerIssueIn, db: Db, info: Responder
) -> Any:
    async with _client() as http:
        try:
            view = await tracking.open_issue(
                db,
                incident_id,
                body.tracker,
                _actor(request, info),
                http,
                base_url=get_ctx(request).settings.base_url,
            )
        except TrackerError as exc:
            return _bad_gateway(request, exc)
    return issue_out(view)


@router.get(
    "/incidents/{incident_id}/tracker-issues",
    response_model=list[TrackerIssueOut],
    summary="The incident's tracker issues",
)
def list_tracker_issues(incident_id: RowId, db: Db, _: Viewer) -> list[TrackerIssueOut]:
    return [issue_out(v) for v in tracking.links_for(db, incident_id)]


@router.post(
    "/tracker-issues/{link_id}/sync",
    response_model=TrackerIssueOut,
    responses=BAD_GATEWAY,
    summary="Refresh the issue's status from its tracker",
)
async def sync_tracker_issue(request: Request, link_id: RowId, db: Db, _: Responder) -> Any:
    async with _client() as http:
        try:
            view = await tracking.sync_status(db, link_id, http)
        except TrackerError as exc:
            return _bad_gateway(request, exc)
    return issue_out(view)
