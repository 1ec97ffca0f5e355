"""Checks pages: the list (status, uptime, filters) and one check (chart, history)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.checks import views
from watchkeeper.exceptions import NotFoundError
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
        active="checks",
        page_title=name,
        assets_charts=True,
    )
