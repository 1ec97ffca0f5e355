"""One maintenance run per database at a time, across processes: a ``watchkeeper db
maintain`` typed while the server's database service maintains the same database (or two
such commands) must not run at once: two rebuilds of the same tables would only wait for
each other's locks, and the second would fail on its lock timeout.

The ``db_maintenance_runs`` rows decide. A run claims its row by inserting it as
``running`` (or, queued by the API, by turning its ``queued`` row to ``running``) and, in
the same transaction, looking for another live ``running`` row of the same database; if
there is one, it changes nothing and is refused with :class:`RunInProgress`, which names
that run. The check and the write are serialised: SQLite holds its write lock from the
write to the commit, PostgreSQL takes a transaction-level advisory lock per database first.
Dry runs execute nothing: they neither claim nor block.

A row left ``running`` by a process that died must not block forever: once it is older
than its task's ``max_runtime`` plus ``statement_timeout`` (no statement starts after the
first, none runs longer than the second) plus :data:`STALE_GRACE`, no live run can own it;
it is not counted, and :func:`close_stale` marks it failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from watchkeeper.dbmaint.config import DatabaseConfig
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.store.tables import DbMaintenanceRun

STALE_GRACE = timedelta(minutes=10)
"""Past its limits, a run still gets this long (planning, the figures after the last step)."""
UNKNOWN_TASK_LIMIT = timedelta(hours=3)
"""The limit of a row whose task the plan no longer has (and no other task is longer)."""
ABANDONED = "did not finish: the process running it stopped"
QUEUED = "queued"


class RunInProgress(WatchkeeperError):
    """Another (not dry) run of the same database is live; ``run_id`` is that run."""

    def __init__(
        self, database: str, run_id: int, task: str, started_at: datetime, trigger: str
    ) -> None:
        who = "the scheduler" if trigger == "schedule" else trigger
        when = started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(
            f'database "{database}" is already being maintained: run {run_id} '
            f'(task "{task}"), started {when} by {who}; wait for it to finish '
            f"(watchkeeper db runs {database})"
        )
        self.database, self.run_id = database, run_id


def limit_of(target: DatabaseConfig, task: str) -> timedelta:
    """How long a run of ``target``'s ``task`` can last: its ``max_runtime`` plus its
    ``statement_timeout`` (the longest task's for a task the plan no longer has)."""
    limits = {t.name: t.max_runtime + t.statement_timeout for t in target.maintenance}
    if task in limits:
        return limits[task]
    return max(limits.values(), default=UNKNOWN_TASK_LIMIT)


def _live(row: DbMaintenanceRun, target: DatabaseConfig, now: datetime) -> bool:
    return row.started_at >= now - limit_of(target, row.task) - STALE_GRACE


def live_run(
    db: Session, target: DatabaseConfig, now: datetime, *, other_than: int | None = None
) -> DbMaintenanceRun | None:
    """The oldest live, not dry, running row of ``target`` (None when there is none)."""
    query = select(DbMaintenanceRun).where(
        DbMaintenanceRun.database == target.name,
        DbMaintenanceRun.status == "running",
        DbMaintenanceRun.dry_run.is_(False),
    )
    if other_than is not None:
        query = query.where(DbMaintenanceRun.id != other_than)
    rows = db.scalars(query.order_by(DbMaintenanceRun.started_at, DbMaintenanceRun.id))
    return next((r for r in rows if _live(r, target, now)), None)


def close_stale(
    db: Session, targets: Iterable[DatabaseConfig], now: datetime, *, database: str | None = None
) -> int:
    """Mark failed the runs (of ``database``, else of every database) still ``running`` long
    after they must have ended (the process running them stopped before it could record
    the end), by the limits of the plan's ``targets``; return how many. Caller commits."""
    by_name = {t.name: t for t in targets}
    query = select(DbMaintenanceRun).where(
        DbMaintenanceRun.status == "running",
        DbMaintenanceRun.started_at < now - STALE_GRACE,
    )
    if database is not None:
        query = query.where(DbMaintenanceRun.database == database)
    closed = 0
    for row in db.scalars(query):
        target = by_name.get(row.database)
        limit = limit_of(target, row.task) if target is not None else UNKNOWN_TASK_LIMIT
        if row.started_at < now - limit - STALE_GRACE:
            row.status, row.finished_at, row.error = "failed", now, ABANDONED
            closed += 1
    return closed


def _refusal(target: DatabaseConfig, other: DbMaintenanceRun) -> RunInProgress:
    return RunInProgress(target.name, other.id, other.task, other.started_at, other.trigger)


def claim(
    db: Session,
    target: DatabaseConfig,
    task: str,
    action: str,
    trigger: str,
    now: datetime,
) -> int:
    """Insert the ``running`` row of a run of ``target``'s ``task`` and return its id;
    raise RunInProgress, inserting nothing, if another run of ``target`` is live. Stale rows
    of ``target`` are closed first. Commits."""
    if close_stale(db, [target], now, database=target.name):
        db.commit()
    _serialise(db, target.name)
    row = DbMaintenanceRun(
        database=target.name,
        task=task,
        action=action,
        status="running",
        trigger=trigger,
        dry_run=False,
        started_at=now,
        error="",
        steps=[],
    )
    db.add(row)
    db.flush()  # SQLite: the write lock is held from here to the commit
    other = live_run(db, target, now, other_than=row.id)
    if other is not None:
        refused = _refusal(target, other)
        db.rollback()
        raise refused
    db.commit()
    return int(row.id)


def claim_queued(db: Session, target: DatabaseConfig, run_id: int, now: datetime) -> bool:
    """Turn queued run ``run_id`` of ``target`` to ``running`` for this process; return
    False when another process took it first; raise RunInProgress, changing nothing, if
    another run of ``target`` is live (the run stays queued). Commits."""
    _serialise(db, target.name)
    claimed = db.execute(
        update(DbMaintenanceRun)
        .where(DbMaintenanceRun.id == run_id, DbMaintenanceRun.status == QUEUED)
        .values(status="running", started_at=now)
    ).rowcount  # type: ignore[attr-defined]
    if not claimed:
        db.rollback()
        return False
    other = live_run(db, target, now, other_than=run_id)
    if other is not None:
        refused = _refusal(target, other)
        db.rollback()
        raise refused
    db.commit()
    return True


def _serialise(db: Session, database: str) -> None:
    """On PostgreSQL, wait for any other claim of the same database to commit."""
    if db.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"watchkeeper:dbmaint:{database}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
