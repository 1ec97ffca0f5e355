"""The database service: one per cluster (the ``dbmaint`` leadership). Every few seconds it
reads the plan's ``databases`` section and

- collects each database whose ``collect_interval`` has passed (concurrently, at most
  ``max_parallel`` at once, each bounded by :func:`collection.time_limit`, so that a slow
  or hanging database never holds up the others) and keeps the outcome
  (:mod:`watchkeeper.dbmaint.collection`);
- starts each maintenance task whose cron schedule fired since the task last ran on
  schedule (decided from the ``db_maintenance_runs`` rows, like the backups scheduler: a
  replica that takes over runs what was missed once, no more), at most one run per
  database at a time; :func:`watchkeeper.dbmaint.maintenance.run_task` skips a start
  outside the task's maintenance windows;
- starts the runs queued by the API (rows with status ``queued``, claimed with an atomic
  conditional update, so that exactly one replica runs each);
- raises and resolves the database alerts (:mod:`watchkeeper.dbmaint.alerting`), marks
  runs left ``running`` by a process that stopped as failed, and prunes what is older
  than the section's ``history``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.dbmaint import alerting, claims, collection
from watchkeeper.dbmaint.claims import QUEUED, RunInProgress
from watchkeeper.dbmaint.config import DatabaseConfig, DatabasesSection, MaintenanceTask
from watchkeeper.dbmaint.maintenance import run_task
from watchkeeper.dbmaint.section import load_section, load_windows
from watchkeeper.metrics.store import MetricStore
from watchkeeper.plan.types import last_fire
from watchkeeper.store.tables import DbHealth, DbMaintenanceRun, DbQueryText, utcnow
from watchkeeper.telemetry import DBMAINT_MAINTENANCE_RUNS

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)


def due_tasks(
    section: DatabasesSection,
    last_runs: dict[tuple[str, str], datetime],
    now: datetime,
    since: datetime,
) -> list[tuple[str, str]]:
    """The ``(database, task)`` pairs whose schedule fired after they last ran on schedule
    (or, never run, after ``since``: a new task waits for its first scheduled time)."""
    found = []
    for target in section.targets:
        for task in target.maintenance:
            baseline = last_runs.get((target.name, task.name), since)
            if last_fire(task.schedule, now) > baseline:
                found.append((target.name, task.name))
    return found


@dataclass
class _Snapshot:
    section: DatabasesSection
    windows: dict[str, MaintenanceWindow]
    collected: dict[str, DbHealth]
    last_runs: dict[tuple[str, str], datetime]
    queued: list[tuple[int, str, str, str]]  # id, database, task, trigger
    busy: set[str]  # databases with a live run (of any process: e.g. `watchkeeper db maintain`)


@dataclass
class Pass:
    """What one pass started."""

    collections: list[str] = field(default_factory=list)
    tasks: list[tuple[str, str]] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)


class DbMaintService:
    """Runs the ``databases`` part of the plan (see the module's docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        metrics: MetricStore,
        *,
        tick: float = 5.0,
        max_parallel: int = 4,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._tick = tick
        self._clock = clock
        self._since = clock()
        self._slots = asyncio.Semaphore(max_parallel)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._collecting: dict[str, asyncio.Task[None]] = {}
        self._maintaining: dict[str, asyncio.Task[None]] = {}  # by database: one at a time
        # When each (database, task) was last started here: a run that fails before it
        # records a row waits for its next scheduled time, not the next pass.
        self._attempted: dict[tuple[str, str], datetime] = {}
        # When each database's collection last started here (its row may not say yet).
        self._collect_started: dict[str, datetime] = {}
        self._pruned_at: datetime | None = None

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except SQLAlchemyError as exc:  # the store is away: try again next pass
                log.error("dbmaint: store error %s; retrying", type(exc).__name__)
            except Exception:  # a bug must not stop the service
                log.exception("dbmaint service pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._tick)
            self._wake.clear()
        await self._cancel_all()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Start the next pass now (a run was queued)."""
        self._wake.set()

    async def run_once(self) -> Pass:
        """One pass (see the module docstring); return what it started."""
        snap = await asyncio.to_thread(self._read)
        now = self._clock()
        started = Pass()
        for target in snap.section.targets:
            if self._collection_due(target, snap.collected.get(target.name), now):
                self._collect_started[target.name] = now
                self._collecting[target.name] = asyncio.create_task(
                    self._guard(self._collecting, target.name, self._collect(target)),
                    name=f"dbmaint:collect:{target.name}",
                )
                started.collections.append(target.name)
        last_runs = dict(snap.last_runs)
        for key, at in self._attempted.items():
            last_runs[key] = max(at, last_runs.get(key, at))
        for database, task_name in due_tasks(snap.section, last_runs, now, self._since):
            if database in self._maintaining or database in snap.busy:
                continue  # one run per database at a time: this one waits for the next pass
            where, what = _task_of(snap.section, database, task_name)
            assert where is not None and what is not None
            self._attempted[(database, task_name)] = now
            self._start_task(where, what, snap.windows, trigger="schedule")
            started.tasks.append((database, task_name))
        for run_id, database, task_name, trigger in snap.queued:
            where, what = _task_of(snap.section, database, task_name)
            if where is None or what is None:
                gone = f'the plan has no maintenance task "{task_name}" of "{database}" any more'
                await asyncio.to_thread(self._drop_queued, run_id, now, gone)
            elif database not in self._maintaining and await asyncio.to_thread(
                self._claim, where, run_id, now
            ):
                self._start_task(where, what, snap.windows, trigger=trigger, run_id=run_id)
                started.queued.append(run_id)
        await asyncio.to_thread(self._housekeeping, snap.section, now)
        return started

    def _collection_due(self, target: DatabaseConfig, row: DbHealth | None, now: datetime) -> bool:
        if target.name in self._collecting:
            return False
        last = [row.collected_at] if row is not None else []
        if target.name in self._collect_started:
            last.append(self._collect_started[target.name])
        return not last or now - max(last) >= target.collect_interval

    async def wait_idle(self) -> None:
        """Wait for the collections and runs started so far to end (tests)."""
        while self._collecting or self._maintaining:
            tasks = [*self._collecting.values(), *self._maintaining.values()]
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- reading the store -----------------------------------------------------------------

    def _read(self) -> _Snapshot:
        with self._sessions() as db:
            section = load_section(db)
            windows = load_windows(db)
            collected = {h.database: h for h in db.scalars(select(DbHealth))}
            for row in collected.values():
                db.expunge(row)
            rows = db.execute(
                select(
                    DbMaintenanceRun.database,
                    DbMaintenanceRun.task,
                    func.max(DbMaintenanceRun.started_at),
                )
                .where(DbMaintenanceRun.trigger == "schedule")
                .group_by(DbMaintenanceRun.database, DbMaintenanceRun.task)
            ).all()
            queued = db.execute(
                select(
                    DbMaintenanceRun.id,
                    DbMaintenanceRun.database,
                    DbMaintenanceRun.task,
                    DbMaintenanceRun.trigger,
                )
                .where(DbMaintenanceRun.status == QUEUED)
                .order_by(DbMaintenanceRun.id)
            ).all()
            now = self._clock()
            busy = {t.name for t in section.targets if claims.live_run(db, t, now) is not None}
        return _Snapshot(
            section,
            windows,
            collected,
            {(d, t): at for d, t, at in rows if at is not None},
            [(i, d, t, trig) for i, d, t, trig in queued],
            busy,
        )

    def _claim(self, target: DatabaseConfig, run_id: int, now: datetime) -> bool:
        """Take queued run ``run_id`` for this process (False: another took it first, or
        another run of the database is live: it stays queued for a later pass); the run
        then records itself in that row."""
        with self._sessions() as db:
            try:
                return claims.claim_queued(db, target, run_id, now)
            except RunInProgress as exc:
                log.info("dbmaint: queued run %d waits: %s", run_id, exc)
                return False

    def _drop_queued(self, run_id: int, now: datetime, reason: str) -> None:
        with self._sessions() as db:
            db.execute(
                update(DbMaintenanceRun)
                .where(DbMaintenanceRun.id == run_id, DbMaintenanceRun.status == QUEUED)
                .values(status="failed", finished_at=now, error=reason)
            )
            db.commit()

    # -- work ------------------------------------------------------------------------------

    async def _collect(self, target: DatabaseConfig) -> None:
        async with self._slots:
            await collection.collect_and_store(
                self._sessions, self._metrics, target, clock=self._clock
            )

    def _start_task(
        self,
        target: DatabaseConfig,
        task: MaintenanceTask,
        windows: dict[str, MaintenanceWindow],
        *,
        trigger: str,
        run_id: int | None = None,
    ) -> None:
        """Start ``task`` (a queued run, ``run_id``, is forced: the request checked the
        windows, or its operator chose to run outside them)."""
        self._maintaining[target.name] = asyncio.create_task(
            self._guard(
                self._maintaining,
                target.name,
                self._maintain(target, task, windows, trigger=trigger, run_id=run_id),
            ),
            name=f"dbmaint:task:{target.name}:{task.name}",
        )

    async def _maintain(
        self,
        target: DatabaseConfig,
        task: MaintenanceTask,
        windows: dict[str, MaintenanceWindow],
        *,
        trigger: str,
        run_id: int | None,
    ) -> None:
        try:
            result = await run_task(
                self._sessions,
                target,
                task,
                dry_run=False,
                trigger=trigger,
                windows=windows,
                now=self._clock(),
                force=run_id is not None,
                run_id=run_id,
            )
        except RunInProgress as exc:  # another process started first: try again next pass
            log.info("dbmaint: %s/%s waits: %s", target.name, task.name, exc)
            self._attempted.pop((target.name, task.name), None)
            return
        DBMAINT_MAINTENANCE_RUNS.labels(target.name, task.name, result.status).inc()

    async def _guard(
        self, running: dict[str, asyncio.Task[None]], key: str, job: Coroutine[Any, Any, None]
    ) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception:  # recorded rows say what failed; this is a bug or a plan change
            log.exception("dbmaint: %s failed", key)
        finally:
            running.pop(key, None)

    async def _cancel_all(self) -> None:
        tasks = [*self._collecting.values(), *self._maintaining.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- alerts, stale runs, pruning ----------------------------------------------------------

    def _housekeeping(self, section: DatabasesSection, now: datetime) -> None:
        with self._sessions() as db:
            claims.close_stale(db, section.targets, now)
            alerting.evaluate(db, section, now)
            db.commit()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            with self._sessions() as db:
                removed = prune(db, now - section.history)
                db.commit()
            self._pruned_at = now
            if removed:
                log.info("dbmaint: pruned %d run(s) and statement text(s) past history", removed)


def _task_of(
    section: DatabasesSection, database: str, task: str
) -> tuple[DatabaseConfig | None, MaintenanceTask | None]:
    for target in section.targets:
        if target.name == database:
            return target, next((t for t in target.maintenance if t.name == task), None)
    return None, None


def prune(db: Session, before: datetime) -> int:
    """Delete maintenance runs started and statement texts last seen before ``before``;
    return how many rows went. Caller commits."""
    runs = db.execute(
        delete(DbMaintenanceRun).where(
            DbMaintenanceRun.started_at < before,
            DbMaintenanceRun.status.not_in(("running", QUEUED)),
        )
    ).rowcount  # type: ignore[attr-defined]
    gone = delete(DbQueryText).where(DbQueryText.last_seen < before)
    texts = db.execute(gone).rowcount  # type: ignore[attr-defined]
    return int(runs or 0) + int(texts or 0)
