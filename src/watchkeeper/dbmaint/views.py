"""What the databases API and pages show: the list of the plan's databases with their health,
one database in detail (summary, tables, indexes, queries with their history, sessions and
locks, maintenance tasks and runs, recommendations, capacity), and the maintenance runs.

Read from the plan, the ``db_*`` tables and the metrics store only, so that any replica
answers the same. Nothing here returns a secret: a database's URL is shown as
``host:port/database``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper import forecast
from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.alerts.windows import is_open
from watchkeeper.dbmaint import advisor, capacity
from watchkeeper.dbmaint.alerting import UNREACHABLE_AFTER
from watchkeeper.dbmaint.collection import PREFIX
from watchkeeper.dbmaint.config import DatabaseConfig, DatabasesSection, MaintenanceTask
from watchkeeper.dbmaint.section import find_target, load_section, load_windows
from watchkeeper.metrics.labels import METRIC_NAME, STALE_NAN_BITS, Matcher
from watchkeeper.metrics.source import SeriesSource
from watchkeeper.store.tables import DbHealth, DbMaintenanceRun, DbQueryText, utcnow

Status = Literal["ok", "failing", "unreachable", "pending"]
GROWTH_WINDOW = timedelta(days=7)
QUERY_HISTORY = timedelta(days=7)
RUNS_SHOWN = 50
FIGURES = ("size_bytes", "dead_tuples", "bloat_bytes")
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DatabaseSummary:
    name: str
    type: str
    team: str
    where: str  # host:port/database or the SQLite file; never credentials
    status: Status
    score: int | None  # None until the first good collection
    size_bytes: int | None
    growth_per_day: float | None  # bytes, straight line over GROWTH_WINDOW
    top_finding: advisor.Recommendation | None
    findings: dict[str, int]  # shown (not dismissed) recommendations per severity
    collected_at: datetime | None  # the last attempt
    last_ok_at: datetime | None
    duration_s: float | None
    queries: int | None  # statements the last collection sent
    failures: int  # collections failed in a row
    error: str  # of the last attempt, when it failed
    collect_interval_s: float
    size_budget: int | None


@dataclass(frozen=True)
class StepView:
    target: str
    sql: str
    reason: str
    status: str
    before: dict[str, float]
    after: dict[str, float]
    duration_s: float
    error: str


@dataclass(frozen=True)
class RunView:
    id: int
    database: str
    task: str
    action: str
    status: str  # queued, running, succeeded, failed, skipped
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    error: str
    steps: list[StepView]
    before: dict[str, float]  # the steps' figures summed (size_bytes, dead_tuples, ...)
    after: dict[str, float]


@dataclass(frozen=True)
class TaskView:
    name: str
    action: str
    schedule: str
    next_run: datetime
    windows: list[str]
    window_open: bool  # one of its windows is open now
    last_run: RunView | None


@dataclass(frozen=True)
class QueryPoint:
    at: datetime
    calls_per_s: float
    mean_ms: float | None  # None when no call finished in the interval


@dataclass(frozen=True)
class QueryView:
    queryid: str
    query: str
    calls: float
    total_ms: float
    mean_ms: float
    rows: float
    blocks_read: float
    blocks_hit: float
    extra: dict[str, Any]  # whatever else the collector reported
    history: list[QueryPoint]


@dataclass(frozen=True)
class DatabaseDetail:
    summary: DatabaseSummary
    details: dict[str, Any]  # the collector's headline figures (``summary``) and the rest
    tables: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    queries: list[QueryView]
    sessions: list[Any]
    locks: list[Any]
    replication: Any
    settings: dict[str, Any]
    tasks: list[TaskView]
    runs: list[RunView]
    recommendations: list[advisor.Recommendation]  # dismissed ones included, marked
    capacity: capacity.Capacity


def where_of(target: DatabaseConfig) -> str:
    """Where ``target`` is, without who or a password: ``host:port/database`` or the path."""
    if target.type == "sqlite":
        return target.path
    try:
        parts = urlsplit(target.url)
        port = f":{parts.port}" if parts.port else ""
        name = parts.path.lstrip("/")
    except ValueError:
        return "(unreadable URL)"
    return f"{parts.hostname or 'localhost'}{port}/{name}"


def _status(row: DbHealth | None) -> Status:
    if row is None:
        return "pending"
    if row.failures >= UNREACHABLE_AFTER:
        return "unreachable"
    if row.failures > 0:
        return "failing"
    return "ok" if row.last_ok_at is not None else "pending"


def _counts(recs: list[advisor.Recommendation]) -> dict[str, int]:
    out = {"critical": 0, "warning": 0, "info": 0}
    for r in recs:
        if not r.dismissed:
            out[r.severity] = out.get(r.severity, 0) + 1
    return out


def _growth(source: SeriesSource | None, now: datetime) -> dict[str, float]:
    """Growth per day of every database's size over GROWTH_WINDOW (one read for all)."""
    if source is None:
        return {}
    found = source.select(
        [Matcher(METRIC_NAME, "=", PREFIX + "size_bytes")],
        int((now - GROWTH_WINDOW).timestamp() * 1000),
        int(now.timestamp() * 1000),
    )
    out = {}
    for series in found:
        keep = series.values.view(np.uint64) != STALE_NAN_BITS
        fit = forecast.fit_linear(series.ts[keep] / 1000.0, series.values[keep])
        if fit is not None:
            out[dict(series.labels).get("database", "")] = fit.per_day
    return out


