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
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.backups import RestoreIn, queue_restore_request, runbook_text
from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.backups import views
from watchkeeper.backups.restic import Restic
from watchkeeper.backups.restore import restore_points
from watchkeeper.exceptions import ValidationFailed, WatchkeeperError
from watchkeeper.store.tables import utcnow
from watchkeeper.web.hosts import human_bytes
from watchkeeper.web.pages import render
from watchkeeper.web.timefmt import span

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


PageAdmin = Annotated[SessionInfo, require("admin", page=True)]


async def _restore_page(
    request: Request, db: Db, policy: str, *, error: str = "", form: dict[str, str] | None = None
) -> Response:
    section = await run_in_threadpool(views.load_section, db)
    views.find_policy(section, policy)  # 404 for an unknown policy
    engine = Restic(cache_dir=get_ctx(request).settings.home / "cache" / "restic")
    try:
        points, errors = await restore_points(engine, section, policy)
    except WatchkeeperError as exc:
        points, errors = [], {"repositories": str(exc)}
    points.reverse()  # newest first
    return render(
        request,
        "backup_restore.html",
        policy=policy,
        points=points,
        errors=errors,
        error=error,
        form=form or {},
        today=utcnow().strftime("%Y%m%d"),
        active="backups",
        page_title=f"Restore: {policy}",
        status=422 if error else 200,
    )


@router.get("/backups/{policy}/restore")
async def restore_page(request: Request, db: Db, _: PageAdmin, policy: PolicyName) -> Response:
    """Choose a restore point and where it goes (a new database or a new directory)."""
    return await _restore_page(request, db, policy)


@router.post("/backups/{policy}/restore")
async def restore_submit(
    request: Request,
    db: Db,
    user: PageAdmin,
    policy: PolicyName,
    point: Annotated[str, Form()] = "",
    into: Annotated[str, Form()] = "",
    directory: Annotated[str, Form()] = "",
    owners: Annotated[str, Form()] = "",
) -> Response:
    """Queue the restore (the backups scheduler carries it out) and show its progress."""
    form = {"point": point, "into": into, "directory": directory, "owners": owners}
    repository, _, rest = point.partition("|")
    snapshot, _, kind = rest.partition("|")
    try:
        body = RestoreIn(
            repository=repository,
            snapshot=snapshot,
            kind=kind,  # validated by the model
            into=into.strip() or None if kind == "database" else None,
            directory=directory.strip() or None if kind == "files" else None,
            owners=bool(owners),
        )
        run_id = await run_in_threadpool(
            queue_restore_request, db, request_actor(request, user), policy, body
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "point"
        message = (
            "choose a restore point"
            if where in ("kind", "snapshot", "repository")
            else (f"{where}: {first['msg']}")
        )
        return await _restore_page(request, db, policy, error=message, form=form)
    except ValidationFailed as exc:
        db.rollback()
        return await _restore_page(request, db, policy, error=str(exc), form=form)
    return RedirectResponse(
        f"/backups/{quote(policy)}?restore={run_id}#backup-progress", status_code=303
    )
