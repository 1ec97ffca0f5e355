"""Incidents: list, open by hand, read with the timeline, change, acknowledge, resolve,
reopen, notes, links, major incidents; drills started on demand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.incidents import drills, service, views
from watchkeeper.incidents.config import Severity
from watchkeeper.store.tables import Incident, utcnow

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The incident's id.")]
Status = Literal["triggered", "acknowledged", "resolved"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(_In):
    title: str = Field(min_length=1, max_length=300)
    severity: Severity = "SEV3"
    team: str = Field("", max_length=128)
    services: list[str] = Field(default_factory=list, max_length=50)
    summary: str = Field("", max_length=20_000)
    commander: str = Field("", max_length=128)
    assignees: list[str] = Field(default_factory=list, max_length=20)
    escalation_policy: str = Field("", max_length=128, description="Start this policy.")


class IncidentPatch(_In):
    title: str | None = Field(None, min_length=1, max_length=300)
    severity: Severity | None = None
    team: str | None = Field(None, max_length=128)
    services: list[str] | None = Field(None, max_length=50)
    summary: str | None = Field(None, max_length=20_000)
    commander: str | None = Field(None, max_length=128)
    assignees: list[str] | None = Field(None, max_length=20)


class ResolveIn(_In):
    note: str = Field("", max_length=2000)


class ReopenIn(_In):
    reason: str = Field("", max_length=2000)


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=20_000)


class LinkIn(_In):
    url: str = Field(max_length=2000)
    title: str = Field("", max_length=300)


class IncidentOut(BaseModel):
    id: int
    title: str
    severity: str
    status: str
    team: str
    services: list[str]
    assignees: list[str]
    commander: str
    escalation_policy: str
    summary: str
    major: bool
    drill: str = Field(description="The drill's name when this incident is a drill.")
    opened_at: datetime
    opened_by: str
    acknowledged_at: datetime | None
    acknowledged_by: str
    resolved_at: datetime | None
    resolved_by: str
    url: str


class EntryOut(BaseModel):
    at: datetime
    kind: str
    actor: str
    text: str
    data: dict[str, object]


class AlertRefOut(BaseModel):
    id: int
    name: str
    state: str
    severity: str
    labels: dict[str, str]
    since: datetime


class EscalationOut(BaseModel):
    policy: str
    state: str = Field(description="active, stopped or exhausted.")
    step: int = Field(description="Steps run so far in this round.")
    loop: int
    next_at: datetime | None


class IncidentDetailOut(IncidentOut):
    timeline: list[EntryOut]
    alerts: list[AlertRefOut]
    escalation: EscalationOut | None
    time_to_acknowledge_seconds: float | None
    time_to_resolve_seconds: float | None


class IncidentListOut(BaseModel):
    total: int
    incidents: list[IncidentOut]


class DrillRunOut(BaseModel):
    id: int
    name: str
    started_at: datetime
    started_by: str
    result: str


def incident_out(i: Incident) -> IncidentOut:
    return IncidentOut(
        id=i.id,
        title=i.title,
        severity=i.severity,
        status=i.status,
        team=i.team,
        services=list(i.services),
        assignees=list(i.assignees),
        commander=i.commander,
        escalation_policy=i.escalation_policy,
        summary=i.summary,
        major=i.major,
        drill=i.drill,
        opened_at=i.opened_at,
        opened_by=i.opened_by,
        acknowledged_at=i.acknowledged_at,
        acknowledged_by=i.acknowledged_by,
        resolved_at=i.resolved_at,
        resolved_by=i.resolved_by,
        url=f"/incidents/{i.id}",
    )


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def detail_out(db: Db, incident_id: int) -> IncidentDetailOut:
    view = views.incident_view(db, incident_id, utcnow())
    esc = view.escalation
    return IncidentDetailOut(
        **incident_out(view.incident).model_dump(),
        timeline=[
            EntryOut(at=e.at, kind=e.kind, actor=e.actor, text=e.text, data=e.data)
            for e in view.timeline
        ],
        alerts=[
            AlertRefOut(
                id=a.id,
                name=a.name,
                state=a.state,
                severity=a.severity,
                labels=a.labels,
                since=a.since,
            )
            for a in view.alerts
        ],
        escalation=EscalationOut(
            policy=esc.policy, state=esc.state, step=esc.step, loop=esc.loop, next_at=esc.next_at
        )
        if esc
        else None,
        time_to_acknowledge_seconds=_seconds(view.time_to_acknowledge),
        time_to_resolve_seconds=_seconds(view.time_to_resolve),
    )


@router.get("/incidents", response_model=IncidentListOut, summary="Incidents, newest first")
def list_incidents(
    db: Db,
    _: Viewer,
    status: Annotated[list[Status] | None, Query(description="Repeat to give several.")] = None,
    team: str = "",
    service_name: Annotated[str, Query(alias="service")] = "",
    drills_too: Annotated[bool, Query(alias="drills")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IncidentListOut:
    rows, total = service.list_incidents(
        db,
        status=status or (),
        team=team,
        service=service_name,
        drills=drills_too,
        limit=limit,
        offset=offset,
    )
    return IncidentListOut(total=total, incidents=[incident_out(i) for i in rows])


@router.post(
    "/incidents",
    response_model=IncidentDetailOut,
    status_code=201,
    summary="Open an incident by hand",
)
def open_incident(body: IncidentIn, request: Request, db: Db, user: Responder) -> IncidentDetailOut:
    incident = service.open_incident(
        db,
        title=body.title,
        severity=body.severity,
        actor=request_actor(request, user),
        team=body.team,
        services=body.services,
        summary=body.summary,
        commander=body.commander,
        assignees=body.assignees,
        escalation_policy=body.escalation_policy,
    )
    db.commit()
    return detail_out(db, incident.id)


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetailOut,
    summary="One incident with its timeline, alerts and escalation",
)
def get_incident(incident_id: IncidentId, db: Db, _: Viewer) -> IncidentDetailOut:
    return detail_out(db, incident_id)


@router.patch(
    "/incidents/{incident_id}",
    response_model=IncidentDetailOut,
    summary="Change title, severity, team, services, summary, assignees, commander",
)
def patch_incident(
    incident_id: IncidentId, body: IncidentPatch, request: Request, db: Db, user: Responder
) -> IncidentDetailOut:
    service.update_fields(
        db, incident_id, request_actor(request, user), **body.model_dump(exclude_unset=True)
    )
    db.commit()
    return detail_out(db, incident_id)


@router.post(
    "/incidents/{incident_id}/acknowledge",
    response_model=IncidentDetailOut,
    summary="Acknowledge: stops the escalation",
)
def acknowledge(
    incident_id: IncidentId, request: Request, db: Db, user: Responder
) -> IncidentDetailOut:
    service.acknowledge(db, incident_id, request_actor(request, user), via="API")
    db.commit()
    return detail_out(db, incident_id)


@router.post(
    "/incidents/{incident_id}/resolve", response_model=IncidentDetailOut, summary="Resolve"
)
def resolve(
    incident_id: IncidentId,
    request: Request,
    db: Db,
    user: Responder,
    body: ResolveIn | None = None,
) -> IncidentDetailOut:
    service.resolve(
        db, incident_id, request_actor(request, user), note=body.note if body else "", via="API"
    )
    db.commit()
    return detail_out(db, incident_id)


@router.post(
    "/incidents/{incident_id}/reopen",
    response_model=IncidentDetailOut,
    summary="Reopen a resolved incident (its escalation starts again)",
)
def reopen(
    incident_id: IncidentId, request: Request, db: Db, user: Responder, body: ReopenIn | None = None
) -> IncidentDetailOut:
    service.reopen(db, incident_id, request_actor(request, user), body.reason if body else "")
    db.commit()
    return detail_out(db, incident_id)


@router.post(
    "/incidents/{incident_id}/notes",
    response_model=IncidentDetailOut,
    status_code=201,
    summary="Add a note to the timeline",
)
def add_note(
    incident_id: IncidentId, body: NoteIn, request: Request, db: Db, user: Responder
) -> IncidentDetailOut:
    service.add_note(db, incident_id, request_actor(request, user), body.text)
    db.commit()
    return detail_out(db, incident_id)


@router.post(
    "/incidents/{incident_id}/links",
    response_model=IncidentDetailOut,
    status_code=201,
    summary="Add a link (dashboard, chat thread, document)",
)
def add_link(
    incident_id: IncidentId, body: LinkIn, request: Request, db: Db, user: Responder
) -> IncidentDetailOut:
    service.add_link(db, incident_id, request_actor(request, user), body.url, body.title)
    db.commit()
    return detail_out(db, incident_id)


@router.post(
    "/incidents/{incident_id}/major",
    response_model=IncidentDetailOut,
    summary="Declare a major incident: notifies the directory's stakeholders",
)
def declare_major(
    incident_id: IncidentId, request: Request, db: Db, user: Responder
) -> IncidentDetailOut:
    service.declare_major(
        db, incident_id, request_actor(request, user), get_ctx(request).settings.base_url
    )
    db.commit()
    _wake_delivery(request)
    return detail_out(db, incident_id)


@router.post(
    "/drills/{name}/start",
    response_model=DrillRunOut,
    status_code=201,
    summary="Start a drill now (a synthetic alert through the real path)",
)
def start_drill(name: str, request: Request, db: Db, user: Responder) -> DrillRunOut:
    run = drills.start(db, name, request_actor(request, user), utcnow())
    db.commit()
    return DrillRunOut(
        id=run.id,
        name=run.name,
        started_at=run.started_at,
        started_by=run.started_by,
        result=run.result,
    )


def _wake_delivery(request: Request) -> None:
    worker = getattr(request.app.state, "notify_worker", None)
    if worker is not None:
        worker.wake()
