"""SQLite maintenance: ``VACUUM`` (when the free pages are worth it), ``ANALYZE`` and
``PRAGMA optimize``.

The file is opened read-write but never created (``mode=rw``). A writer holding the database
makes a statement wait at most the task's ``lock_timeout`` (SQLite's busy timeout); a
progress handler interrupts a statement past the ``statement_timeout``, and cancelling the
run interrupts it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from watchkeeper.dbmaint.config import MaintenanceTask, SqliteDatabase
from watchkeeper.dbmaint.interface import DbError, Step
from watchkeeper.dbmaint.steps import (
    lock_error,
    mib,
    percent,
    ran,
    run_each,
    timeout_error,
    wanted,
)

PROGRESS_STEPS = 10_000  # virtual-machine instructions between deadline checks


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Db:
    """A read-write connection used from worker threads, one statement at a time."""

    def __init__(self, path: Path, task: MaintenanceTask) -> None:
        self.path = path
        self.task = task
        self.conn: sqlite3.Connection | None = None
        self._deadline = 0.0

    def open(self) -> None:
        if not self.path.is_file():
            raise DbError(f"SQLite database {self.path} does not exist")
        uri = self.path.resolve().as_uri() + "?mode=rw"
        try:
            self.conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=self.task.lock_timeout.total_seconds(),
                isolation_level=None,  # VACUUM refuses to run inside a transaction
                check_same_thread=False,
            )
            self.conn.set_progress_handler(self._past_deadline, PROGRESS_STEPS)
            self.rows("SELECT count(*) FROM sqlite_master", limit=30.0)
        except sqlite3.Error as exc:
            self.close()
            raise DbError(f"cannot open SQLite database {self.path}: {exc}") from None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def rows(self, statement: str, *, limit: float) -> list[tuple[Any, ...]]:
        """Rows of ``statement``; raise sqlite3.Error (``interrupted`` past ``limit``)."""
        if self.conn is None:
            raise DbError(f"SQLite database {self.path} is not open")
        self._deadline = time.monotonic() + limit
        return list(self.conn.execute(statement).fetchall())

    def figures(self) -> dict[str, float]:
        """size_bytes (pages in use x page size, the file once checkpointed) and
        bloat_bytes (free pages x page size)."""
        size = int(self.rows("PRAGMA page_size", limit=30.0)[0][0])
        pages = int(self.rows("PRAGMA page_count", limit=30.0)[0][0])
        free = int(self.rows("PRAGMA freelist_count", limit=30.0)[0][0])
        return {"size_bytes": pages * size, "bloat_bytes": free * size}

    def wal(self) -> bool:
        return str(self.rows("PRAGMA journal_mode", limit=30.0)[0][0]).lower() == "wal"

    def tables(self) -> list[str]:
        found = self.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            limit=30.0,
        )
        return [str(r[0]) for r in found]


def _path(target: SqliteDatabase) -> Path:
    return Path(target.path).expanduser()


async def _opened(target: SqliteDatabase, task: MaintenanceTask) -> _Db:
    db = _Db(_path(target), task)
    await asyncio.to_thread(db.open)
    return db


async def plan(target: SqliteDatabase, task: MaintenanceTask) -> list[Step]:
    """Return the steps ``task`` would run now. ``vacuum``: one step when the free pages
    are over ``bloat_ratio`` of the file and at least ``bloat_min_size`` (or
    ``all_tables``); it rebuilds the whole file, so ``tables`` does not narrow it.
    ``analyze``: one ``ANALYZE`` (one per matching table when ``tables``/``exclude`` are
    given); SQLite counts no modifications, so there is no threshold. ``optimize``: one
    ``PRAGMA optimize``, which re-analyzes only what needs it. Raise DbError if the file is
    missing or unreadable."""
    db = await _opened(target, task)
    try:
        return await asyncio.to_thread(_plan, db, target, task)
    except sqlite3.Error as exc:
        raise DbError(f"SQLite database {db.path}: {exc}") from None
    finally:
        db.close()


def _plan(db: _Db, target: SqliteDatabase, task: MaintenanceTask) -> list[Step]:
    before = db.figures()
    name = str(db.path)
    if task.action == "optimize":
        return [Step(target=name, sql="PRAGMA optimize", reason="on schedule", before=before)]
    if task.action == "analyze":
        if not (task.tables or task.exclude):
            return [Step(target=name, sql="ANALYZE", reason="on schedule", before=before)]
        return [
            Step(target=t, sql=f"ANALYZE {_quote(t)}", reason="matches tables", before=before)
            for t in db.tables()
            if wanted(t, task)
        ]
    th = target.thresholds
    size, free = before["size_bytes"], before["bloat_bytes"]
    ratio = free / size if size else 0.0
    over = ratio > th.bloat_ratio and free >= th.bloat_min_size
    if not (over or task.all_tables):
        return []
    why = f"free pages {percent(ratio)} ({mib(free)} of {mib(size)})"
    statement = "VACUUM;\nPRAGMA wal_checkpoint(TRUNCATE)" if db.wal() else "VACUUM"
    return [
        Step(
            target=name,
            sql=statement,
            reason=why if over else f"all_tables ({why})",
            before=before,
        )
    ]


async def run(target: SqliteDatabase, task: MaintenanceTask, steps: list[Step]) -> list[Step]:
    """Run ``steps`` one by one and return them with status, duration and before/after
    figures; a statement blocked by another writer fails after ``lock_timeout``, one
    running past ``statement_timeout`` is interrupted; none starts after
    ``max_runtime``. Raise nothing but CancelledError (the statement is interrupted)."""

    async def close(db: _Db) -> None:
        db.close()

    return await run_each(
        steps,
        task,
        connect=lambda: _opened(target, task),
        run_step=lambda db, step: _run_step(db, task, step),
        close=close,
    )


def _statements(task: MaintenanceTask, step: Step, db: _Db) -> list[str]:
    # rebuilt from the action, never taken from the step's text
    if task.action == "optimize":
        return ["PRAGMA optimize"]
    if task.action == "analyze":
        return ["ANALYZE"] if step.sql == "ANALYZE" else [f"ANALYZE {_quote(step.target)}"]
    return ["VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"] if db.wal() else ["VACUUM"]


async def _run_step(db: _Db, task: MaintenanceTask, step: Step) -> Step:
    try:
        before = await asyncio.to_thread(db.figures)
        statements = await asyncio.to_thread(_statements, task, step, db)
    except sqlite3.Error as exc:
        return replace(step, status="failed", error=str(exc))
    limit = task.statement_timeout.total_seconds()
    started = time.monotonic()
    error = ""
    try:
        for statement in statements:
            work = asyncio.ensure_future(asyncio.to_thread(db.rows, statement, limit=limit))
            try:
                await asyncio.shield(work)
            except asyncio.CancelledError:
                if db.conn is not None:
                    db.conn.interrupt()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(work, 10)
                raise
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            error = lock_error(task, step.target)
        elif "interrupted" in text:
            error = timeout_error(task)
        else:
            error = text
    except sqlite3.Error as exc:
        error = str(exc)
    seconds = time.monotonic() - started
    after: dict[str, float] = {}
    with contextlib.suppress(sqlite3.Error):
        after = await asyncio.to_thread(db.figures)
    return ran(step, before, after, seconds, error)
