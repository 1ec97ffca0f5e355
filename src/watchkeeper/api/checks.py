"""Health checks: current state, uptime, results for charts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.checks import views
from watchkeeper.exceptions import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["checks"])
Viewer = Annotated[SessionInfo, require("viewer")]


@router.get("/checks", summary="Checks with their state and uptime (down first)")
def list_checks(
    db: Db,
    _: Viewer,
    status: str = "",
    tag: str = "",
    team: str = "",
    q: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    result = views.list_checks(
        db, status=status, tag=tag, team=team, query=q, page=page, per_page=per_page
    )
    return {
        "total": result.total,
        "counts": result.counts,
        "page": page,
        "checks": [asdict(r) for r in result.rows],
    }


@router.get("/checks/{name}", summary="One check with its state and uptime")
def get_check(name: str, db: Db, _: Viewer) -> dict[str, Any]:
    check = views.get_check(db, name)
    if check is None:
        raise NotFoundError(f'no check named "{name}"')
    return asdict(check)


@router.get("/checks/{name}/results", summary="Response times and results for a chart")
def results(
    name: str, db: Db, _: Viewer, hours: Annotated[int, Query(ge=1, le=24 * 7)] = 24
) -> dict[str, list[Any]]:
    if views.get_check(db, name) is None:
        raise NotFoundError(f'no check named "{name}"')
    return views.response_series(db, name, timedelta(hours=hours))
