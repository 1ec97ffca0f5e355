"""The notifications page: the plan's channels (with a test send for operators) and the
outbox with status, attempts and errors, failures first to the eye."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.api.deps import Db, require
from watchkeeper.api.notifications import queue_test, wake_worker
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.notify import views
from watchkeeper.web import alerts as _filters  # noqa: F401 - registers the ago/value filters
from watchkeeper.web.pages import client_addr, render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
PER_PAGE = 50


@router.get("/notifications")
def notifications_page(
    request: Request,
    db: Db,
    user: PageUser,
    status: views.Status | None = None,
    channel: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    result = views.list_notifications(
        db, status=status, channel=channel, page=page, per_page=PER_PAGE
    )
    sent = request.query_params.get("sent", "")
    return render(
        request,
        "notifications.html",
        result=result,
        channels=views.list_channels(db),
        statuses=views.STATUSES,
        filters={"status": status or "", "channel": channel},
        page=page,
        pages=max(1, -(-result.total // PER_PAGE)),
        sent=sent if sent.isdigit() else "",
        sent_to=request.query_params.get("to", ""),
        can_test=role_allows(user.role, "operator"),
        active="notifications",
        page_title="Notifications",
    )


@router.post("/notifications/channels/{name}/test")
def send_test(request: Request, name: str, db: Db, user: PageOperator) -> Response:
    notification_id = queue_test(db, Actor(user.username, client_addr(request)), name)
    db.commit()
    wake_worker(request)
    return RedirectResponse(
        f"/notifications?sent={notification_id}&to={quote(name)}#outbox", status_code=303
    )
