"""Backups pages: the policies (freshness, last backup, last drill, next run) and one policy
(repositories, runs in progress with a live progress bar, size and duration chart, recent
runs, the DR runbook rendered with a download link).

The progress bar is an htmx fragment polled every 2 s while something runs; the chart's
points are embedded in the page (at most a few hundred backups), drawn by uPlot.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.backups import runbook_text
from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.backups import views
from watchkeeper.store.tables import utcnow
from watchkeeper.web.alerts import span
from watchkeeper.web.hosts import human_bytes
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PolicyName = Annotated[str, Path(max_length=128)]
RECENT_RUNS = 25
# As the other pages render Markdown: raw HTML shown as text, unsafe link schemes dropped.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def runbook_html(text: str) -> Markup:
    """Render the runbook under the page's own "Disaster recovery runbook" heading: its
    title is left out and its sections go one level down (h2 -> h3), one h1 per page."""
    tokens = _markdown.parse(text)
    if tokens and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
        tokens = tokens[3:]  # heading_open, inline, heading_close
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    return Markup(_markdown.renderer.render(tokens, _markdown.options, {}))


def _duration(seconds: float | None) -> str:
    return "–" if seconds is None else span(seconds) if seconds >= 1 else f"{seconds:.1f} s"


def _age(run: views.RunView, now: datetime) -> str:
    """How long ago ``run`` finished, compactly: "6 h", "2 d" (the stat cards)."""
    seconds = (now - (run.finished_at or run.started_at)).total_seconds()
    if seconds < 3600:
        return f"{max(round(seconds / 60), 0)} min"
    return f"{round(seconds / 3600)} h" if seconds < 2 * 86400 else f"{round(seconds / 86400)} d"


def _change(pct: float | None) -> str:
    return "–" if pct is None else f"{pct:+.0f}%"


def chart_points(points: list[views.HistoryPoint]) -> Markup:
    """The chart's columns as JSON for a ``<script type="application/json">`` element."""
    data = {
        "t": [p.at.timestamp() for p in points],
        "size": [p.bytes_total for p in points],
        "added": [p.bytes_added for p in points],
        "duration": [p.duration_s for p in points],
        "repository": [p.repository for p in points],
    }
    # "</" would end the script element early; "<\/" is the same JSON string.
    return Markup(json.dumps(data).replace("</", "<\\/"))


_HELPERS: dict[str, Any] = {
    "human_bytes": human_bytes,
    "duration": _duration,
    "change": _change,
    "age": _age,
}


@router.get("/backups")
async def backups_page(request: Request, db: Db, _: PageUser) -> Response:
    found = await run_in_threadpool(views.overview, db)
    return render(
        request,
        "backups.html",
        policies=found,
        now=utcnow(),
        active="backups",
        page_title="Backups",
        **_HELPERS,
    )


def _policy_page_data(db: Session, name: str) -> dict[str, Any]:
    section = views.load_section(db)
    view = views.policy_view(db, section, views.find_policy(section, name))
    return {
        "view": view,
        "runs": views.list_runs(db, policy=name, limit=RECENT_RUNS),
        "points": chart_points(views.history(db, name)),
        "runbook": runbook_html(runbook_text(db, name)),
    }


@router.get("/backups/{policy}")
async def policy_page(request: Request, db: Db, _: PageUser, policy: PolicyName) -> Response:
    data = await run_in_threadpool(_policy_page_data, db, policy)
    return render(
        request,
        "backup_policy.html",
        **data,
        now=utcnow(),
        active="backups",
        page_title=f"Backups: {policy}",
        assets_charts=True,
        scripts=["js/backups.js"],
        **_HELPERS,
    )


def _running(db: Session, name: str) -> views.PolicyView:
    section = views.load_section(db)
    return views.policy_view(db, section, views.find_policy(section, name))


@router.get("/backups/{policy}/progress")
async def progress_fragment(request: Request, db: Db, _: PageUser, policy: PolicyName) -> Response:
    """The runs-in-progress box alone, for htmx to swap in every 2 s."""
    view = await run_in_threadpool(_running, db, policy)
    return render(request, "_backup_progress.html", view=view, **_HELPERS)
