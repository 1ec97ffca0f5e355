"""Checks pages: the list (status, uptime, filters) and one check (chart, history)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.checks import pings, views
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.plan import catalog
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PER_PAGE = 50


@router.get("/checks")
def checks_page(
    request: Request,
    db: Db,
    user: PageUser,
    status: str = "",
    tag: str = "",
    team: str = "",
    q: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    result = views.list_checks(
        db, status=status, tag=tag, team=team, query=q, page=page, per_page=PER_PAGE
    )
    pages = max(1, -(-result.total // PER_PAGE))
    return render(
        request,
        "checks.html",
        result=result,
        page=page,
        pages=pages,
        filters={"status": status, "tag": tag, "team": team, "q": q},
        can_create=role_allows(user.role, "operator"),
        active="checks",
        page_title="Health checks",
    )


@router.get("/checks/{name}")
def check_page(request: Request, name: str, db: Db, user: PageUser) -> Response:
    check = views.get_check(db, name)
    if check is None:
        raise NotFoundError(f'no check named "{name}"')
    return render(
        request,
        "check.html",
        check=check,
        history=views.state_history(db, name),
        failures=views.recent_failures(db, name),
        heartbeat=_heartbeat(request, db, name) if check.type == "heartbeat" else None,
        active="checks",
        page_title=name,
        assets_charts=True,
    )


def _heartbeat(request: Request, db: Db, name: str) -> dict[str, Any]:
    """Return the push URL (on the public URL when one is set, else the one the browser
    used) and the latest pings of heartbeat ``name``; its key is stored on first view."""
    configured = catalog.get_object(db, "checks", name).spec.get("key")
    try:
        key = pings.ensure_key(db, name, configured).key
    except ConflictError as exc:
        return {"error": str(exc), "pings": []}
    base = get_ctx(request).settings.public_url or str(request.base_url)
    return {"url": pings.push_url(base, key), "pings": pings.recent_pings(db, name)}
