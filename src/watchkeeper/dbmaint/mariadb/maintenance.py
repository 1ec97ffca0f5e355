"""MariaDB/MySQL maintenance: ``OPTIMIZE TABLE`` of fragmented tables and ``ANALYZE TABLE``.

Statements run with PyMySQL in a worker thread, one connection per run, under the task's
``lock_wait_timeout`` (metadata locks) and ``innodb_lock_wait_timeout`` (row locks) and, on
MariaDB, ``max_statement_time``. MySQL has no server-side limit for these statements, so a
watchdog sends ``KILL QUERY`` when the statement timeout has passed (on both, as a backstop);
cancelling the run does the same. The tables and the space they waste are read as the health
collection reads them (:func:`~watchkeeper.dbmaint.mariadb.tables.read_reclaimable`, on a
monitoring session), so an optimize task takes the tables the advisor flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pymysql

from watchkeeper.backups.sources.base import SourceError
from watchkeeper.backups.sources.myconn import MyTarget, quote
from watchkeeper.dbmaint.config import MaintenanceTask, MariadbDatabase
from watchkeeper.dbmaint.interface import DbError, Step
from watchkeeper.dbmaint.mariadb.session import Session
from watchkeeper.dbmaint.mariadb.tables import Table, fragmented, read_reclaimable
from watchkeeper.dbmaint.steps import (
    lock_error,
    mib,
    percent,
    ran,
    run_each,
    timeout_error,
    wanted,
)

WATCHDOG_GRACE = 5.0
"""Seconds past the statement timeout before the watchdog kills the statement."""
LOCK_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT: metadata and row locks alike
INTERRUPTED = (1317, 1028, 1969, 3024)  # killed; sort aborted; max_statement_time; MySQL's

STATS_TIMES = (
    "SELECT table_name, last_update FROM mysql.innodb_table_stats WHERE database_name = %s"
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
        else:  # MySQL bounds SELECTs only (OPTIMIZE and ANALYZE are left to the watchdog)
            await self.query(f"SET SESSION max_execution_time = {math.ceil(seconds * 1000)}")

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


def _reclaimable(target: MariadbDatabase, names: Sequence[str] = ()) -> dict[str, Table]:
    """The tables of the URL's database (only ``names``, when given) by name, with the
    space OPTIMIZE TABLE would return as the health collection estimates it
    (:func:`~watchkeeper.dbmaint.mariadb.tables.read_reclaimable`), read on a monitoring
    session under ``collect_timeout``; raise DbError. Runs in a worker thread."""
    database = _my(target).database
    assert database is not None  # _my refuses a URL without one
    session = Session.for_url(target.url, target.collect_timeout.total_seconds())
    session.open()
    try:
        page_size = int(session.value("SELECT @@innodb_page_size AS p") or 16384)
        tables, _ = read_reclaimable(session, [database], page_size, names)
    except pymysql.MySQLError as exc:
        raise DbError(f'database "{target.name}": {session.scrub(exc)}') from None
    finally:
        session.close()
    return {t.name: t for t in tables}


async def plan(target: MariadbDatabase, task: MaintenanceTask) -> list[Step]:
    """Return the steps ``task`` would run now: for ``optimize`` the tables whose
    reclaimable space (``data_free`` and their indexes' unused pages, as the health
    collection estimates it) passes ``fragmentation_ratio`` and ``bloat_min_size``; for
    ``analyze`` the InnoDB tables changed since their statistics were computed (and every
    other table: those engines skip unchanged tables themselves); every matching table
    with ``all_tables``. Raise DbError if the database cannot be read."""
    database = str(_my(target).database)
    found = await asyncio.to_thread(_reclaimable, target)
    tables = [t for t in found.values() if wanted(t.name, task, qualified=f"{database}.{t.name}")]
    session = await _session(target, task)
    try:
        await session.limit(target.collect_timeout.total_seconds())
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


def _why(table: Table) -> str:
    allocated = table.total_bytes + table.own_free
    text = (
        f"reclaimable {percent(table.free_ratio)} ({mib(table.free_bytes)} of "
        f"{mib(allocated)}: data_free {mib(table.own_free)}"
    )
    if table.unused_page_bytes:
        text += f", unused index pages {mib(table.unused_page_bytes)}"
    return text + ")"


async def _plan_optimize(
    session: _Session, target: MariadbDatabase, task: MaintenanceTask, tables: list[Table]
) -> list[tuple[float, Step]]:
    chosen = []
    for table in tables:
        over = fragmented(table, target.thresholds)
        if not (over or task.all_tables):
            continue
        why = _why(table)
        step = Step(
            target=table.name,
            sql=_statement("optimize", table.name),
            reason=why if over else f"all_tables ({why})",
            before=await _figures(session, table),
        )
        chosen.append((float(table.free_bytes), step))
    return chosen


async def _plan_analyze(
    session: _Session, task: MaintenanceTask, tables: list[Table]
) -> list[tuple[float, Step]]:
    try:
        stats: dict[str, Any] | None = {
            str(n): t for n, t in await session.query(STATS_TIMES, session.my.database)
        }
    except pymysql.MySQLError:  # no SELECT on mysql.*: judge by update_time alone
        stats = None
    chosen = []
    for table in sorted(tables, key=lambda t: t.name):
        name, engine, updated = table.name, table.engine, table.updated
        if engine.lower() != "innodb":
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
            before=await _figures(session, table),
        )
        chosen.append((0.0, step))
    return chosen


async def _figures(session: _Session, table: Table) -> dict[str, float]:
    """size_bytes (the tablespace file when the table has its own, else data + index +
    free) and bloat_bytes (the reclaimable space, :attr:`Table.free_bytes`)."""
    size = table.total_bytes + table.own_free
    with contextlib.suppress(pymysql.MySQLError):
        name = f"{session.my.database}/{table.name}"
        files = await session.query(FILE_SIZE[session.mariadb], name)
        if files and files[0][0]:
            size = int(files[0][0])
    return {"size_bytes": size, "bloat_bytes": table.free_bytes}


async def _figures_now(session: _Session, target: MariadbDatabase, name: str) -> dict[str, float]:
    """:func:`_figures` of table ``name`` as it is now ({} when it no longer exists);
    raise DbError or pymysql.MySQLError."""
    found = (await asyncio.to_thread(_reclaimable, target, [name])).get(name)
    return await _figures(session, found) if found is not None else {}


# -- running ----------------------------------------------------------------------------------


async def run(target: MariadbDatabase, task: MaintenanceTask, steps: list[Step]) -> list[Step]:
    """Run ``steps`` one by one under the task's lock and statement timeouts and return
    them with status, duration and ``before``/``after`` figures. A failed step (lock not
    granted, timeout, error) is recorded and the next one still runs; none starts after
    ``max_runtime``. Raise nothing but CancelledError (the statement is killed first)."""
    return await run_each(
        steps,
        task,
        connect=lambda: _session(target, task),
        run_step=lambda session, step: _run_step(session, target, task, step),
        close=lambda session: session.close(),
        usable=lambda session: session.conn is not None and bool(session.conn.open),
    )


async def _run_step(
    session: _Session, target: MariadbDatabase, task: MaintenanceTask, step: Step
) -> Step:
    scrub = session.my.scrub
    try:
        await session.limit(target.collect_timeout.total_seconds())
        before = await _figures_now(session, target, step.target)
        if not before:
            return replace(step, status="failed", error=f"table {step.target} no longer exists")
        await session.limit(task.statement_timeout.total_seconds())
    except DbError as exc:
        return replace(step, status="failed", error=str(exc))
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
    with contextlib.suppress(pymysql.MySQLError, DbError):
        await session.limit(target.collect_timeout.total_seconds())
        after = await _figures_now(session, target, step.target)
    return ran(step, before, after, seconds, error)


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
