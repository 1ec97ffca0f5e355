"""Incident pages: the list (open first), one incident (timeline, alerts, escalation,
actions), opening one by hand, and the page behind a notification's signed link."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.incidents import drills, escalation, links, service, tracking, views
from watchkeeper.incidents.config import SEVERITIES
from watchkeeper.incidents.plan import load_incidents, load_oncall
from watchkeeper.incidents.trackers.interface import TrackerError
from watchkeeper.knowledge.runbook_refs import runbooks_for
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render
from watchkeeper.web.timefmt import span

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageResponder = Annotated[SessionInfo, require("responder", page=True)]
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
TABS = {"open": ("triggered", "acknowledged"), "resolved": ("resolved",), "all": ()}
NOTICES = {
    "acknowledged": "Acknowledged: the escalation stopped.",
    "resolved": "Resolved.",
    "reopened": "Reopened: the escalation starts again.",
    "major": "Major incident declared: the stakeholders are being notified.",
    "noted": "Note added.",
    "linked": "Link added.",
    "updated": "Saved.",
    "opened": "Incident opened.",
    "tracked": "Issue opened in the tracker.",
    "synced": "Issue status refreshed.",
}


def _duration(view: views.IncidentView) -> str:
    i = view.incident
    return span(((i.resolved_at or utcnow()) - i.opened_at).total_seconds())


@router.get("/incidents")
def incidents_page(request: Request, db: Db, user: PageUser, tab: str = "open") -> Response:
    statuses = TABS.get(tab, TABS["open"])
    rows, total = service.list_incidents(db, status=statuses, limit=200)
    counts = service.counts(db)
    return render(
        request,
        "incidents.html",
        rows=rows,
        total=total,
        tab=tab if tab in TABS else "open",
        counts=counts,
        now=utcnow(),
        can_act=role_allows(user.role, "responder"),
        active="incidents",
        page_title="Incidents",
    )


def _new_page(
    request: Request, db: Db, form: dict[str, str], errors: list[str], status: int = 200
) -> Response:
    return render(
        request,
        "incident_new.html",
        status=status,
        form=form,
        errors=errors,
        severities=SEVERITIES,
        policies=[p.name for p in load_oncall(db).escalation_policies],
        active="incidents",
        page_title="Open an incident",
    )


@router.get("/incidents/new")
def new_incident_page(request: Request, db: Db, _: PageResponder) -> Response:
    form = {
        "title": "",
        "severity": "SEV3",
        "team": "",
        "services": "",
        "summary": "",
        "escalation_policy": "",
    }
    return _new_page(request, db, form, [])


@router.post("/incidents/new")
def open_incident(
    request: Request,
    db: Db,
    user: PageResponder,
    title: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "SEV3",
    team: Annotated[str, Form()] = "",
    services: Annotated[str, Form()] = "",
    summary: Annotated[str, Form()] = "",
    escalation_policy: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "title": title,
        "severity": severity,
        "team": team,
        "services": services,
        "summary": summary,
        "escalation_policy": escalation_policy,
    }
    try:
        incident = service.open_incident(
            db,
            title=title,
            severity=severity,
            actor=_actor(request, user),
            team=team.strip(),
            services=[s.strip() for s in services.split(",") if s.strip()],
            summary=summary,
            escalation_policy=escalation_policy,
        )
    except ValidationFailed as exc:
        db.rollback()
        errors = [f"{field}: {message}" for field, message in exc.errors]
        return _new_page(request, db, form, errors, status=422)
    db.commit()
    return RedirectResponse(f"/incidents/{incident.id}?done=opened", status_code=303)


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, incident_id: IncidentId, db: Db, user: PageUser) -> Response:
    view = views.incident_view(db, incident_id, utcnow())
    plan = load_incidents(db)
    return render(
        request,
        "incident.html",
        view=view,
        incident=view.incident,
        duration=_duration(view),
        tta=span(view.time_to_acknowledge.total_seconds()) if view.time_to_acknowledge else "",
        severities=SEVERITIES,
        stakeholders=[c.name for c in plan.contacts if c.stakeholder and c.channel],
        people=[p.name for p in load_oncall(db).people],
        trackers=tracking.trackers(db),
        tracker_links=tracking.links_for(db, incident_id),
        runbooks=runbooks_for(
            db, service=view.incident.services, alert=[al.name for al in view.alerts]
        ),
        notice=NOTICES.get(request.query_params.get("done", "")),
        error=request.query_params.get("error", ""),
        can_act=role_allows(user.role, "responder"),
        active="incidents",
        page_title=f"#{incident_id} {view.incident.title}",
    )


def _back(incident_id: int, done: str) -> Response:
    return RedirectResponse(f"/incidents/{incident_id}?done={done}", status_code=303)


def _refused(incident_id: int, message: str) -> Response:
    return RedirectResponse(f"/incidents/{incident_id}?error={quote(message)}", status_code=303)


@router.post("/incidents/{incident_id}/action")
def incident_action(
    request: Request,
    incident_id: IncidentId,
    db: Db,
    user: PageResponder,
    action: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
) -> Response:
    actor = _actor(request, user)
    try:
        if action == "acknowledge":
            service.acknowledge(db, incident_id, actor, via="web")
            done = "acknowledged"
        elif action == "resolve":
            service.resolve(db, incident_id, actor, note=text.strip(), via="web")
            done = "resolved"
        elif action == "reopen":
            service.reopen(db, incident_id, actor, text.strip())
            done = "reopened"
        elif action == "major":
            service.declare_major(db, incident_id, actor, get_ctx(request).settings.base_url)
            done = "major"
        elif action == "note":
            service.add_note(db, incident_id, actor, text)
            done = "noted"
        elif action == "link":
            service.add_link(db, incident_id, actor, url, text)
            done = "linked"
        else:
            raise NotFoundError(f'no incident action "{action}"')
    except (ConflictError, ValidationFailed) as exc:
        db.rollback()
        message = (
            "; ".join(f"{f}: {m}" for f, m in exc.errors)
            if isinstance(exc, ValidationFailed)
            else str(exc)
        )
        return _refused(incident_id, message)
    db.commit()
    if action == "major":
        worker = getattr(request.app.state, "notify_worker", None)
        if worker is not None:
            worker.wake()
    return _back(incident_id, done)


@router.post("/incidents/{incident_id}/edit")
def edit_incident(
    request: Request,
    incident_id: IncidentId,
    db: Db,
    user: PageResponder,
    title: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "",
    team: Annotated[str, Form()] = "",
    services: Annotated[str, Form()] = "",
    assignees: Annotated[str, Form()] = "",
    commander: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.update_fields(
            db,
            incident_id,
            _actor(request, user),
            title=title,
            severity=severity,
            team=team.strip(),
            services=[s.strip() for s in services.split(",") if s.strip()],
            assignees=[s.strip() for s in assignees.split(",") if s.strip()],
            commander=commander.strip(),
        )
    except ValidationFailed as exc:
        db.rollback()
        return _refused(incident_id, "; ".join(f"{f}: {m}" for f, m in exc.errors))
    db.commit()
    return _back(incident_id, "updated")


@router.post("/incidents/{incident_id}/tracker-issue")
async def open_tracker_issue(
    request: Request,
    incident_id: IncidentId,
    db: Db,
    user: PageResponder,
    tracker: Annotated[str, Form()] = "",
) -> Response:
    async with httpx.AsyncClient(headers={"User-Agent": "Watchkeeper"}) as http:
        try:
            await tracking.open_issue(
                db,
                incident_id,
                tracker,
                _actor(request, user),
                http,
                base_url=get_ctx(request).settings.base_url,
            )
        except (TrackerError, ConflictError, NotFoundError, ValidationFailed) as exc:
            db.rollback()
            return _refused(incident_id, str(exc))
    return _back(incident_id, "tracked")


@router.post("/incidents/{incident_id}/tracker-issues/{link_id}/sync")
async def sync_tracker_issue(
    request: Request, incident_id: IncidentId, link_id: IncidentId, db: Db, user: PageResponder
) -> Response:
    async with httpx.AsyncClient(headers={"User-Agent": "Watchkeeper"}) as http:
        try:
            await tracking.sync_status(db, link_id, http)
        except (TrackerError, NotFoundError) as exc:
            db.rollback()
            return _refused(incident_id, str(exc))
    return _back(incident_id, "synced")


@router.post("/incidents/drills/{name}/start")
def start_drill(request: Request, name: str, db: Db, user: PageResponder) -> Response:
    drills.start(db, name, _actor(request, user), utcnow())
    db.commit()
    return RedirectResponse(f"/incidents/drills?started={quote(name)}", status_code=303)


# -- signed links from notifications (public: the signature is the credential) ----------------


def _claim(request: Request, db: Db, token: str) -> links.LinkClaim:
    claim = links.verify(get_ctx(request).settings.secret_key(), token)
    if claim.cycle != escalation.current_cycle(db, claim.incident_id):
        raise links.LinkError(
            "this link is from an earlier page of the incident; use the newest page or open "
            "the incident in Watchkeeper"
        )
    return claim


@router.get("/i/{token}")
def signed_link_page(request: Request, token: str, db: Db) -> Response:
    try:
        claim = _claim(request, db, token)
        incident = service.get(db, claim.incident_id)
    except (links.LinkError, NotFoundError) as exc:
        return render(
            request, "incident_link.html", status=404, error=str(exc), page_title="Incident link"
        )
    return render(
        request,
        "incident_link.html",
        claim=claim,
        incident=incident,
        token=token,
        page_title=f"Incident #{incident.id}",
    )


@router.post("/i/{token}")
def signed_link_action(request: Request, token: str, db: Db) -> Response:
    try:
        claim = _claim(request, db, token)
        actor = Actor(claim.person, request.client.host if request.client else "")
        if claim.action == "ack":
            incident = service.acknowledge(db, claim.incident_id, actor, via="signed link")
        else:
            incident = service.resolve(db, claim.incident_id, actor, via="signed link")
    except (links.LinkError, NotFoundError, ConflictError) as exc:
        db.rollback()
        return render(
            request,
            "incident_link.html",
            status=409 if isinstance(exc, ConflictError) else 404,
            error=str(exc),
            page_title="Incident link",
        )
    db.commit()
    return render(
        request,
        "incident_link.html",
        claim=claim,
        incident=incident,
        done=True,
        page_title=f"Incident #{incident.id}",
    )