def _summary(
    target: DatabaseConfig,
    row: DbHealth | None,
    recs: list[advisor.Recommendation],
    growth: dict[str, float],
) -> DatabaseSummary:
    shown = [r for r in recs if not r.dismissed]
    good = row is not None and row.last_ok_at is not None
    return DatabaseSummary(
        name=target.name,
        type=target.type,
        team=target.team,
        where=where_of(target),
        status=_status(row),
        score=row.score if row is not None and good else None,
        size_bytes=row.size_bytes if row is not None and good else None,
        growth_per_day=growth.get(target.name),
        top_finding=shown[0] if shown else None,
        findings=_counts(recs),
        collected_at=row.collected_at if row else None,
        last_ok_at=row.last_ok_at if row else None,
        duration_s=row.duration_s if row else None,
        queries=row.queries if row and good else None,
        failures=row.failures if row else 0,
        error=row.error if row and not row.ok else "",
        collect_interval_s=target.collect_interval.total_seconds(),
        size_budget=target.size_budget,
    )


def list_databases(
    db: Session,
    source: SeriesSource | None = None,
    *,
    now: datetime | None = None,
    section: DatabasesSection | None = None,
) -> list[DatabaseSummary]:
    """Every database of the plan (the stored one unless ``section``) with its health, in
    plan order."""
    now = now or utcnow()
    section = section or load_section(db)
    health = {h.database: h for h in db.scalars(select(DbHealth))}
    recs: dict[str, list[advisor.Recommendation]] = {}
    for r in advisor.recommendations(db, include_dismissed=True, now=now):
        recs.setdefault(r.database, []).append(r)
    growth = _growth(source, now)
    return [_summary(t, health.get(t.name), recs.get(t.name, []), growth) for t in section.targets]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _figures(raw: Any) -> dict[str, float]:
    return {str(k): _number(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def run_view(row: DbMaintenanceRun) -> RunView:
    steps = [
        StepView(
            target=str(s.get("target", "")),
            sql=str(s.get("sql", "")),
            reason=str(s.get("reason", "")),
            status=str(s.get("status", "")),
            before=_figures(s.get("before")),
            after=_figures(s.get("after")),
            duration_s=_number(s.get("duration_s")),
            error=str(s.get("error", "")),
        )
        for s in row.steps or []
        if isinstance(s, dict)
    ]
    # The effect: the steps that ran, before and after; a dry run: what it would act on.
    ran = [s for s in steps if s.after] or steps
    before = {k: sum(s.before[k] for s in ran if k in s.before) for k in FIGURES}
    after = {k: sum(s.after[k] for s in ran if k in s.after) for k in FIGURES}
    return RunView(
        id=row.id,
        database=row.database,
        task=row.task,
        action=row.action,
        status=row.status,
        trigger=row.trigger,
        dry_run=row.dry_run,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_s=row.duration_s,
        error=row.error,
        steps=steps,
        before={k: v for k, v in before.items() if any(k in s.before for s in ran)},
        after={k: v for k, v in after.items() if any(k in s.after for s in ran)},
    )


def list_runs(
    db: Session,
    *,
    database: str | None = None,
    task: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[RunView]:
    """Maintenance runs, newest first, filtered by database, task and status."""
    query = select(DbMaintenanceRun).order_by(
        DbMaintenanceRun.started_at.desc(), DbMaintenanceRun.id.desc()
    )
    if database is not None:
        query = query.where(DbMaintenanceRun.database == database)
    if task is not None:
        query = query.where(DbMaintenanceRun.task == task)
    if status is not None:
        query = query.where(DbMaintenanceRun.status == status)
    return [run_view(r) for r in db.scalars(query.limit(limit))]


def get_run(db: Session, run_id: int) -> RunView | None:
    row = db.get(DbMaintenanceRun, run_id)
    return run_view(row) if row is not None else None


def task_views(
    db: Session,
    target: DatabaseConfig,
    windows: dict[str, MaintenanceWindow],
    now: datetime,
) -> list[TaskView]:
    out = []
    for task in target.maintenance:
        last = list_runs(db, database=target.name, task=task.name, limit=1)
        out.append(
            TaskView(
                name=task.name,
                action=task.action,
                schedule=task.schedule,
                next_run=next_run(task, now),
                windows=list(task.windows),
                window_open=window_open(task, windows, now),
                last_run=last[0] if last else None,
            )
        )
    return out


def next_run(task: MaintenanceTask, now: datetime) -> datetime:
    nxt: datetime = croniter(task.schedule, now).get_next(datetime)
    return nxt.astimezone(UTC)


def window_open(
    task: MaintenanceTask, windows: dict[str, MaintenanceWindow], now: datetime
) -> bool:
    """True when one of ``task``'s maintenance windows is open at ``now``."""
    return any(is_open(windows[w], now) for w in task.windows if w in windows)


def _deltas(
    ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[Floats, Floats, Floats]:
    """Per interval: end time (s), elapsed seconds, counter increase (NaN after a reset)."""
    seconds = ts / 1000.0
    increase = np.diff(values)
    increase[increase < 0] = np.nan  # the statistics were reset: no figure for that step
    return seconds[1:], np.diff(seconds), increase


def query_history(
    source: SeriesSource,
    database: str,
    *,
    now: datetime,
    window: timedelta = QUERY_HISTORY,
    queryids: set[str] | None = None,
) -> dict[str, list[QueryPoint]]:
    """Per query: calls per second and mean time per call between collections over
    ``window`` (from the ``statement_calls_total`` and ``statement_exec_seconds_total``
    counters): a regression after a release shows as a step in the mean."""
    start, end = int((now - window).timestamp() * 1000), int(now.timestamp() * 1000)

    def read(name: str) -> dict[str, tuple[npt.NDArray[np.int64], Floats]]:
        found = source.select(
            [Matcher(METRIC_NAME, "=", PREFIX + name), Matcher("database", "=", database)],
            start,
            end,
        )
        out = {}
        for s in found:
            qid = dict(s.labels).get("queryid", "")
            if queryids is None or qid in queryids:
                keep = s.values.view(np.uint64) != STALE_NAN_BITS
                out[qid] = (s.ts[keep], s.values[keep])
        return out

    calls, seconds = read("statement_calls_total"), read("statement_exec_seconds_total")
    history: dict[str, list[QueryPoint]] = {}
    for qid, (ts, values) in calls.items():
        if len(ts) < 2:
            continue
        at, elapsed, increase = _deltas(ts, values)
        exec_by_ts: dict[float, float] = {}
        if qid in seconds:
            ets, evalues = seconds[qid]
            e_at, _, e_increase = _deltas(ets, evalues)
            exec_by_ts = dict(zip(e_at.tolist(), e_increase.tolist(), strict=True))
        points = []
        for t, dt, n in zip(at.tolist(), elapsed.tolist(), increase.tolist(), strict=True):
            if dt <= 0 or np.isnan(n):
                continue
            spent = exec_by_ts.get(t)
            usable = spent is not None and n > 0 and not math.isnan(spent)
            mean = spent * 1000.0 / n if usable and spent is not None else None
            points.append(QueryPoint(datetime.fromtimestamp(t, UTC), n / dt, mean))
        history[qid] = points
    return history


def _queries(
    db: Session,
    source: SeriesSource | None,
    database: str,
    listed: list[Any],
    now: datetime,
) -> list[QueryView]:
    rows = [q for q in listed if isinstance(q, dict)]
    ids = {str(q.get("queryid", "")) for q in rows}
    texts = {
        t.queryid: t.query
        for t in db.scalars(select(DbQueryText).where(DbQueryText.database == database))
        if t.queryid in ids
    }
    history = query_history(source, database, now=now, queryids=ids) if source else {}
    known = {"queryid", "query", "calls", "total_ms", "mean_ms", "rows", "blocks_read"}
    known.add("blocks_hit")
    out = []
    for q in rows:
        qid = str(q.get("queryid", ""))
        out.append(
            QueryView(
                queryid=qid,
                query=str(q.get("query") or texts.get(qid, "")),
                calls=_number(q.get("calls")),
                total_ms=_number(q.get("total_ms")),
                mean_ms=_number(q.get("mean_ms")),
                rows=_number(q.get("rows")),
                blocks_read=_number(q.get("blocks_read")),
                blocks_hit=_number(q.get("blocks_hit")),
                extra={k: v for k, v in q.items() if k not in known},
                history=history.get(qid, []),
            )
        )
    return out


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def database_detail(
    db: Session,
    source: SeriesSource | None,
    name: str,
    *,
    now: datetime | None = None,
    section: DatabasesSection | None = None,
) -> DatabaseDetail:
    """Everything about database ``name``; raise NotFoundError when the plan has none."""
    now = now or utcnow()
    section = section or load_section(db)
    target = find_target(section, name)
    row = db.get(DbHealth, name)
    recs = advisor.recommendations(db, name, include_dismissed=True, now=now)
    growth = _growth(source, now) if source is not None else {}
    details = dict(row.details or {}) if row is not None else {}
    settings = details.get("settings")
    return DatabaseDetail(
        summary=_summary(target, row, recs, growth),
        details=details,
        tables=_list(details.get("tables")),
        indexes=_list(details.get("indexes")),
        queries=_queries(db, source, name, _list(details.get("queries")), now),
        sessions=_list(details.get("sessions")),
        locks=_list(details.get("locks")),
        replication=details.get("replication"),
        settings=settings if isinstance(settings, dict) else {},
        tasks=task_views(db, target, load_windows(db), now),
        runs=list_runs(db, database=name, limit=RUNS_SHOWN),
        recommendations=recs,
        capacity=(
            capacity.capacity(source, target, now=now)
            if source is not None
            else capacity.Capacity(name, None, [], capacity.HORIZON.total_seconds() / 86_400)
        ),
    )
