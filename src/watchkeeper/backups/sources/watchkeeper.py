"""Watchkeeper's own store and home directory.

The store is copied the way its kind needs (SQLite's online backup API, or ``pg_dump`` of
its PostgreSQL database); the home directory follows without the log store (large, and
kept by its own retention), without the live SQLite files (already in the copy) and
without what is re-created when missing: ``cache/`` (restic's cache lives in
``cache/restic``), ``tmp/``, Python's ``__pycache__`` directories, and any directory that
marks itself a cache with a ``CACHEDIR.TAG`` file (https://bford.info/cachedir/).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from watchkeeper.backups.engine import BackupResult, Engine, ProgressCallback, RepositoryAccess
from watchkeeper.backups.sources.base import Inventory, Part
from watchkeeper.backups.sources.files import back_up_paths
from watchkeeper.backups.sources.pgconn import PgTarget
from watchkeeper.backups.sources.postgres import dump_database
from watchkeeper.backups.sources.sqlite import back_up_sqlite
from watchkeeper.settings import Settings

STORE_DUMP = "watchkeeper.pgdump"
STORE_COPY = "watchkeeper.db"
LOG_STORE = "logs"
RECREATED = ("cache", "tmp")
"""Directories of the home that are re-created when missing: never backed up."""
RECREATED_ANYWHERE = ("__pycache__",)
CACHE_TAG = "CACHEDIR.TAG"
CACHE_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


def home_excludes(home: Path) -> list[str]:
    """The restic ``--exclude`` patterns for the home directory ``home`` (absolute): the
    log store, the re-creatable directories, and every directory tagged as a cache."""
    fixed = [str(home / name) for name in (LOG_STORE, *RECREATED)]
    return [*fixed, *RECREATED_ANYWHERE, *_tagged_caches(home, fixed)]


def _tagged_caches(home: Path, skip: Sequence[str]) -> list[str]:
    found: list[str] = []
    for directory, dirs, files in os.walk(home):
        if CACHE_TAG in files and _is_cache_tag(Path(directory) / CACHE_TAG):
            found.append(directory)
            dirs[:] = []
            continue
        dirs[:] = [
            d
            for d in dirs
            if d not in RECREATED_ANYWHERE and os.path.join(directory, d) not in skip
        ]
    return found


def _is_cache_tag(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(CACHE_SIGNATURE)) == CACHE_SIGNATURE
    except OSError:
        return False


class WatchkeeperBackup:
    kind = "watchkeeper"

    def __init__(self, settings: Settings, compare_tables: int, sample_files: int) -> None:
        self.settings = settings
        self.compare_tables = compare_tables
        self.sample_files = sample_files

    def _sqlite_path(self) -> Path | None:
        if not self.settings.uses_default_database:
            return None
        return Path(make_url(self.settings.database_url).database or "").absolute()

    async def back_up(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        tags: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> tuple[list[BackupResult], Inventory]:
        results: list[BackupResult] = []
        parts: list[Part] = []
        home = self.settings.home.absolute()
        exclude = await asyncio.to_thread(home_excludes, home) if home.is_dir() else []
        sqlite_path = self._sqlite_path()
        if sqlite_path is not None:
            result, part = await back_up_sqlite(
                engine,
                repo,
                sqlite_path,
                STORE_COPY,
                tags,
                progress,
                compare_tables=self.compare_tables,
            )
            exclude += [str(sqlite_path) + suffix for suffix in ("", "-wal", "-shm", "-journal")]
        else:
            result, part = await dump_database(
                engine,
                repo,
                PgTarget.parse(self.settings.database_url),
                STORE_DUMP,
                tags,
                progress,
                compare_tables=self.compare_tables,
            )
        results.append(result)
        parts.append(part)
        if home.is_dir():
            result, part = await back_up_paths(
                engine, repo, [home], tags, progress, exclude=exclude, sample=self.sample_files
            )
            results.append(result)
            parts.append(part)
        return results, {"source": self.kind, "parts": parts}
