"""MariaDB/MySQL maintenance: ``OPTIMIZE TABLE`` of fragmented tables and ``ANALYZE TABLE``.

Statements run with PyMySQL in a worker thread, one connection per run, under the task's
``lock_wait_timeout`` (metadata locks) and ``innodb_lock_wait_timeout`` (row locks) and, on
MariaDB, ``max_statement_time``. MySQL has no server-side limit for these statements, so a
watchdog sends ``KILL QUERY`` when the statement timeout has passed (on both, as a backstop);
cancelling the run does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pymysql

from watchkeeper.backups.sources.base import SourceError
from watchkeeper.backups.sources.myconn import MyTarget, quote
from watchkeeper.dbmaint.config import MaintenanceTask, MariadbDatabase
from watchkeeper.dbmaint.interface import DbError, Step
from watchkeeper.dbmaint.steps import (
    Budget,
    lock_error,
    mib,
    not_started,
    percent,
    timeout_error,
    wanted,
)

WATCHDOG_GRACE = 5.0
"""Seconds past the statement timeout before the watchdog kills the statement."""
LOCK_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT: metadata and row locks alike
INTERRUPTED = (1317, 1028, 1969, 3024)  # killed; sort aborted; max_statement_time; MySQL's

TABLES = (
    "SELECT t.table_name, t.engine, t.data_length, t.index_length, t.data_free, "
    "t.update_time FROM information_schema.tables t "
    "WHERE t.table_schema = %s AND t.table_type = 'BASE TABLE' ORDER BY t.table_name"
)
STATS_TIMES = (
    "SELECT table_name, last_update FROM mysql.innodb_table_stats WHERE database_name = %s"
)
FIGURES = (
    "SELECT data_length, index_length, data_free FROM information_schema.tables "
    "WHERE table_schema = %s AND table_name = %s"
)
FILE_SIZE = {
    True: "SELECT file_size FROM information_schema.innodb_sys_tablespaces WHERE name = %s",
    False: "SELECT file_size FROM information_schema.innodb_tablespaces WHERE name = %s",
}


def _my(target: MariadbDatabase) -> MyTarget:
    try:
        my = MyTarget.parse(target.url)
    except SourceError as exc:
        raise DbError(f'database "{target.name}": {exc}') from None
    if not my.database:
        raise DbError(
            f'database "{target.name}": the url names no database '
            "(write it as mysql://user@host:3306/app)"
        )
    return my


class _Session:
    """One connection, used from worker threads one statement at a time; a statement that
    outlives its limit, or whose run is cancelled, is ended with ``KILL QUERY`` from a
    second connection."""

    def __init__(self, my: MyTarget, task: MaintenanceTask) -> None:
        self.my = my
        self.task = task
        self.conn: Any = None
        self.thread_id = 0
        self.mariadb = True

    async def open(self) -> None:
        try:
            self.conn = await asyncio.to_thread(self.my.connect)
        except SourceError as exc:
            raise DbError(str(exc)) from None
        self.thread_id = int(self.conn.thread_id())
        version = await self.query("SELECT VERSION()")
        self.mariadb = "mariadb" in str(version[0][0]).lower()
        lock = max(1, math.ceil(self.task.lock_timeout.total_seconds()))
        await self.query(f"SET SESSION lock_wait_timeout = {lock}")
        await self.query(f"SET SESSION innodb_lock_wait_timeout = {lock}")

    async def limit(self, seconds: float) -> None:
        if self.mariadb:
            await self.query(f"SET SESSION max_statement_time = {seconds:.3f}")

    def _execute(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, params or None)
            return list(cur.fetchall()) if cur.description else []

    async def query(
        self, statement: str, *params: Any, limit: float | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows of ``statement``; raise pymysql.MySQLError (the killed statement's error
        after ``limit`` seconds)."""
        work = asyncio.ensure_future(asyncio.to_thread(self._execute, statement, params))
        try:
            if limit is None:
                return await asyncio.shield(work)
            return await asyncio.wait_for(asyncio.shield(work), limit)
        except TimeoutError:
            await self._kill()
            return await work
        except asyncio.CancelledError:
            await self._kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(work, 10)
            raise

    async def _kill(self) -> None:
        def kill(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.execute(f"KILL QUERY {self.thread_id}")

        with contextlib.suppress(SourceError):
            await self.my.run(kill)

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.conn.close)
            self.conn = None


