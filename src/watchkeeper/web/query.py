"""The metrics query page: a PromQL box, a chart of the range and a table of the values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.api.deps import require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
RANGES = ("5m", "15m", "1h", "3h", "6h", "12h", "24h", "2d", "7d", "30d")
EXAMPLES = (
    ("Targets that are up", "up"),
    (
        "CPU busy per host (%)",
        'avg by (instance) (1 - rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100',
    ),
    (
        "Memory used per host (%)",
        "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
    ),
    ("Network received per interface", 'rate(node_network_receive_bytes_total{device!="lo"}[5m])'),
    (
        "Samples stored per second",
        'sum(rate(watchkeeper_ingest_samples_total{result="accepted"}[5m]))',
    ),
    (
        "Watchkeeper's requests per route",
        "sum by (route) (rate(watchkeeper_http_requests_total[5m]))",
    ),
)


@router.get("/query")
def query_page(
    request: Request,
    _: PageUser,
    q: str = "",
    range: str = "1h",  # noqa: A002 - the URL's name
) -> Response:
    return render(
        request,
        "query.html",
        q=q,
        range=range if range in RANGES else "1h",
        ranges=RANGES,
        examples=EXAMPLES,
        active="query",
        page_title="Metrics",
        assets_charts=True,
        scripts=["js/promchart.js", "js/query.js"],
    )
