"""Status pages for the team: the pages of the plan with their status now, and the public
updates posted on them (incident updates and scheduled maintenance)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.incidents import statuspage
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1", tags=["status pages"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
Operator = Annotated[SessionInfo, require("operator")]
UpdateId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The update's id.")]


class ComponentOut(BaseModel):
    name: str
    status: str = Field(description="operational, maintenance, degraded, partial_outage, …")
    checks: list[str] = Field(description="Checks (names or globs) it shows.")
    services: list[str] = Field(description="Incidents affecting these services count.")


class GroupOut(BaseModel):
    name: str
    components: list[ComponentOut]


class StatusPageOut(BaseModel):
    name: str
    title: str
    status: str = Field(description="The overall status shown on the page now.")
    url: str = Field(description="The public page (no sign-in).")
    feed_url: str = Field(description="The public JSON feed.")
    groups: list[GroupOut]
    active_incidents: int
    maintenance: int = Field(description="Posted maintenance, upcoming or in progress.")


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(
        description="investigating, identified, monitoring, resolved, or maintenance."
    )
    title: str = Field(description="Shown to the public (the incident's public title).")
    body: str = Field("", description="Shown to the public, as plain text.")
    components: list[str] = Field(
        default_factory=list, description="Components of the page it affects."
    )
    incident_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="The incident it reports on (not maintenance)."
    )
    starts_at: datetime | None = Field(None, description="Maintenance: start (UTC unless offset).")
    ends_at: datetime | None = Field(None, description="Maintenance: end.")


class UpdateOut(BaseModel):
    id: int
    page: str
    incident_id: int | None
    status: str
    title: str
    body: str
    components: list[str]
    starts_at: datetime | None
    ends_at: datetime | None
    posted_at: datetime
    posted_by: str


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def update_out(view: statuspage.UpdateView) -> UpdateOut:
    return UpdateOut.model_validate(view, from_attributes=True)


@router.get(
    "/status-pages", response_model=list[StatusPageOut], summary="Status pages and their status"
)
def list_status_pages(db: Db, _: Viewer) -> list[StatusPageOut]:
    now = utcnow()
    out = []
    for page in statuspage.list_pages(db):
        view = statuspage.page_view(db, page.name, now)
        shown = {c.name: c.status for g in view.groups for c in g.components}
        out.append(
            StatusPageOut(
                name=page.name,
                title=view.title,
                status=view.status,
                url=f"/status/{page.name}",
                feed_url=f"/status/{page.name}.json",
                groups=[
                    GroupOut(
                        name=g.name,
                        components=[
                            ComponentOut(
                                name=c.name,
                                status=shown[c.name],
                                checks=c.checks,
                                services=sorted(statuspage.component_services(c)),
                            )
                            for c in g.components
                        ],
                    )
                    for g in page.groups
                ],
                active_incidents=len(view.incidents),
                maintenance=len(view.maintenance),
            )
        )
    return out


@router.post(
    "/status-pages/{name}/updates",
    response_model=UpdateOut,
    status_code=201,
    summary="Post a public update (problems named by field: status, title, components[i], "
    "incident_id, starts_at, ends_at)",
)
def post_update(request: Request, name: str, body: UpdateIn, db: Db, info: Responder) -> UpdateOut:
    view = statuspage.post_update(
        db,
        name,
        body.status,
        body.title,
        body.body,
        body.components,
        body.incident_id,
        _utc(body.starts_at),
        _utc(body.ends_at),
        request_actor(request, info),
    )
    db.commit()
    return update_out(view)


@router.get(
    "/status-pages/{name}/updates",
    response_model=list[UpdateOut],
    summary="Updates posted on a page, newest first",
)
def list_updates(name: str, db: Db, _: Viewer) -> list[UpdateOut]:
    return [update_out(v) for v in statuspage.list_updates(db, name)]


@router.delete(
    "/status-updates/{update_id}",
    response_model=UpdateOut,
    summary="Delete a posted update (it disappears from the public page)",
)
def delete_update(request: Request, update_id: UpdateId, db: Db, info: Operator) -> UpdateOut:
    view = statuspage.delete_update(db, update_id, request_actor(request, info))
    db.commit()
    return update_out(view)
