"""SQLite: a consistent copy through SQLite's online backup API, then into the repository.

The copy is made in a private temporary directory (a live database may be written to while
it is read; the backup API restarts on change, so the copy is a consistent state), counted
there, and streamed into the repository under the database's file name.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

from watchkeeper.backups.config import SqliteSource
from watchkeeper.backups.engine import BackupResult, Engine, ProgressCallback, RepositoryAccess
from watchkeeper.backups.sources.base import Inventory, Part, SourceError, part_of


def copy_database(source: Path, target: Path) -> None:
    """Copy the live database ``source`` to ``target``; raise SourceError if unreadable."""
    if not source.is_file():
        raise SourceError(f"SQLite database {source} does not exist")
    try:
        # mode=rw: never create an empty database where the file has gone.
        src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise SourceError(f"cannot copy SQLite database {source}: {exc}") from None


def table_counts(path: Path, largest: int) -> dict[str, int]:
    """Row counts of the ``largest`` tables (by rows) of the database file ``path``."""
    if largest <= 0:
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        ]
        counts = {n: count_rows(conn, n) for n in names}
    finally:
        conn.close()
    biggest = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:largest]
    return dict(sorted(biggest))


def count_rows(conn: sqlite3.Connection, table: str) -> int:
    quoted = '"' + table.replace('"', '""') + '"'
    row = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()
    return int(row[0]) if row else 0


async def back_up_sqlite(
    engine: Engine,
    repo: RepositoryAccess,
    source: Path,
    filename: str,
    tags: Sequence[str],
    progress: ProgressCallback | None,
    *,
    compare_tables: int,
) -> tuple[BackupResult, Part]:
    """Copy ``source``, count its tables and store it as ``filename``."""
    with tempfile.TemporaryDirectory(prefix="wk-sqlite-") as tmp:
        copy = Path(tmp) / filename
        await asyncio.to_thread(copy_database, source, copy)
        tables = await asyncio.to_thread(table_counts, copy, compare_tables)
        result = await engine.backup_command(
            repo, ["cat", str(copy)], filename, tags=tags, progress=progress
        )
    return result, part_of("sqlite", result, file=filename, path=str(source), tables=tables)


class SqliteBackup:
    kind = "sqlite"

    def __init__(self, config: SqliteSource, compare_tables: int) -> None:
        self.path = Path(config.path).expanduser().absolute()
        self.compare_tables = compare_tables

    async def back_up(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        tags: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> tuple[list[BackupResult], Inventory]:
        result, part = await back_up_sqlite(
            engine,
            repo,
            self.path,
            self.path.name,
            tags,
            progress,
            compare_tables=self.compare_tables,
        )
        return [result], {"source": self.kind, "parts": [part]}
