"""Databases API: the plan's databases with their health, one database in detail, the
advisor's recommendations (dismiss and restore), capacity, the maintenance runs; collect a
database now; run a maintenance task or its dry run.

Reading needs the viewer role; collecting, running and dismissing the operator role.

Where the work runs: a collection only reads the database, so "collect now" runs in the
process that got the request, whichever replica it is. A dry run only reads too and runs in
the request (its plan is returned). A real run is queued: a ``db_maintenance_runs`` row
with status ``queued``, answered with 202; the replica running the database service (the
``dbmaint`` leader) claims it with an atomic conditional update within seconds and runs it
in that row, so a request to any replica works and a run never starts twice. Nothing here
returns a secret: database URLs are reduced to ``host:port/database``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.auth import audit
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.dbmaint import advisor, capacity, views
from watchkeeper.dbmaint.claims import QUEUED
from watchkeeper.dbmaint.collection import collect_and_store
from watchkeeper.dbmaint.config import DatabaseConfig, MaintenanceTask
from watchkeeper.dbmaint.maintenance import closed_reason, run_task
from watchkeeper.dbmaint.section import find_target, find_task, load_section, load_windows
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.store.tables import DbMaintenanceRun, utcnow

router = APIRouter(prefix="/api/v1/databases", tags=["databases"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]
DatabaseName = Annotated[str, Path(max_length=128, description="The database's name in the plan.")]
TaskName = Annotated[str, Path(max_length=128, description="The maintenance task's name.")]
FindingKey = Annotated[
    str, Path(max_length=255, description="The finding's key, e.g. `unused_index:public.x`.")
]
Severity = Literal["critical", "warning", "info"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "skipped"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DismissalOut(_Out):
    reason: str
    actor: str
    at: datetime
    until: datetime | None


class RecommendationOut(_Out):
    database: str
    key: str = Field(description="Stable key of the finding: `<kind>:<object>`.")
    kind: str
    severity: str = Field(description="critical, warning or info.")
    title: str
    evidence: str
    sql: str = Field(description="The fix, exactly as it would be run (may be empty).")
    object: str
    impact_bytes: int = Field(description="Space the fix would win, bytes.")
    dismissed: bool
    dismissal: DismissalOut | None


class SummaryOut(_Out):
    name: str
    type: str
    team: str
    where: str = Field(description="host:port/database or the SQLite file (no credentials).")
    status: str = Field(description="ok, failing, unreachable or pending (never collected).")
    score: int | None = Field(description="Health score 0..100 (None before a collection).")
    size_bytes: int | None
    growth_per_day: float | None = Field(description="Bytes per day over the last 7 days.")
    top_finding: RecommendationOut | None
    findings: dict[str, int] = Field(description="Shown recommendations per severity.")
    collected_at: datetime | None = Field(description="The last collection (attempt).")
    last_ok_at: datetime | None
    duration_s: float | None
    queries: int | None = Field(description="Statements the last collection sent.")
    failures: int = Field(description="Collections failed in a row.")
    error: str
    collect_interval_s: float
    size_budget: int | None


class StepOut(_Out):
    target: str
    sql: str
    reason: str
    status: str
    before: dict[str, float]
    after: dict[str, float]
    duration_s: float
    error: str


class RunOut(_Out):
    id: int
    database: str
    task: str
    action: str
    status: str = Field(description="queued, running, succeeded, failed or skipped.")
    trigger: str = Field(description='"schedule" or who asked for it.')
    dry_run: bool
    started_at: datetime = Field(description="When it started (queued: when it was asked).")
    finished_at: datetime | None
    duration_s: float | None
    error: str
    steps: list[StepOut]
    before: dict[str, float] = Field(description="The steps' before figures, summed.")
    after: dict[str, float] = Field(description="The steps' after figures, summed.")


class TaskOut(_Out):
    name: str
    action: str
    schedule: str
    next_run: datetime
    windows: list[str]
    window_open: bool
    last_run: RunOut | None


class QueryPointOut(_Out):
    at: datetime
    calls_per_s: float
    mean_ms: float | None


class QueryOut(_Out):
    queryid: str
    query: str
    calls: float
    total_ms: float
    mean_ms: float
    rows: float
    blocks_read: float
    blocks_hit: float
    extra: dict[str, Any]
    history: list[QueryPointOut]


class ProjectionOut(_Out):
    subject: str = Field(description='"database" or the table.')
    current: float
    growth_per_day: float
    fit: str = Field(description="linear, daily or weekly (seasonal pattern).")
    sigma: float = Field(description="Residual standard deviation; the band is ±2σ.")
    points: int
    limit: float | None = Field(description="The size budget, when set.")
    reaches_at: datetime | None
    reaches_earliest: datetime | None
    reaches_latest: datetime | None
    history: list[tuple[datetime, float]]
    projection: list[tuple[datetime, float, float, float]] = Field(
        description="[time, fit, low, high]"
    )


class CapacityOut(_Out):
    database: str
    size: ProjectionOut | None
    tables: list[ProjectionOut]
    horizon_days: float
    disk: ProjectionOut | None = Field(
        None, description="The filesystem's used bytes against its size (the plan's `disk`)."
    )
    disk_at: str = Field("", description="`host:mountpoint` of the plan's `disk`.")


class DetailOut(_Out):
    summary: SummaryOut
    details: dict[str, Any] = Field(description="Everything the last collection read.")
    tables: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    queries: list[QueryOut]
    sessions: list[Any]
    locks: list[Any]
    replication: Any
    settings: dict[str, Any]
    tasks: list[TaskOut]
    runs: list[RunOut]
    recommendations: list[RecommendationOut]
    capacity: CapacityOut


class ListOut(BaseModel):
    databases: list[SummaryOut]


class RecommendationsOut(BaseModel):
    recommendations: list[RecommendationOut]


class RunsOut(BaseModel):
    runs: list[RunOut]


class FindingOut(BaseModel):
    key: str
    kind: str
    severity: str
    title: str
    evidence: str
    sql: str
    object: str
    impact_bytes: int


class CollectOut(BaseModel):
    database: str
    ok: bool
    error: str
    duration_s: float
    score: int
    findings: list[FindingOut]


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=advisor.MAX_REASON, description="Why.")
    until: datetime | None = Field(
        None, description="Show it again after this time (UTC unless an offset)."
    )


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(False, description="Only plan: record the steps, execute nothing.")
    force: bool = Field(False, description="Run even though none of its windows is open.")


def _recs(found: list[advisor.Recommendation]) -> RecommendationsOut:
    return RecommendationsOut(recommendations=[RecommendationOut.model_validate(r) for r in found])


@router.get("", response_model=ListOut, summary="The plan's databases and their health")
async def list_databases(request: Request, db: Db, _: Viewer) -> ListOut:
    metrics = get_ctx(request).metrics
    found = await run_in_threadpool(lambda: views.list_databases(db, metrics))
    return ListOut(databases=[SummaryOut.model_validate(s) for s in found])


@router.get(
    "/recommendations",
    response_model=RecommendationsOut,
    summary="Recommendations of every database, most urgent first",
)
async def all_recommendations(
    db: Db,
    _: Viewer,
    include_dismissed: Annotated[bool, Query(description="Include dismissed ones.")] = False,
    severity: Severity | None = None,
) -> RecommendationsOut:
    def work() -> list[advisor.Recommendation]:
        names = [t.name for t in load_section(db).targets]
        found = advisor.recommendations(db, databases=names, include_dismissed=include_dismissed)
        return [r for r in found if severity is None or r.severity == severity]

    return _recs(await run_in_threadpool(work))


@router.get("/runs", response_model=RunsOut, summary="Maintenance runs, newest first")
async def list_runs(
    db: Db,
    _: Viewer,
    database: Annotated[str | None, Query(max_length=128)] = None,
    task: Annotated[str | None, Query(max_length=128)] = None,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunsOut:
    found = await run_in_threadpool(
        lambda: views.list_runs(db, database=database, task=task, status=status, limit=limit)
    )
    return RunsOut(runs=[RunOut.model_validate(r) for r in found])


@router.get("/runs/{run_id}", response_model=RunOut, summary="One maintenance run")
async def get_run(db: Db, _: Viewer, run_id: Annotated[int, Path(ge=1)]) -> RunOut:
    found = await run_in_threadpool(views.get_run, db, run_id)
    if found is None:
        raise NotFoundError(f"there is no maintenance run {run_id}")
    return RunOut.model_validate(found)


@router.get("/{database}", response_model=DetailOut, summary="One database in detail")
async def get_database(request: Request, db: Db, _: Viewer, database: DatabaseName) -> DetailOut:
    metrics = get_ctx(request).metrics
    found = await run_in_threadpool(lambda: views.database_detail(db, metrics, database))
    return DetailOut.model_validate(found)


@router.get(
    "/{database}/recommendations",
    response_model=RecommendationsOut,
    summary="The database's recommendations, most urgent first",
)
async def database_recommendations(
    db: Db,
    _: Viewer,
    database: DatabaseName,
    include_dismissed: Annotated[bool, Query(description="Include dismissed ones.")] = False,
) -> RecommendationsOut:
    def work() -> list[advisor.Recommendation]:
        find_target(load_section(db), database)
        return advisor.recommendations(db, database, include_dismissed=include_dismissed)

    return _recs(await run_in_threadpool(work))


@router.post(
    "/{database}/recommendations/{key}/dismiss",
    response_model=RecommendationOut,
    summary="Dismiss a recommendation, with a reason",
)
async def dismiss(
    request: Request,
    db: Db,
    user: Operator,
    database: DatabaseName,
    key: FindingKey,
    body: DismissIn,
) -> RecommendationOut:
    until = body.until
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    actor = request_actor(request, user)

    def work() -> advisor.Recommendation:
        find_target(load_section(db), database)
        advisor.dismiss(db, actor, database, key, body.reason, until=until)
        db.commit()
        return _one(db, database, key)

    return RecommendationOut.model_validate(await run_in_threadpool(work))


def _one(db: Session, database: str, key: str) -> advisor.Recommendation:
    for r in advisor.recommendations(db, database, include_dismissed=True):
        if r.key == key:
            return r
    raise NotFoundError(f'database "{database}" has no current recommendation "{key}"')


@router.post(
    "/{database}/recommendations/{key}/restore",
    response_model=RecommendationOut,
    summary="Show a dismissed recommendation again",
)
async def restore(
    request: Request, db: Db, user: Operator, database: DatabaseName, key: FindingKey
) -> RecommendationOut:
    actor = request_actor(request, user)

    def work() -> advisor.Recommendation:
        find_target(load_section(db), database)
        advisor.restore(db, actor, database, key)
        db.commit()
        return _one(db, database, key)

    return RecommendationOut.model_validate(await run_in_threadpool(work))


@router.get("/{database}/runs", response_model=RunsOut, summary="The database's runs")
async def database_runs(
    db: Db,
    _: Viewer,
    database: DatabaseName,
    task: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunsOut:
    def work() -> list[views.RunView]:
        find_target(load_section(db), database)
        return views.list_runs(db, database=database, task=task, limit=limit)

    return RunsOut(runs=[RunOut.model_validate(r) for r in await run_in_threadpool(work)])


@router.get("/{database}/capacity", response_model=CapacityOut, summary="Growth and forecast")
async def database_capacity(
    request: Request,
    db: Db,
    _: Viewer,
    database: DatabaseName,
    history_days: Annotated[int, Query(ge=1, le=3650, description="Fit over these days.")] = 90,
    horizon_days: Annotated[int, Query(ge=1, le=3650, description="Project this far.")] = 365,
) -> CapacityOut:
    metrics = get_ctx(request).metrics

    def work() -> capacity.Capacity:
        target = find_target(load_section(db), database)
        return capacity.capacity(
            metrics,
            target,
            now=utcnow(),
            history=timedelta(days=history_days),
            horizon=timedelta(days=horizon_days),
        )

    return CapacityOut.model_validate(await run_in_threadpool(work))


@router.post(
    "/{database}/collect", response_model=CollectOut, summary="Collect the database's health now"
)
async def collect_now(request: Request, db: Db, _: Operator, database: DatabaseName) -> CollectOut:
    ctx = get_ctx(request)
    target = await run_in_threadpool(lambda: find_target(load_section(db), database))
    outcome = await collect_and_store(ctx.sessions, ctx.metrics, target)
    return CollectOut(
        database=database,
        ok=outcome.ok,
        error=outcome.error,
        duration_s=outcome.duration_s,
        score=outcome.score,
        findings=[FindingOut.model_validate(f) for f in outcome.findings],
    )


def _queue(
    db: Session,
    user: SessionInfo,
    request: Request,
    target: DatabaseConfig,
    task: MaintenanceTask,
) -> int:
    row = DbMaintenanceRun(
        database=target.name,
        task=task.name,
        action=task.action,
        status=QUEUED,
        trigger=user.username[:64],
        dry_run=False,
        started_at=utcnow(),
        error="",
        steps=[],
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        request_actor(request, user),
        "database.maintenance_run",
        f"{target.name}/{task.name}",
        {"run": row.id, "action": task.action},
    )
    db.commit()
    return int(row.id)


def resolve_task(
    db: Session, database: str, task: str
) -> tuple[DatabaseConfig, MaintenanceTask, dict[str, MaintenanceWindow]]:
    """Return database ``database`` of the applied plan, its maintenance task ``task`` and
    the plan's maintenance windows; raise NotFoundError naming what the plan lacks."""
    target = find_target(load_section(db), database)
    return target, find_task(target, task), load_windows(db)


