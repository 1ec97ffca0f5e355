"""The team's side of the status pages: ``/incidents/status-pages`` lists the plan's pages
with their status now and the updates posted on them, and holds the form to post one."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.incidents import statuspage
from watchkeeper.store.tables import Incident, utcnow
from watchkeeper.web import status_page as _public  # noqa: F401 - registers the label filters
from watchkeeper.web.pages import render
from watchkeeper.web.timefmt import form_time

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageResponder = Annotated[SessionInfo, require("responder", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
UpdateId = Annotated[int, Path(ge=1, le=2**63 - 1)]
FIELD_LABELS = {
    "status": "Status",
    "title": "Title",
    "body": "Message",
    "incident_id": "Incident",
    "starts_at": "Start",
    "ends_at": "End",
}
NOTICES = {
    "posted": "Update posted. It is on the public page now.",
    "deleted": "Update deleted. It is no longer on the public page.",
}
EMPTY_FORM = {
    "status": "investigating",
    "title": "",
    "body": "",
    "components": [],
    "incident_id": "",
    "starts_at": "",
    "ends_at": "",
}


def _incidents(db: Session, now: datetime) -> list[Incident]:
    """Incidents an update may report on: open ones and those resolved this week."""
    return list(
        db.scalars(
            select(Incident)
            .where(
                Incident.drill == "",
                or_(Incident.status != "resolved", Incident.resolved_at >= now - timedelta(7)),
            )
            .order_by(Incident.opened_at.desc())
            .limit(50)
        )
    )


def _page(
    request: Request,
    db: Session,
    user: SessionInfo,
    *,
    status: int = 200,
    form_page: str = "",
    form: dict[str, Any] | None = None,
    errors: list[str] | None = None,
) -> Response:
    now = utcnow()
    pages = [
        {
            "config": page,
            "view": statuspage.page_view(db, page.name, now),
            "updates": statuspage.list_updates(db, page.name, limit=20),
            "form": form if page.name == form_page and form is not None else EMPTY_FORM,
            "errors": errors if page.name == form_page else [],
        }
        for page in statuspage.list_pages(db)
    ]
    return render(
        request,
        "status_admin.html",
        status=status,
        pages=pages,
        statuses=statuspage.UPDATE_STATUSES,
        incidents=_incidents(db, now),
        can_post=role_allows(user.role, "responder"),
        can_delete=role_allows(user.role, "operator"),
        notice=NOTICES.get(request.query_params.get("done", "")),
        active="incidents",
        page_title="Status pages",
    )


@router.get("/incidents/status-pages")
def status_pages(request: Request, db: Db, user: PageUser) -> Response:
    return _page(request, db, user)


@router.post("/incidents/status-pages/{name}/updates")
def post_update(
    request: Request,
    name: str,
    db: Db,
    user: PageResponder,
    status: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    components: Annotated[list[str] | None, Form()] = None,
    incident_id: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
) -> Response:
    statuspage.find_page(db, name)  # 404 for a page that is not in the plan
    form = {
        "status": status,
        "title": title,
        "body": body,
        "components": components or [],
        "incident_id": incident_id,
        "starts_at": starts_at,
        "ends_at": ends_at,
    }
    problems: list[tuple[str, str]] = []
    start = form_time(starts_at, "starts_at", problems)
    end = form_time(ends_at, "ends_at", problems)
    incident: int | None = None
    if incident_id.strip():
        if re.fullmatch(r"[0-9]{1,18}", incident_id.strip()):
            incident = int(incident_id)
        else:
            problems.append(("incident_id", f'"{incident_id}" is not an incident number'))
    try:
        if problems:
            raise ValidationFailed("the status update has invalid fields", problems)
        statuspage.post_update(
            db,
            name,
            status,
            title,
            body,
            components or [],
            incident,
            start,
            end,
            request_actor(request, user),
        )
    except ValidationFailed as exc:
        db.rollback()
        errors = [
            f"{FIELD_LABELS.get(f, 'Components' if f.startswith('components') else f)}: {m}"
            for f, m in exc.errors
        ]
        return _page(request, db, user, status=422, form_page=name, form=form, errors=errors)
    db.commit()
    return RedirectResponse(f"/incidents/status-pages?done=posted#page-{name}", status_code=303)


@router.post("/incidents/status-pages/updates/{update_id}/delete")
def delete_update(request: Request, update_id: UpdateId, db: Db, user: PageOperator) -> Response:
    try:
        view = statuspage.delete_update(db, update_id, request_actor(request, user))
    except NotFoundError:
        db.rollback()
        return RedirectResponse("/incidents/status-pages", status_code=303)
    db.commit()
    return RedirectResponse(
        f"/incidents/status-pages?done=deleted#page-{view.page}", status_code=303
    )