async def _session(target: MariadbDatabase, task: MaintenanceTask) -> _Session:
    session = _Session(_my(target), task)
    try:
        await session.open()
    except pymysql.MySQLError as exc:
        await session.close()
        raise DbError(f'database "{target.name}": {session.my.scrub(str(exc))}') from None
    return session


def _statement(action: str, table: str) -> str:
    verb = "OPTIMIZE" if action == "optimize" else "ANALYZE"
    return f"{verb} TABLE {quote(table)}"


# -- planning ---------------------------------------------------------------------------------


async def plan(target: MariadbDatabase, task: MaintenanceTask) -> list[Step]:
    """Return the steps ``task`` would run now: for ``optimize`` the tables whose free space
    (``data_free``) is over ``fragmentation_ratio`` of their space and at least
    ``bloat_min_size``; for ``analyze`` the InnoDB tables changed since their statistics
    were computed (and every other table: those engines skip unchanged tables themselves);
    every matching table with ``all_tables``. Raise DbError if the database cannot be read."""
    session = await _session(target, task)
    database = str(session.my.database)
    try:
        await session.limit(target.collect_timeout.total_seconds())
        tables = [
            r
            for r in await session.query(TABLES, database)
            if wanted(str(r[0]), task, qualified=f"{database}.{r[0]}")
        ]
        if task.action == "optimize":
            chosen = await _plan_optimize(session, target, task, tables)
        else:
            chosen = await _plan_analyze(session, task, tables)
    except pymysql.MySQLError as exc:
        raise DbError(f'database "{target.name}": {session.my.scrub(str(exc))}') from None
    finally:
        await session.close()
    chosen.sort(key=lambda c: (-c[0], c[1].target))
    return [step for _, step in chosen]


async def _plan_optimize(
    session: _Session, target: MariadbDatabase, task: MaintenanceTask, tables: list[Any]
) -> list[tuple[float, Step]]:
    th = target.thresholds
    chosen = []
    for name, _engine, data, index, free, _ in tables:
        used, free = int(data or 0) + int(index or 0), int(free or 0)
        ratio = free / (used + free) if used + free else 0.0
        over = ratio > th.fragmentation_ratio and free >= th.bloat_min_size
        if not (over or task.all_tables):
            continue
        why = f"free space {percent(ratio)} ({mib(free)} of {mib(used + free)})"
        before = await _figures(session, str(name))
        step = Step(
            target=str(name),
            sql=_statement("optimize", str(name)),
            reason=why if over else f"all_tables ({why})",
            before=before,
        )
        chosen.append((float(free), step))
    return chosen


async def _plan_analyze(
    session: _Session, task: MaintenanceTask, tables: list[Any]
) -> list[tuple[float, Step]]:
    try:
        stats: dict[str, Any] | None = {
            str(n): t for n, t in await session.query(STATS_TIMES, session.my.database)
        }
    except pymysql.MySQLError:  # no SELECT on mysql.*: judge by update_time alone
        stats = None
    chosen = []
    for name, engine, _data, _index, _free, updated in tables:
        name = str(name)
        if str(engine).lower() != "innodb":
            why = f"{engine} table (the engine skips it when unchanged)"
        elif stats is not None and name not in stats:
            why = "no persistent statistics yet"
        elif updated is not None and (stats is None or updated > stats[name]):
            why = f"changed {updated:%Y-%m-%d %H:%M:%S}, after its statistics were computed"
        elif task.all_tables:
            why = "all_tables"
        else:
            continue
        step = Step(
            target=name,
            sql=_statement("analyze", name),
            reason=why,
            before=await _figures(session, name),
        )
        chosen.append((0.0, step))
    return chosen


