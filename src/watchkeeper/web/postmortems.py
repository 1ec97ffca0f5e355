"""Postmortem pages: the editor (Markdown with a live preview, save, publish, re-pull the
timeline, exports, the action items table with its add form and done boxes) and the open
action items across incidents."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.incidents import postmortem
from watchkeeper.store.tables import Incident, utcnow
from watchkeeper.web.alerts import markdown
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageResponder = Annotated[SessionInfo, require("responder", page=True)]
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1)]
NOTICES = {
    "drafted": "Postmortem drafted from the incident. Fill in the sections and save.",
    "saved": "Saved.",
    "published": "Published.",
    "unpublished": "Moved back to draft.",
    "timeline": "Timeline pulled again from the incident, and saved.",
    "exists": "This incident has a postmortem already.",
}
ACTIONS: dict[str, postmortem.Status | None] = {
    "save": None,
    "publish": "published",
    "unpublish": "draft",
}
FIELD_LABELS = {"body": "Text", "status": "Status", "title": "Action", "owner": "Owner"}


def _messages(exc: ValidationFailed) -> list[str]:
    return [f"{FIELD_LABELS.get(f, f)}: {m}" for f, m in exc.errors] or [str(exc)]


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _editor(
    request: Request,
    db: Db,
    user: SessionInfo,
    incident_id: int,
    *,
    body: str | None = None,
    errors: list[str] | None = None,
    item_errors: list[str] | None = None,
    item_form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    view = postmortem.find(db, incident_id)
    incident = db.get(Incident, incident_id)
    assert incident is not None  # find() raised NotFoundError otherwise
    text = body if body is not None else (view.body if view else "")
    items = postmortem.items_for(db, incident_id)
    preview = markdown(postmortem.sync_items(text, items)) if view else None
    return render(
        request,
        "postmortem.html",
        status=status,
        incident=incident,
        pm=view,
        body=text,
        preview=preview,
        items=items,
        errors=errors or [],
        item_errors=item_errors or [],
        item_form=item_form or {"title": "", "owner": "", "due": ""},
        size=len(text.encode("utf-8")),
        limit=postmortem.MAX_BODY_BYTES,
        notice=NOTICES.get(request.query_params.get("done", "")),
        can_edit=role_allows(user.role, "responder"),
        active="incidents",
        page_title=f"Postmortem: {incident.title}",
        scripts=["js/postmortem.js"],
    )


@router.get("/incidents/actions")
def actions_page(request: Request, db: Db, user: PageUser) -> Response:
    today = utcnow().date()
    items = postmortem.open_items(db)
    return render(
        request,
        "action_items.html",
        items=items,
        overdue=sum(1 for i in items if i.overdue),
        due_week=sum(1 for i in items if i.due and not i.overdue and (i.due - today).days <= 7),
        today=today,
        can_edit=role_allows(user.role, "responder"),
        active="incidents",
        page_title="Action items",
    )


@router.get("/incidents/{incident_id}/postmortem")
def postmortem_page(request: Request, incident_id: IncidentId, db: Db, user: PageUser) -> Response:
    return _editor(request, db, user, incident_id)


@router.post("/incidents/{incident_id}/postmortem")
def draft_postmortem(
    request: Request, incident_id: IncidentId, db: Db, user: PageResponder
) -> Response:
    try:
        postmortem.draft(db, incident_id, _actor(request, user))
    except ConflictError:
        db.rollback()
        return RedirectResponse(f"/incidents/{incident_id}/postmortem?done=exists", 303)
    db.commit()
    return RedirectResponse(f"/incidents/{incident_id}/postmortem?done=drafted", 303)


@router.post("/incidents/{incident_id}/postmortem/save")
def save_postmortem(
    request: Request,
    incident_id: IncidentId,
    db: Db,
    user: PageResponder,
    body: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "save",
) -> Response:
    """Save (keeping the status), publish, move back to draft, or re-pull the timeline;
    a refused text is shown again, unchanged, with the reason."""
    actor = _actor(request, user)
    try:
        if action == "timeline":
            postmortem.refresh(db, incident_id, actor, body)
            done = "timeline"
        else:
            view = postmortem.save(db, incident_id, body, actor, status=ACTIONS.get(action))
            done = {"save": "saved", "publish": "published", "unpublish": "unpublished"}.get(
                action, "saved"
            )
            if action == "save" and view.status == "published":
                done = "saved"
    except ValidationFailed as exc:
        db.rollback()
        return _editor(request, db, user, incident_id, body=body, errors=_messages(exc), status=422)
    db.commit()
    return RedirectResponse(f"/incidents/{incident_id}/postmortem?done={done}", 303)


@router.post("/incidents/{incident_id}/postmortem/preview")
def preview(
    request: Request,
    incident_id: IncidentId,
    db: Db,
    _: PageUser,
    body: Annotated[str, Form()] = "",
) -> Response:
    """The text as it would be exported, rendered (an htmx fragment)."""
    items = postmortem.items_for(db, incident_id)
    return render(
        request,
        "_postmortem_preview.html",
        oob=True,
        preview=markdown(postmortem.sync_items(body, items)),
        size=len(body.encode("utf-8")),
        limit=postmortem.MAX_BODY_BYTES,
    )


def _items_changed(request: Request, db: Db, user: SessionInfo, incident_id: int) -> Response:
    """After an item change: htmx gets the page (it swaps the items in, and the preview
    listens for "items-changed"); a plain form post is sent back to the page."""
    if _htmx(request):
        response = _editor(request, db, user, incident_id)
        response.headers["HX-Trigger"] = "items-changed"
        return response
    back = request.query_params.get("back")
    target = "/incidents/actions" if back == "actions" else f"/incidents/{incident_id}/postmortem"
    return RedirectResponse(f"{target}#action-items", 303)


def _day(value: str, errors: list[str]) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors.append(f'Due: "{value}" is not a day (YYYY-MM-DD)')
        return None


@router.post("/incidents/{incident_id}/action-items")
def add_item(
    request: Request,
    incident_id: IncidentId,
    db: Db,
    user: PageResponder,
    title: Annotated[str, Form()] = "",
    owner: Annotated[str, Form()] = "",
    due: Annotated[str, Form()] = "",
) -> Response:
    errors: list[str] = []
    day = _day(due, errors)
    if not errors:
        try:
            postmortem.add_item(db, incident_id, _actor(request, user), title, owner, day)
        except ValidationFailed as exc:
            db.rollback()
            errors = _messages(exc)
    if errors:
        form = {"title": title, "owner": owner, "due": due}
        # htmx swaps only 2xx answers: it gets the form back with the reasons as a 200.
        status = 200 if _htmx(request) else 422
        return _editor(
            request, db, user, incident_id, item_errors=errors, item_form=form, status=status
        )
    db.commit()
    return _items_changed(request, db, user, incident_id)


@router.post("/incidents/{incident_id}/action-items/{item_id}/done")
def mark_item(
    request: Request,
    incident_id: IncidentId,
    item_id: ItemId,
    db: Db,
    user: PageResponder,
    done: Annotated[str, Form()] = "",
) -> Response:
    """Mark an item done (``done`` sent, as a checked box is) or open again."""
    postmortem.update_item(db, incident_id, item_id, _actor(request, user), done=bool(done))
    db.commit()
    return _items_changed(request, db, user, incident_id)
