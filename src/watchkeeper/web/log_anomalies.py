"""The log anomalies page, ``/logs/anomalies``: new templates first, then rate anomalies,
each with example lines, first seen, its hourly counts and a link to the log search."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.logs.anomalies.service import LEARNING, NEW_FOR
from watchkeeper.logs.anomalies.views import SPARK_HOURS, anomalies
from watchkeeper.store.tables import utcnow
from watchkeeper.web.errors import spark_bars
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]


@router.get("/logs/anomalies")
def anomalies_page(request: Request, db: Db, _: PageUser) -> Response:
    now = utcnow()
    found = anomalies(db, now)
    last_hour = int(now.timestamp() // 3600)
    times = [(last_hour - SPARK_HOURS + 1 + i) * 3600 for i in range(SPARK_HOURS)]
    new: list[dict[str, Any]] = []
    rates: list[dict[str, Any]] = []
    for a in found:
        row = {
            "a": a,
            "spark": spark_bars(a.hours, times, 3600),
            "search": "/logs?" + urlencode({"q": a.search, "range": "24h"}),
        }
        (new if a.kind == "new" else rates).append(row)
    return render(
        request,
        "log_anomalies.html",
        new=new,
        rates=rates,
        learning_hours=int(LEARNING.total_seconds() // 3600),
        new_hours=int(NEW_FOR.total_seconds() // 3600),
        spark_hours=SPARK_HOURS,
        active="logs",
        page_title="Log anomalies",
    )
