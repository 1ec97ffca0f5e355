"""Databases pages: the plan's databases worst first (health score, size, growth, top
finding, last collection), and one database with its tabs: overview (headline figures, size
chart with the capacity forecast), tables, indexes, queries (with the mean time history),
maintenance (tasks, windows, runs with their steps and SQL; dry run and run now) and
recommendations (dismiss with a reason, restore).

Tabs are plain links (``?tab=``): every tab works without scripts. The charts' points are
embedded in the page as JSON and drawn by uPlot (:mod:`watchkeeper.web.database_tabs`
computes what each tab shows); the maintenance tab is an htmx fragment polled every 3 s
while a run is queued or running. The buttons call what the API calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.databases import dry_run, queue_run, resolve_task
from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.dbmaint import advisor, views
from watchkeeper.dbmaint.collection import collect_and_store
from watchkeeper.dbmaint.maintenance import closed_reason
from watchkeeper.dbmaint.section import find_target, load_section, load_windows
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.metrics.source import SeriesSource
from watchkeeper.store.tables import utcnow
from watchkeeper.web import database_tabs as tabs
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
DatabaseName = Annotated[str, Path(max_length=128)]
TaskName = Annotated[str, Path(max_length=128)]
Tab = Literal["overview", "tables", "indexes", "queries", "maintenance", "recommendations"]
TABS: tuple[tuple[Tab, str], ...] = (
    ("overview", "Overview"),
    ("tables", "Tables"),
    ("indexes", "Indexes"),
    ("queries", "Queries"),
    ("maintenance", "Maintenance"),
    ("recommendations", "Recommendations"),
)
NOTICES = {
    "collected": "Collected just now.",
    "dry-run": "Dry run recorded: the steps below are what the task would run now.",
    "queued": "Run queued: the database service starts it within seconds.",
    "dismissed": "Recommendation dismissed.",
    "restored": "Recommendation shown again.",
}


# -- the list ---------------------------------------------------------------------------------


def worst_first(found: Sequence[views.DatabaseSummary]) -> list[views.DatabaseSummary]:
    """Unreachable databases first, then failing ones, then by health score (lowest first),
    then those never collected; by score and name within each."""
    groups = {"unreachable": 0, "failing": 1, "ok": 2}

    def key(s: views.DatabaseSummary) -> tuple[int, int, str]:
        return groups.get(s.status, 3), s.score if s.score is not None else 101, s.name

    return sorted(found, key=key)


@router.get("/databases")
async def databases_page(request: Request, db: Db, _: PageUser) -> Response:
    metrics = get_ctx(request).metrics
    found = await run_in_threadpool(lambda: views.list_databases(db, metrics))
    return render(
        request,
        "databases.html",
        databases=worst_first(found),
        now=utcnow(),
        active="databases",
        page_title="Databases",
        **tabs.HELPERS,
    )


def _pick(value: str, allowed: Any, default: str) -> Any:
    """``value`` when it is one of the Literal ``allowed``, else ``default``."""
    return value if value in get_args(allowed) else default


def _detail_context(
    db: Session,
    source: SeriesSource | None,
    name: str,
    tab: Tab,
    sort: str,
    now: datetime,
) -> dict[str, Any]:
    section = load_section(db)
    target = find_target(section, name)
    detail = views.database_detail(db, source, name, now=now, section=section)
    flags = tabs.flags_by_object(detail.recommendations)
    shown = [r for r in detail.recommendations if not r.dismissed]
    context: dict[str, Any] = {
        "d": detail,
        "s": detail.summary,
        "target": target,
        "counts": {
            "tables": len(detail.tables),
            "indexes": len(detail.indexes),
            "queries": len(detail.queries),
            "maintenance": len(detail.tasks),
            "recommendations": len(shown),
        },
        "shown": shown,
        "dismissed": [r for r in detail.recommendations if r.dismissed],
        "running": _running(detail.runs),
    }
    if tab == "overview":
        context["headlines"] = tabs.headlines(detail, target)
        chart = tabs.size_chart(source, target, detail.capacity, now)
        context["size_chart"] = tabs.as_json(chart)
    elif tab == "tables":
        context["rows"] = tabs.table_rows(detail, flags, _pick(sort, tabs.TableSort, "size"))
    elif tab == "indexes":
        context["rows"] = tabs.index_rows(detail, flags, _pick(sort, tabs.IndexSort, "size"))
    elif tab == "queries":
        rows = tabs.query_rows(detail, _pick(sort, tabs.QuerySort, "total"))
        chart = tabs.query_chart(rows)
        context["rows"] = rows
        context["sparks"] = {
            q.queryid: tabs.spark(
                [p.mean_ms for p in q.history], f"mean time per call, {len(q.history)} points"
            )
            for q in rows
        }
        context["query_chart"] = tabs.as_json(chart)
        context["charted"] = len(chart["series"])
    return context


def _running(runs: list[views.RunView]) -> bool:
    return any(r.status in ("queued", "running") for r in runs)


async def _detail_page(
    request: Request,
    db: Session,
    user: SessionInfo,
    name: str,
    *,
    tab: Tab = "overview",
    sort: str = "",
    done: str = "",
    run: int | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    metrics = get_ctx(request).metrics
    now = utcnow()
    context = await run_in_threadpool(_detail_context, db, metrics, name, tab, sort, now)
    return render(
        request,
        "database.html",
        **context,
        tab=tab,
        sort=sort,
        tabs=TABS,
        now=now,
        notice=NOTICES.get(done, ""),
        error=error,
        open_run=run,
        can_operate=role_allows(user.role, "operator"),
        active="databases",
        page_title=f"Databases: {name}",
        assets_charts=tab in ("overview", "queries"),
        scripts=["js/databases.js"],
        status=status,
        **tabs.HELPERS,
    )


@router.get("/databases/{database}")
async def database_page(
    request: Request,
    db: Db,
    user: PageUser,
    database: DatabaseName,
    tab: Tab = "overview",
    sort: Annotated[str, Query(max_length=16)] = "",
    done: Annotated[str, Query(max_length=16)] = "",
    run: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    return await _detail_page(request, db, user, database, tab=tab, sort=sort, done=done, run=run)


def _maintenance_context(db: Session, name: str, now: datetime) -> dict[str, Any]:
    target = find_target(load_section(db), name)
    runs = views.list_runs(db, database=name, limit=views.RUNS_SHOWN)
    return {
        "d": {"tasks": views.task_views(db, target, load_windows(db), now), "runs": runs},
        "s": {"name": name},
        "running": _running(runs),
    }


@router.get("/databases/{database}/maintenance")
async def maintenance_fragment(
    request: Request,
    db: Db,
    user: PageUser,
    database: DatabaseName,
    run: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The maintenance tab alone (tasks and runs), for htmx to swap in every 3 s while a
    run is queued or running."""
    now = utcnow()
    context = await run_in_threadpool(_maintenance_context, db, database, now)
    return render(
        request,
        "_db_maintenance.html",
        **context,
        open_run=run,
        now=now,
        can_operate=role_allows(user.role, "operator"),
        **tabs.HELPERS,
    )


