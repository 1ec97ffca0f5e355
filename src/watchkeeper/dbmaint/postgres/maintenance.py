"""PostgreSQL maintenance: ``VACUUM (ANALYZE)``, ``ANALYZE``, ``REINDEX INDEX CONCURRENTLY``
and ``pg_repack`` of the tables and indexes the thresholds choose.

Every statement runs on an autocommit connection (VACUUM and the CONCURRENTLY forms refuse
a transaction block) under the task's ``lock_timeout`` and ``statement_timeout``, so a table
someone else has locked is given up on quickly instead of queueing everybody behind us.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import signal
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import errors, sql

from watchkeeper.backups.sources.base import SourceError
from watchkeeper.backups.sources.pgconn import PgTarget
from watchkeeper.dbmaint.config import MaintenanceTask, PostgresDatabase, Thresholds
from watchkeeper.dbmaint.interface import DbError, Step
from watchkeeper.dbmaint.postgres import maint_sql as q
from watchkeeper.dbmaint.postgres.bloat import Bloat
from watchkeeper.dbmaint.steps import (
    lock_error,
    mib,
    percent,
    ran,
    run_each,
    timeout_error,
    wanted,
)

APPLICATION_NAME = "watchkeeper-dbmaint"
REPACK_GRACE = 30.0
"""Seconds pg_repack gets to clean up after an interrupt before it is killed."""

Conn = psycopg.AsyncConnection[Any]


def _pg(target: PostgresDatabase) -> PgTarget:
    try:
        pg = PgTarget.parse(target.url)
    except SourceError as exc:
        raise DbError(f'database "{target.name}": {exc}') from None
    if pg.params.get("application_name") != "watchkeeper-backup":
        return pg  # the URL names its own
    return replace(pg, params={**pg.params, "application_name": APPLICATION_NAME})


async def _connect(target: PostgresDatabase) -> Conn:
    try:
        return await _pg(target).connect()
    except SourceError as exc:
        raise DbError(f'database "{target.name}": {exc}') from None


def _ms(value: timedelta) -> sql.Composable:
    return sql.Literal(f"{max(1, round(value.total_seconds() * 1000))}ms")


async def _timeouts(conn: Conn, lock: timedelta, statement: timedelta) -> None:
    await conn.execute(sql.SQL("SET lock_timeout = {}").format(_ms(lock)))
    await conn.execute(sql.SQL("SET statement_timeout = {}").format(_ms(statement)))


def _statement(action: str, schema: str, name: str) -> sql.Composed:
    ident = sql.Identifier(schema, name)
    if action == "vacuum":
        return sql.SQL("VACUUM (ANALYZE) {}").format(ident)
    if action == "analyze":
        return sql.SQL("ANALYZE {}").format(ident)
    if action == "reindex":
        return sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(ident)
    raise DbError(f"postgres has no maintenance statement for {action}")


def _over(bloat: Bloat | None, th: Thresholds) -> bool:
    """Bloated as the advisor judges it (:func:`~watchkeeper.dbmaint.postgres.findings.
    table_bloat`/``index_bloat``): over ``bloat_ratio`` and at least ``bloat_min_size``."""
    return bloat is not None and bloat.ratio > th.bloat_ratio and bloat.bytes >= th.bloat_min_size


HOW = {
    "estimate": "estimated from pg_stats",
    "pgstattuple": "measured with pgstattuple",
    "pgstattuple_approx": "measured with pgstattuple_approx",
    "pgstatindex": "measured with pgstatindex",
}


# -- planning ---------------------------------------------------------------------------------


async def plan(target: PostgresDatabase, task: MaintenanceTask) -> list[Step]:
    """Return the steps ``task`` would run now: the tables (or indexes) its thresholds
    choose (every matching one with ``all_tables``), worst first, each with its ``before``
    figures; raise DbError if the database cannot be read."""
    conn = await _connect(target)
    try:
        await _timeouts(conn, task.lock_timeout, target.collect_timeout)
        if task.action == "reindex":
            return await _plan_reindex(conn, target, task)
        if task.action == "repack":
            return await _plan_repack(conn, target, task)
        return await _plan_tables(conn, target, task)
    except psycopg.Error as exc:
        raise DbError(f'database "{target.name}": {_pg(target).scrub(str(exc).strip())}') from None
    finally:
        await conn.close()


async def _plan_tables(conn: Conn, target: PostgresDatabase, task: MaintenanceTask) -> list[Step]:
    th = target.thresholds
    chosen: list[tuple[float, q.TableStats, str]] = []
    for t in await q.tables(conn):
        if not wanted(t.name, task):
            continue
        if task.action == "vacuum":
            ratio = t.dead / (t.live + t.dead) if t.live + t.dead else 0.0
            over = ratio > th.vacuum_dead_ratio and t.dead >= th.vacuum_min_dead
            why = f"dead tuples {percent(ratio)} ({t.dead:,})"
            rank = float(t.dead)
        else:
            ratio = t.modified / max(t.live, 1)
            over = t.modified > 0 and ratio > th.analyze_modified_ratio
            why = f"{t.modified:,} rows modified since the last ANALYZE ({percent(ratio)})"
            rank = ratio
        if over or task.all_tables:
            chosen.append((rank, t, why if over else f"all_tables ({why})"))
    chosen.sort(key=lambda c: (-c[0], c[1].name))
    found = await q.estimates(conn, tables=[t.oid for _, t, _ in chosen])
    steps = []
    for _, t, why in chosen:
        before: dict[str, float] = {"size_bytes": t.total_bytes, "dead_tuples": t.dead}
        estimate = found.get(t.oid)
        if estimate is not None and estimate.bloat is not None:
            before["bloat_bytes"] = estimate.bloat.bytes
        if task.action == "analyze":
            before["modified_since_analyze"] = t.modified
        text = _statement(task.action, t.schema, t.table).as_string(conn)
        steps.append(Step(target=t.name, sql=text, reason=why, before=before))
    return steps


async def _bloated(
    conn: Conn, task: MaintenanceTask, th: Thresholds, oids: list[int], *, index: bool
) -> dict[int, tuple[q.Estimate, Bloat | None, str]]:
    """The relations of ``oids`` (btree indexes, or tables) a reindex or repack takes,
    judged as the advisor judges them: the estimate, and for the estimate's candidates a
    pgstattuple measurement when that extension is installed (measuring reads the whole
    relation: the others keep their estimate); every one with ``all_tables``. Each comes
    with its bloat and the reason it was taken."""
    found = await (q.estimates(conn, indexes=oids) if index else q.estimates(conn, tables=oids))
    schema = await q.extension_schema(conn, "pgstattuple")
    chosen: dict[int, tuple[q.Estimate, Bloat | None, str]] = {}
    for oid in oids:
        estimate = found.get(oid)
        if estimate is None or not (task.all_tables or _over(estimate.bloat, th)):
            continue
        bloat = estimate.bloat
        if schema is not None and _over(bloat, th):
            measure = q.measure_index if index else q.measure_table
            bloat = await measure(conn, estimate, schema) or bloat
        over = _over(bloat, th)
        if not (over or task.all_tables):
            continue
        if bloat is None:
            why = "bloat not estimated (no statistics in pg_stats)"
        else:
            why = (
                f"bloat {percent(bloat.ratio)} ({mib(bloat.bytes)} of "
                f"{mib(estimate.size_bytes)}) {HOW.get(bloat.source, bloat.source)}"
            )
        chosen[oid] = (estimate, bloat, why if over else f"all_tables ({why})")
    return chosen


def _waste(bloat: Bloat | None) -> dict[str, float]:
    return {"bloat_bytes": bloat.bytes} if bloat is not None else {}


async def _plan_reindex(conn: Conn, target: PostgresDatabase, task: MaintenanceTask) -> list[Step]:
    found = [r for r in await q.rows(conn, q.INDEXES) if wanted(f"{r[1]}.{r[3]}", task)]
    names = {int(r[0]): (str(r[1]), str(r[2])) for r in found}
    chosen = await _bloated(conn, task, target.thresholds, list(names), index=True)
    steps = []
    for oid, (estimate, bloat, why) in chosen.items():
        schema, name = names[oid]
        step = Step(
            target=f"{schema}.{name}",
            sql=_statement("reindex", schema, name).as_string(conn),
            reason=why,
            before={"size_bytes": estimate.size_bytes, **_waste(bloat)},
        )
        steps.append(step)
    steps.sort(key=lambda s: (-s.before.get("bloat_bytes", 0), s.target))
    return steps


async def _plan_repack(conn: Conn, target: PostgresDatabase, task: MaintenanceTask) -> list[Step]:
    stats = {t.oid: t for t in await q.tables(conn) if wanted(t.name, task)}
    chosen = await _bloated(conn, task, target.thresholds, list(stats), index=False)
    missing = await _repack_missing(conn, target)
    steps = []
    for oid, (_, bloat, why) in chosen.items():
        t = stats[oid]
        step = Step(
            target=t.name,
            sql=shlex.join(_repack_argv(_pg(target), t.schema, t.table, task)),
            reason=why,
            before={"size_bytes": t.total_bytes, "dead_tuples": t.dead, **_waste(bloat)},
        )
        problem = missing or await _unrepackable(conn, t.oid)
        if problem:
            step = replace(step, status="skipped", error=problem)
        steps.append(step)
    steps.sort(key=lambda s: (-s.before.get("bloat_bytes", 0), s.target))
    return steps


async def _repack_missing(conn: Conn, target: PostgresDatabase) -> str:
    """Why pg_repack cannot run here ("" when it can)."""
    if shutil.which("pg_repack") is None:
        return "pg_repack is not installed (no pg_repack program on PATH)"
    if not await q.has_extension(conn, "pg_repack"):
        return (
            f'the pg_repack extension is not created in database "{_pg(target).database}" '
            "(CREATE EXTENSION pg_repack)"
        )
    return ""


async def _unrepackable(conn: Conn, oid: int) -> str:
    found = await q.rows(conn, q.REPACKABLE, oid)
    if found and found[0][0]:
        return ""
    return "no primary key or unique index on NOT NULL columns (pg_repack needs one)"


def _repack_argv(pg: PgTarget, schema: str, table: str, task: MaintenanceTask) -> list[str]:
    # pg_repack builds its own "dbname=... host=..." string: hand it the parts, never a
    # connection string (and the password only through PGPASSWORD)
    argv = ["pg_repack", "--no-order", "--no-kill-backend"]
    argv.append(f"--wait-timeout={max(1, round(task.lock_timeout.total_seconds()))}")
    argv.append(f"--dbname={pg.database}")
    for key, flag in (("host", "--host"), ("port", "--port"), ("user", "--username")):
        if pg.params.get(key):
            argv.append(f"{flag}={pg.params[key]}")
    argv.append("--no-password")
    argv.append(f"--table={sql.Identifier(schema).as_string()}.{sql.Identifier(table).as_string()}")
    return argv


# -- running ----------------------------------------------------------------------------------


async def run(target: PostgresDatabase, task: MaintenanceTask, steps: list[Step]) -> list[Step]:
    """Run ``steps`` one by one, each statement under the task's lock and statement
    timeouts, and return them with status, duration and ``before``/``after`` figures. A step
    that fails (lock not granted, timeout, error) is recorded and the next one still runs;
    none starts after ``max_runtime``; steps planned as skipped stay skipped. Raise nothing
    but CancelledError (the running statement is cancelled on the server first)."""
    return await run_each(
        steps,
        task,
        connect=lambda: _connect(target),
        run_step=lambda conn, step: _run_step(conn, target, task, step),
        close=lambda conn: conn.close(),
        usable=lambda conn: not (conn.broken or conn.closed),
    )


async def _run_step(
    conn: Conn, target: PostgresDatabase, task: MaintenanceTask, step: Step
) -> Step:
    scrub = _pg(target).scrub
    try:
        await _timeouts(conn, task.lock_timeout, target.collect_timeout)
        schema, _, name = step.target.partition(".")
        found = await q.rows(conn, q.RESOLVE, schema, name)
        if not found:
            return replace(step, status="failed", error=f"{step.target} no longer exists")
        oid = int(found[0][0])
        exact = await q.extension_schema(conn, "pgstattuple")
        if task.action == "repack":
            return await _run_repack(conn, target, task, step, oid, exact)
        before = await _figures(conn, task.action, oid, exact)
        if task.action == "reindex":
            await _drop_leftovers(conn, oid, name)  # of an earlier run that failed
    except errors.LockNotAvailable:
        return replace(step, status="failed", error=lock_error(task, step.target))
    except psycopg.Error as exc:
        return replace(step, status="failed", error=scrub(str(exc).strip()))
    started = time.monotonic()
    error = ""
    try:
        await _timeouts(conn, task.lock_timeout, task.statement_timeout)
        await conn.execute(_statement(task.action, schema, name))
    except errors.LockNotAvailable:
        error = lock_error(task, step.target)
    except errors.QueryCanceled:
        error = timeout_error(task)
    except psycopg.Error as exc:
        error = scrub(str(exc).strip())
    seconds = time.monotonic() - started
    after: dict[str, float] = {}
    try:
        if conn.broken or conn.closed:
            raise psycopg.OperationalError("the connection was lost")
        await _timeouts(conn, task.lock_timeout, target.collect_timeout)
        if error and task.action == "reindex":
            error += await _drop_leftovers(conn, oid, name)
        if task.action == "reindex":  # the rebuilt index is a new relation under the old name
            found = await q.rows(conn, q.RESOLVE, schema, name)
            oid = int(found[0][0]) if found else oid
        after = await _figures(conn, task.action, oid, exact)
    except psycopg.Error as exc:
        error = error or f"ran, but the figures could not be read: {scrub(str(exc).strip())}"
    return ran(step, before, after, seconds, error)


async def _figures(conn: Conn, action: str, oid: int, exact: str | None) -> dict[str, float]:
    """The figures a step records: size, dead tuples and bloat as the advisor computes
    them (measured with pgstattuple, installed in schema ``exact``, where the collection
    measures: indexes, and tables before and after pg_repack)."""
    if action == "reindex":
        found = await q.rows(conn, "SELECT pg_relation_size(%s::oid)", oid)
        if not found or found[0][0] is None:
            return {}
        estimate = (await q.estimates(conn, indexes=[oid])).get(oid)
        bloat = estimate.bloat if estimate is not None else None
        if estimate is not None and exact is not None:
            bloat = await q.measure_index(conn, estimate, exact) or bloat
        return {"size_bytes": int(found[0][0]), **_waste(bloat)}
    found = await q.rows(
        conn,
        "SELECT n_dead_tup, n_mod_since_analyze, pg_total_relation_size(relid) "
        "FROM pg_stat_user_tables WHERE relid = %s::oid",
        oid,
    )
    if not found:
        return {}
    dead, modified, total = found[0]
    figures: dict[str, float] = {"size_bytes": int(total), "dead_tuples": int(dead)}
    estimate = (await q.estimates(conn, tables=[oid])).get(oid)
    bloat = estimate.bloat if estimate is not None else None
    if estimate is not None and exact is not None and action == "repack":
        bloat = await q.measure_table(conn, estimate, exact) or bloat
    figures.update(_waste(bloat))
    if action == "analyze":
        figures["modified_since_analyze"] = int(modified or 0)
    return figures


async def _drop_leftovers(conn: Conn, oid: int, name: str) -> str:
    """Drop the invalid copy a failed REINDEX CONCURRENTLY of index ``oid`` left behind
    (``<index>_ccnew``, the name cut to fit 63 bytes); return a note for the step's error.
    The drop waits for the same sessions the rebuild waited for, so it may fail too: then
    the next run drops it first."""
    prefix = name[:56].replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
    notes = []
    for schema, rel in await q.rows(conn, q.LEFTOVERS, oid, prefix):
        drop = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, rel))
        try:
            await conn.execute(drop)
            notes.append(f"; dropped the unfinished copy {schema}.{rel}")
        except psycopg.Error:
            notes.append(
                f"; its unfinished copy {schema}.{rel} is left for now "
                f"(the next run drops it, or: {drop.as_string(conn)})"
            )
    return "".join(notes)


async def _run_repack(
    conn: Conn,
    target: PostgresDatabase,
    task: MaintenanceTask,
    step: Step,
    oid: int,
    exact: str | None,
) -> Step:
    problem = await _repack_missing(conn, target) or await _unrepackable(conn, oid)
    if problem:
        return replace(step, status="skipped", error=problem)
    before = await _figures(conn, "repack", oid, exact)
    pg = _pg(target)
    schema, _, table = step.target.partition(".")
    started = time.monotonic()
    error = await _repack(pg, _repack_argv(pg, schema, table, task), task, step.target)
    seconds = time.monotonic() - started
    after = await _figures(conn, "repack", oid, exact) if not conn.broken else {}
    return ran(step, before, after, seconds, error)


def _repack_env(pg: PgTarget, task: MaintenanceTask) -> dict[str, str]:
    from watchkeeper.backups.engine import tool_environment

    env = {**tool_environment(), **pg.env()}
    for key, var in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
        ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ):
        if pg.params.get(key):
            env[var] = str(pg.params[key])
    # pg_repack waits for its own locks (--wait-timeout); every other statement it sends
    # is bounded like ours
    env["PGOPTIONS"] = (
        f"-c statement_timeout={max(1, round(task.statement_timeout.total_seconds() * 1000))}"
    )
    return env


async def _repack(pg: PgTarget, argv: list[str], task: MaintenanceTask, table: str) -> str:
    """Run pg_repack; return "" on success or its error. The whole run is bounded by the
    statement timeout: past it pg_repack is interrupted (it then removes its triggers and
    work tables) and killed if it does not stop."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=_repack_env(pg, task),
    )
    try:
        output, _ = await asyncio.wait_for(
            proc.communicate(), timeout=task.statement_timeout.total_seconds()
        )
    except TimeoutError:
        await _stop(proc)
        return timeout_error(task)
    except asyncio.CancelledError:
        await asyncio.shield(_stop(proc))
        raise
    text = pg.scrub(output.decode("utf-8", "replace").strip())
    if proc.returncode != 0 and "timed out" not in text:
        return text.splitlines()[-1] if text else f"pg_repack exited with {proc.returncode}"
    if "timed out" in text:  # --no-kill-backend: it gave up waiting instead
        return lock_error(task, table) + " (pg_repack gave up waiting)"
    if "ERROR" in text:
        return next(line for line in text.splitlines() if "ERROR" in line)
    return ""


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(proc.wait(), REPACK_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
