"""Backup sources, one module per ``source.type`` of the plan; :func:`for_policy` picks one
(importing only that one: the database drivers are a good part of a backup command's
start-up)."""

from __future__ import annotations

from watchkeeper.backups.config import (
    FilesSource,
    MariadbSource,
    Policy,
    PostgresSource,
    SqliteSource,
)
from watchkeeper.backups.sources.base import (
    DEFAULT_COMPARE_TABLES,
    DEFAULT_SAMPLE_FILES,
    BackupSource,
    Inventory,
    SourceError,
)
from watchkeeper.settings import Settings


def for_policy(policy: Policy, settings: Settings | None = None) -> BackupSource:
    """Return the source that backs up ``policy``; raise SourceError if it cannot be built
    (a bad URL, or the ``watchkeeper`` source without the process's settings)."""
    tables = policy.drill.compare_tables if policy.drill else DEFAULT_COMPARE_TABLES
    files = policy.drill.sample_files if policy.drill else DEFAULT_SAMPLE_FILES
    source = policy.source
    if isinstance(source, PostgresSource):
        from watchkeeper.backups.sources.postgres import PostgresBackup

        return PostgresBackup(source, tables)
    if isinstance(source, MariadbSource):
        from watchkeeper.backups.sources.mariadb import MariadbBackup

        return MariadbBackup(source, tables)
    if isinstance(source, SqliteSource):
        from watchkeeper.backups.sources.sqlite import SqliteBackup

        return SqliteBackup(source, tables)
    if isinstance(source, FilesSource):
        from watchkeeper.backups.sources.files import FilesBackup

        return FilesBackup(source, files)
    if settings is None:
        raise SourceError("the watchkeeper source needs the server's settings")
    from watchkeeper.backups.sources.watchkeeper import WatchkeeperBackup

    return WatchkeeperBackup(settings, tables, files)


__all__ = ["BackupSource", "Inventory", "SourceError", "for_policy"]
