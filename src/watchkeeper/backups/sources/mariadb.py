"""MariaDB/MySQL: ``mariadb-dump --single-transaction --routines --events`` per database.

The dump is of one database without ``CREATE DATABASE``/``USE``, so that a drill or a
restore can load it into a database of another name. Row counts for drills are taken in a
consistent-snapshot transaction just before the dump; ``mariadb-dump`` cannot share it, so
on a database written to during the backup they may differ by those writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from watchkeeper.backups.config import MariadbSource
from watchkeeper.backups.engine import BackupResult, Engine, ProgressCallback, RepositoryAccess
from watchkeeper.backups.sources import myconn
from watchkeeper.backups.sources.base import Inventory, Part, SourceError, part_of


def dump_filename(database: str) -> str:
    return f"{database}.sql"


class MariadbBackup:
    """Back up MariaDB/MySQL databases, one snapshot per database."""

    kind = "mariadb"

    def __init__(self, config: MariadbSource, compare_tables: int) -> None:
        self.config = config
        self.compare_tables = compare_tables
        self.target = myconn.MyTarget.parse(config.url)

    async def back_up(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        tags: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> tuple[list[BackupResult], Inventory]:
        dump = myconn.tool("mariadb-dump", "mysqldump")
        databases = self.config.databases or await self.target.run(myconn.list_databases)
        if not databases:
            raise SourceError(f"no database to dump on {self.target.where}")
        results: list[BackupResult] = []
        parts: list[Part] = []
        for database in databases:
            counts = partial(_counts, database=database, largest=self.compare_tables)
            tables = await self.target.run(counts)
            argv = [
                dump,
                *self.target.client_args(),
                "--single-transaction",
                "--routines",
                "--events",
                "--triggers",
                "--hex-blob",
                "--",
                database,
            ]
            result = await engine.backup_command(
                repo,
                argv,
                dump_filename(database),
                tags=tags,
                env=self.target.env(),
                progress=progress,
            )
            results.append(result)
            parts.append(
                part_of(
                    "mariadb",
                    result,
                    database=database,
                    file=dump_filename(database),
                    tables=tables,
                )
            )
        return results, {"source": self.kind, "parts": parts}


def _counts(conn: Any, database: str, largest: int) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
    try:
        return myconn.table_counts(conn, database, largest)
    finally:
        conn.rollback()
