"""The calendar page: an agenda of the coming weeks (task instances and occurrences,
releases, freezes, maintenance and patch windows, on-call shifts, drills) grouped by day,
filtered by kind and narrowed to the signed-in user if asked, with the user's iCal feeds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from watchkeeper.api.calendar import audience, feed_url, kinds_of
from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.store.tables import utcnow
from watchkeeper.tasks import calendar
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
LABELS = {
    "task": "Tasks",
    "release": "Releases",
    "freeze": "Freezes",
    "maintenance": "Maintenance windows",
    "patch_window": "Patch windows",
    "oncall": "On call",
    "drill": "Drills",
}


@router.get("/calendar")
def calendar_page(
    request: Request,
    db: Db,
    user: PageUser,
    start: Annotated[date | None, Query()] = None,
    days: Annotated[int, Query(ge=1, le=120)] = 28,
    kind: Annotated[list[str] | None, Query()] = None,
    mine: Annotated[bool, Query()] = False,
) -> Response:
    now = utcnow()
    first = start or now.date()
    begin = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    try:
        kinds = kinds_of(kind)
    except ValidationFailed:
        kinds = frozenset(calendar.KINDS)
    who = audience(db, user=user.username) if mine else None
    found = calendar.events(db, begin, begin + timedelta(days=days), now=now, who=who, kinds=kinds)
    by_day = [
        (day, list(items))
        for day, items in groupby(found, key=lambda e: max(e.start, begin).date())
    ]
    settings = get_ctx(request).settings
    return render(
        request,
        "calendar.html",
        by_day=by_day,
        begin=begin,
        days=days,
        kinds=kinds,
        labels=LABELS,
        mine=mine,
        feed=feed_url(settings, "users", user.username),
        previous=(first - timedelta(days=days)).isoformat(),
        following=(first + timedelta(days=days)).isoformat(),
        today=now.date(),
        active="calendar",
        page_title="Calendar",
    )
