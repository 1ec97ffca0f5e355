"""The log explorer (``/logs``) and the streams page (``/logs/streams``).

The explorer is one page whose script calls the log query API (histogram, lines, context,
live tail, saved searches, history); the streams page is rendered here from the same
figures ``GET /api/v1/logs/streams`` answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import get_ctx, require
from watchkeeper.api.logs import run_streams
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.logs.selector import quote
from watchkeeper.web.hosts import human_bytes
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
RANGES = ("5m", "15m", "1h", "6h", "24h", "7d")
EXAMPLES = (
    ("Lines with a word, anywhere", "timeout"),
    ("Errors of one app", '{app="api", level="error"}'),
    ("Text inside a stream, minus noise", '{app="api"} |= "GET /orders" != "/health"'),
    ("Structured fields", '{app="api"} | status >= 500 | user=~"adm.*"'),
    ("Errors per level, every 5 minutes", 'sum by (level) (count_over_time({app="api"}[5m]))'),
)


def selector(labels: dict[str, str]) -> str:
    """The stream selector matching exactly these labels: ``{app="api", level="info"}``."""
    return "{" + ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items())) + "}"


@router.get("/logs")
def explorer(
    request: Request,
    _: PageUser,
    q: str = "",
    range: str = "1h",  # noqa: A002 - the URL's name
) -> Response:
    return render(
        request,
        "logs.html",
        q=q,
        range=range if range in RANGES else "1h",
        ranges=RANGES,
        examples=EXAMPLES,
        active="logs",
        page_title="Logs",
        assets_charts=True,
        scripts=["js/logs.js"],
    )


@router.get("/logs/streams")
async def streams_page(request: Request, _: PageUser) -> Response:
    found = await run_in_threadpool(run_streams, get_ctx(request).logs)
    return render(
        request,
        "logs_streams.html",
        streams=[{**s, "selector": selector(s["labels"])} for s in found["streams"]],
        disk_bytes=found["disk_bytes"],
        default_retention=found["default_retention"],
        human_bytes=human_bytes,
        active="logs",
        page_title="Log streams",
        scripts=["js/logs_streams.js"],
    )