async def _figures(session: _Session, table: str) -> dict[str, float]:
    """size_bytes (the tablespace file when the table has its own, else data + index +
    free) and bloat_bytes (``data_free``)."""
    found = await session.query(FIGURES, session.my.database, table)
    if not found:
        return {}
    data, index, free = (int(v or 0) for v in found[0])
    size = data + index + free
    with contextlib.suppress(pymysql.MySQLError):
        files = await session.query(FILE_SIZE[session.mariadb], f"{session.my.database}/{table}")
        if files and files[0][0]:
            size = int(files[0][0])
    return {"size_bytes": size, "bloat_bytes": free}


# -- running ----------------------------------------------------------------------------------


async def run(target: MariadbDatabase, task: MaintenanceTask, steps: list[Step]) -> list[Step]:
    """Run ``steps`` one by one under the task's lock and statement timeouts and return
    them with status, duration and ``before``/``after`` figures. A failed step (lock not
    granted, timeout, error) is recorded and the next one still runs; none starts after
    ``max_runtime``. Raise nothing but CancelledError (the statement is killed first)."""
    budget = Budget(task)
    done: list[Step] = []
    session: _Session | None = None
    try:
        for step in steps:
            if step.status != "planned":
                done.append(step)
                continue
            if budget.spent:
                done.append(not_started(step, budget))
                continue
            if session is None:
                try:
                    session = await _session(target, task)
                except DbError as exc:
                    done.append(replace(step, status="failed", error=str(exc)))
                    continue
            finished = await _run_step(session, target, task, step)
            done.append(finished)
            if session.conn is None or not session.conn.open:
                await session.close()
                session = None
    finally:
        if session is not None:
            await session.close()
    return done


async def _run_step(
    session: _Session, target: MariadbDatabase, task: MaintenanceTask, step: Step
) -> Step:
    scrub = session.my.scrub
    try:
        await session.limit(target.collect_timeout.total_seconds())
        before = await _figures(session, step.target)
        if not before:
            return replace(step, status="failed", error=f"table {step.target} no longer exists")
        await session.limit(task.statement_timeout.total_seconds())
    except pymysql.MySQLError as exc:
        return replace(step, status="failed", error=scrub(str(exc)))
    started = time.monotonic()
    error = ""
    try:
        result = await session.query(
            _statement(task.action, step.target),
            limit=task.statement_timeout.total_seconds() + WATCHDOG_GRACE,
        )
        error = _result_error(result, task, step.target)
    except pymysql.MySQLError as exc:
        error = _error(exc, task, step.target, scrub)
    seconds = time.monotonic() - started
    after: dict[str, float] = {}
    with contextlib.suppress(pymysql.MySQLError):
        await session.limit(target.collect_timeout.total_seconds())
        after = await _figures(session, step.target)
    return replace(
        step,
        status="failed" if error else "succeeded",
        before=before,
        after=after,
        duration_s=round(seconds, 3),
        error=error,
    )


def _error(
    exc: pymysql.MySQLError, task: MaintenanceTask, table: str, scrub: Callable[[str], str]
) -> str:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    if code == LOCK_TIMEOUT:
        return lock_error(task, table)
    if code in INTERRUPTED:
        return timeout_error(task)
    return scrub(str(exc))


def _result_error(rows: list[tuple[Any, ...]], task: MaintenanceTask, table: str) -> str:
    """OPTIMIZE and ANALYZE report failures as result rows, not as errors."""
    for row in rows:
        if len(row) >= 4 and str(row[2]).lower() == "error":
            text = str(row[3])
            if "lock wait timeout" in text.lower():
                return lock_error(task, table)
            if "interrupted" in text.lower() or "max_statement_time" in text.lower():
                return timeout_error(task)
            return text
    return ""
