"""PostgreSQL: ``pg_dump -Fc`` per database (logical), or ``pg_basebackup`` (physical).

Logical dumps stream straight into the repository (nothing lands on local disk). The row
counts kept for drills are taken inside the very snapshot ``pg_dump`` reads: the counting
transaction exports its snapshot and ``pg_dump --snapshot`` uses it, so counts and dump
agree even while the database is being written to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import IsolationLevel

from watchkeeper.backups.config import PostgresSource
from watchkeeper.backups.engine import BackupResult, Engine, ProgressCallback, RepositoryAccess
from watchkeeper.backups.sources.base import Inventory, Part, SourceError, part_of
from watchkeeper.backups.sources.pgconn import PgTarget, list_databases, table_counts

BASEBACKUP_FILE = "base.tar"
A = TypeVar("A")
B = TypeVar("B")


def dump_filename(database: str) -> str:
    return f"{database}.pgdump"


class PostgresBackup:
    """Back up a PostgreSQL server's databases (or the whole cluster)."""

    kind = "postgres"

    def __init__(self, config: PostgresSource, compare_tables: int) -> None:
        self.config = config
        self.compare_tables = compare_tables
        self.target = PgTarget.parse(config.url)

    async def back_up(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        tags: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> tuple[list[BackupResult], Inventory]:
        if self.config.mode == "physical":
            result = await engine.backup_command(
                repo,
                [
                    "pg_basebackup",
                    "--dbname",
                    self.target.conninfo(),
                    "-D",
                    "-",
                    "-Ft",
                    "-X",
                    "fetch",
                    "--checkpoint=fast",
                ],
                BASEBACKUP_FILE,
                tags=tags,
                env=self.target.env(),
                progress=progress,
            )
            part = part_of("pg_basebackup", result, file=BASEBACKUP_FILE)
            return [result], {"source": self.kind, "parts": [part]}
        databases = self.config.databases or await list_databases(self.target)
        if not databases:
            raise SourceError(f"no database to dump on {self.target.where}")
        results: list[BackupResult] = []
        parts: list[Part] = []
        for database in databases:
            result, part = await dump_database(
                engine,
                repo,
                self.target.on(database),
                dump_filename(database),
                tags,
                progress,
                compare_tables=self.compare_tables,
            )
            results.append(result)
            parts.append(part)
        return results, {"source": self.kind, "parts": parts}


async def dump_database(
    engine: Engine,
    repo: RepositoryAccess,
    target: PgTarget,
    filename: str,
    tags: Sequence[str],
    progress: ProgressCallback | None,
    *,
    compare_tables: int,
) -> tuple[BackupResult, Part]:
    """Dump ``target``'s database with ``pg_dump -Fc`` into ``filename``, counting the rows
    of its largest tables in the same snapshot; raise SourceError or EngineError."""
    conn = await target.connect(autocommit=False)
    try:
        await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
        snapshot = await _export_snapshot(conn)
        argv = ["pg_dump", "-Fc", "--dbname", target.conninfo()]
        if snapshot:
            argv.insert(2, f"--snapshot={snapshot}")
            # Counting while pg_dump reads: both see the same snapshot, and PostgreSQL's
            # synchronized sequential scans let the two readers of a large table share its
            # pages, so the counts cost little more than the dump alone.
            tables, result = await _together(
                table_counts(conn, compare_tables),
                engine.backup_command(
                    repo, argv, filename, tags=tags, env=target.env(), progress=progress
                ),
            )
        else:  # without a shared snapshot the counts are taken just before the dump
            tables = await table_counts(conn, compare_tables)
            result = await engine.backup_command(
                repo, argv, filename, tags=tags, env=target.env(), progress=progress
            )
        # The transaction stays open until pg_dump is done: the exported snapshot lives
        # only as long as the transaction that exported it.
    except psycopg.Error as exc:
        raise SourceError(
            f"cannot read database {target.database} on {target.where}: {target.scrub(str(exc))}"
        ) from None
    finally:
        await conn.close()
    part = part_of("postgres", result, database=target.database, file=filename, tables=tables)
    return result, part


async def _together(first: Coroutine[Any, Any, A], second: Coroutine[Any, Any, B]) -> tuple[A, B]:
    """Run both at once; the first to fail cancels the other (pg_dump and restic are
    stopped by the engine's own cancellation) and its exception is raised as it is."""
    tasks = asyncio.create_task(first), asyncio.create_task(second)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()  # a no-op for a finished task
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    return tasks[0].result(), tasks[1].result()


async def _export_snapshot(conn: psycopg.AsyncConnection[Any]) -> str | None:
    """Return an exported snapshot id, or None where the server cannot export one (then
    counts and dump may differ by the writes in between)."""
    try:
        cur = await conn.execute("SELECT pg_export_snapshot()")
        row = await cur.fetchone()
    except psycopg.Error:
        await conn.rollback()
        return None
    return str(row[0]) if row else None
