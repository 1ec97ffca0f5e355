"""PostgreSQL: ``pg_dump -Fc`` per database (logical), or ``pg_basebackup`` (physical).

Logical dumps stream straight into the repository (nothing lands on local disk). The row
counts kept for drills are taken inside the very snapshot ``pg_dump`` reads: the counting
transaction exports its snapshot and ``pg_dump --snapshot`` uses it, so counts and dump
agree even while the database is being written to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import IsolationLevel

from watchkeeper.backups.config import PostgresSource
from watchkeeper.backups.engine import BackupResult, Engine, ProgressCallback, RepositoryAccess
from watchkeeper.backups.sources.base import Inventory, Part, SourceError, part_of
from watchkeeper.backups.sources.pgconn import PgTarget, list_databases, table_counts

BASEBACKUP_FILE = "base.tar"


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
        tables = await table_counts(conn, compare_tables)
        argv = ["pg_dump", "-Fc", "--dbname", target.conninfo()]
        if snapshot:
            argv.insert(2, f"--snapshot={snapshot}")
        # The transaction stays open until pg_dump is done: the exported snapshot lives
        # only as long as the transaction that exported it.
        result = await engine.backup_command(
            repo, argv, filename, tags=tags, env=target.env(), progress=progress
        )
    except psycopg.Error as exc:
        raise SourceError(
            f"cannot read database {target.database} on {target.where}: {target.scrub(str(exc))}"
        ) from None
    finally:
        await conn.close()
    part = part_of("postgres", result, database=target.database, file=filename, tables=tables)
    return result, part


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
