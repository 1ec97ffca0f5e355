"""Capacity pages: the report (what runs out first and when, each row with a small chart of
its history, projection, band and limit) and one forecast with its large chart.

The charts are drawn by ``js/capacity.js`` from ``/api/v1/capacity/{id}`` (the stored
forecast's series): a row's chart loads when it scrolls into view, so a long report costs
only what is looked at.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.releases.capacity import describe
from watchkeeper.releases.capacity import report as capacity_report
from watchkeeper.store.tables import utcnow
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PER_PAGE = 100
WITHIN_CHOICES = ("", "7d", "14d", "30d", "90d")
STATUS_LABELS = {
    "over": "at the limit",
    "soon": "soon",
    "later": "within horizon",
    "never": "not within horizon",
    "insufficient": "too little history",
    "error": "error",
}
STATUS_CLASSES = {
    "over": "status-down",
    "soon": "warn",
    "later": "",
    "never": "ok",
    "insufficient": "muted",
    "error": "status-down",
}
FILTERS: dict[str, Any] = {
    "value": describe.value,
    "growth": describe.growth,
    "day": describe.day,
}


def _helpers(now: datetime) -> dict[str, Any]:
    return {
        **FILTERS,
        "left": lambda at: describe.days_left(at, now),
        "status_labels": STATUS_LABELS,
        "status_classes": STATUS_CLASSES,
        "within_days": lambda s: f"{s / 86_400:g} d" if s else "never",
    }


@router.get("/capacity")
def capacity_page(
    request: Request,
    db: Db,
    _: PageUser,
    within: Annotated[str, Query(max_length=20)] = "",
    kind: Literal["", "host", "target", "database"] = "",
    host: Annotated[str, Query(max_length=200)] = "",
    status: Literal["", "over", "soon", "later", "never", "insufficient", "error"] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    now = utcnow()
    error = ""
    span = None
    if within:
        try:
            span = capacity_report.parse_within(within)
        except ValidationFailed as exc:
            error = exc.errors[0][1]
    found = capacity_report.report(
        db, now, within=span, kind=kind or None, host=host.strip() or None, status=status or None
    )
    pages = max(1, -(-len(found.items) // PER_PAGE))
    shown = found.items[(page - 1) * PER_PAGE : page * PER_PAGE]
    first = next((v for v in found.items if v.status in ("over", "soon", "later")), None)
    return render(
        request,
        "capacity.html",
        report=found,
        items=shown,
        first=first,
        within=within,
        kind=kind,
        host=host,
        only=status,
        error=error,
        page=page,
        pages=pages,
        within_choices=WITHIN_CHOICES,
        now=now,
        active="capacity",
        page_title="Capacity",
        assets_charts=True,
        scripts=["js/capacity.js"],
        **_helpers(now),
    )


@router.get("/capacity/{forecast_id}")
def capacity_item_page(request: Request, db: Db, _: PageUser, forecast_id: int) -> Response:
    now = utcnow()
    view, _series = capacity_report.get(db, forecast_id, now)
    return render(
        request,
        "capacity_item.html",
        item=view,
        now=now,
        active="capacity",
        page_title=view.title,
        assets_charts=True,
        scripts=["js/capacity.js"],
        **_helpers(now),
    )