async def dry_run(
    request: Request,
    user: SessionInfo,
    target: DatabaseConfig,
    task: MaintenanceTask,
    windows: dict[str, MaintenanceWindow],
    now: datetime,
) -> int:
    """Plan ``task`` of ``target`` in this request, executing nothing, whatever the time
    (a dry run only reads), record it as ``user``'s dry run and return the run's id."""
    done = await run_task(
        get_ctx(request).sessions,
        target,
        task,
        dry_run=True,
        trigger=user.username[:64],
        windows=windows,
        now=now,
        force=True,
    )
    return done.run_id


async def queue_run(
    request: Request,
    db: Session,
    user: SessionInfo,
    target: DatabaseConfig,
    task: MaintenanceTask,
) -> int:
    """Queue a run of ``task`` of ``target`` for the database service (a ``queued`` row in
    ``db_maintenance_runs``, audited as ``user``'s), wake the service when it runs in this
    process, and return the run's id. The API and the Databases pages both queue here."""
    run_id = await run_in_threadpool(_queue, db, user, request, target, task)
    wake: Callable[[], None] | None = getattr(request.app.state, "wake_dbmaint", None)
    if wake is not None:
        wake()
    return run_id


@router.post(
    "/{database}/tasks/{task}/run",
    response_model=RunOut,
    summary="Run a maintenance task (queued, 202) or its dry run (200)",
    responses={202: {"model": RunOut, "description": "Queued; poll /runs/{id}."}},
)
async def run_maintenance(
    request: Request,
    db: Db,
    user: Operator,
    database: DatabaseName,
    task: TaskName,
    body: RunIn | None = None,
) -> Any:
    options = body or RunIn()
    now = utcnow()
    target, found, windows = await run_in_threadpool(resolve_task, db, database, task)
    if options.dry_run:
        run_id = await dry_run(request, user, target, found, windows, now)
        return await run_in_threadpool(_run_out, db, run_id)
    reason = closed_reason(found, windows, now)
    if reason and not options.force:
        raise ConflictError(f"{database}/{task} is {reason}; send force=true to run it now")
    run_id = await queue_run(request, db, user, target, found)
    out = await run_in_threadpool(_run_out, db, run_id)
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/v1/databases/runs/{run_id}"},
    )


def _run_out(db: Session, run_id: int) -> RunOut:
    db.expire_all()
    found = views.get_run(db, run_id)
    if found is None:  # pruned or claimed and gone: should not happen within a request
        raise NotFoundError(f"there is no maintenance run {run_id}")
    return RunOut.model_validate(found)
