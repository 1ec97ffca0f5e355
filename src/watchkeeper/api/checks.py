"""Health checks: current state, uptime, results for charts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.checks import pings, views
from watchkeeper.exceptions import NotFoundError
from watchkeeper.plan import catalog

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


@router.get("/checks/{name}/pings", summary="A heartbeat check's push URL and latest pings")
def heartbeat_pings(
    name: str,
    request: Request,
    db: Db,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    spec = catalog.get_object(db, "checks", name).spec
    if spec.get("type") != "heartbeat":
        raise NotFoundError(f'check "{name}" is not a heartbeat; it has no push URL')
    key = pings.ensure_key(db, name, spec.get("key")).key
    base = get_ctx(request).settings.public_url or str(request.base_url)
    return {
        "ping_url": pings.push_url(base, key),
        "pings": [
            {
                "at": p.at,
                "kind": p.kind,
                "exit_status": p.exit_status,
                "remote_addr": p.remote_addr,
                "user_agent": p.user_agent,
                "body": p.body,
            }
            for p in pings.recent_pings(db, name, limit)
        ],
    }