def _to(name: str, **params: Any) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None and k != "anchor"})
    anchor = f"#{params['anchor']}" if params.get("anchor") else ""
    return RedirectResponse(f"/databases/{quote(name)}?{query}{anchor}", status_code=303)


# -- operator actions -------------------------------------------------------------------------


@router.post("/databases/{database}/collect")
async def collect_now(
    request: Request, db: Db, _: PageOperator, database: DatabaseName
) -> Response:
    """Collect the database's health now (as the API's "collect now" does)."""
    ctx = get_ctx(request)
    target = await run_in_threadpool(lambda: find_target(load_section(db), database))
    await collect_and_store(ctx.sessions, ctx.metrics, target)
    return _to(database, done="collected")


@router.post("/databases/{database}/tasks/{task}/run")
async def run_now(
    request: Request,
    db: Db,
    user: PageOperator,
    database: DatabaseName,
    task: TaskName,
    mode: Annotated[Literal["dry-run", "run"], Form()] = "dry-run",
    force: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """A dry run (planned in the request, as the API does) or a queued run that the
    database service claims; outside the task's windows a run needs ``force``."""
    now = utcnow()
    target, found, windows = await run_in_threadpool(resolve_task, db, database, task)
    if mode == "dry-run":
        planned = await dry_run(request, user, target, found, windows, now)
        return _to(
            database, tab="maintenance", done="dry-run", run=planned, anchor=f"run-{planned}"
        )
    reason = closed_reason(found, windows, now)
    if reason and not force:
        return await _detail_page(
            request,
            db,
            user,
            database,
            tab="maintenance",
            error=f"{task} is {reason}; confirm “Run now (outside windows)” to run it anyway",
            status=409,
        )
    run_id = await queue_run(request, db, user, target, found)
    return _to(database, tab="maintenance", done="queued", run=run_id, anchor=f"run-{run_id}")


@router.post("/databases/{database}/recommendations/dismiss")
async def dismiss(
    request: Request,
    db: Db,
    user: PageOperator,
    database: DatabaseName,
    key: Annotated[str, Form(max_length=255)] = "",
    reason: Annotated[str, Form(max_length=advisor.MAX_REASON)] = "",
    until: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Dismiss recommendation ``key`` with ``reason`` (until a date, when given)."""
    actor = request_actor(request, user)

    def work() -> None:
        find_target(load_section(db), database)
        when = None
        if until.strip():
            try:
                when = datetime.fromisoformat(until.strip())
            except ValueError:
                raise ValidationFailed(
                    "until: not a date", [("until", f'"{until}" is not a date (2026-12-31)')]
                ) from None
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            if len(until.strip()) == 10:  # a day (the form's date field): until its end
                when += timedelta(days=1)
        advisor.dismiss(db, actor, database, key, reason, until=when)
        db.commit()

    try:
        await run_in_threadpool(work)
    except ValidationFailed as exc:
        db.rollback()
        problems = "; ".join(f"{f}: {m}" for f, m in exc.errors) if exc.errors else str(exc)
        return await _detail_page(
            request, db, user, database, tab="recommendations", error=problems, status=422
        )
    return _to(database, tab="recommendations", done="dismissed", anchor="dismissed")


@router.post("/databases/{database}/recommendations/restore")
async def restore(
    request: Request,
    db: Db,
    user: PageOperator,
    database: DatabaseName,
    key: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Show a dismissed recommendation again."""
    actor = request_actor(request, user)

    def work() -> None:
        find_target(load_section(db), database)
        advisor.restore(db, actor, database, key)
        db.commit()

    await run_in_threadpool(work)
    return _to(database, tab="recommendations", done="restored")
