"""SQLite health: integrity, freelist (space VACUUM would return), WAL size, tables.

The file is only read (see :mod:`.reader`). Integrity is checked with ``PRAGMA
integrity_check`` on files up to :data:`INTEGRITY_FULL_MAX` and with ``PRAGMA quick_check``
above it (quick_check skips comparing index entries with their rows: linear instead of
n·log n, so a multi-gigabyte file is still checked every collection); either is cut at the
target's ``collect_timeout`` and then reported as not checked. Row counts are exact
(``count(*)``) for the :data:`TABLES_COUNTED` largest tables while the time budget lasts.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from watchkeeper.dbmaint.config import SqliteDatabase, Thresholds
from watchkeeper.dbmaint.interface import Collection, DbError, Finding, Sample
from watchkeeper.dbmaint.sqlite.reader import Interrupted, Reader, quote

INTEGRITY_FULL_MAX = 1 << 30
"""Files up to this size get the full ``integrity_check`` and per-table sizes (``dbstat``
reads every page); larger ones ``quick_check`` and no sizes."""
INTEGRITY_ERRORS = 20  # error lines the check reports at most
TABLES_COUNTED = 200  # largest tables whose rows are counted (and that get series)
TABLES_LISTED = 500  # tables and indexes kept in details
BUDGET = 2
"""The whole collection stops within this many collect_timeouts (the service allows three):
the integrity check may take one, sizes and row counts share what is left."""


async def collect(target: SqliteDatabase) -> Collection:
    """Return the health of the SQLite file ``target.path``; raise DbError if the file is
    missing or is not a SQLite database. A failed integrity check is a critical finding,
    not an error."""
    return await asyncio.to_thread(_collect, target)


def _collect(target: SqliteDatabase) -> Collection:
    path = Path(target.path).expanduser()
    wal_bytes = _file_size(path.with_name(path.name + "-wal"))  # before our open adds one
    timeout = target.collect_timeout.total_seconds()
    reader = Reader(path, timeout)
    reader.open()
    reader.until = time.monotonic() + BUDGET * timeout
    try:
        return _read(reader, target.thresholds, wal_bytes)
    except Interrupted:
        raise DbError(f"SQLite database {path}: not read within the collect_timeout") from None
    finally:
        reader.close()


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read(reader: Reader, thresholds: Thresholds, wal_bytes: int) -> Collection:
    notes: list[str] = []
    page_size, page_count, free_pages, journal_mode, auto_vacuum, encoding = reader.rows(
        "SELECT * FROM pragma_page_size(), pragma_page_count(), pragma_freelist_count(), "
        "pragma_journal_mode(), pragma_auto_vacuum(), pragma_encoding()"
    )[0]
    size_bytes = int(page_size) * int(page_count)
    freelist_bytes = int(page_size) * int(free_pages)
    file_bytes = _file_size(reader.path)
    integrity = _integrity(reader, file_bytes)
    objects = _objects(reader)
    sizes = _sizes(reader, notes) if file_bytes <= INTEGRITY_FULL_MAX else None
    if file_bytes > INTEGRITY_FULL_MAX:
        notes.append("table sizes: not read on files over 1 GiB (dbstat reads every page)")
    tables, indexes = _tables(objects, sizes), _indexes(objects, sizes)
    _count_rows(reader, tables, notes)

    out = Collection(size_bytes=size_bytes)
    findings = out.findings
    if integrity["ok"] is False:
        findings.append(_integrity_finding(reader.path, integrity))
    ratio = freelist_bytes / size_bytes if size_bytes else 0.0
    if ratio > thresholds.bloat_ratio and freelist_bytes >= thresholds.bloat_min_size:
        findings.append(_freelist_finding(freelist_bytes, ratio, int(auto_vacuum)))
    if wal_bytes >= thresholds.bloat_min_size:
        findings.append(_wal_finding(wal_bytes))

    samples = out.samples
    samples += [
        Sample("size_bytes", size_bytes),
        Sample("freelist_bytes", freelist_bytes),
        Sample("wal_bytes", wal_bytes),
    ]
    if integrity["ok"] is not None:
        samples.append(Sample("integrity_ok", 1.0 if integrity["ok"] else 0.0))
    for table in tables[:TABLES_COUNTED]:
        labels = {"table": table["name"]}
        if table["total_bytes"] is not None:
            samples.append(Sample("table_size_bytes", table["total_bytes"], labels))
        if table["rows"] is not None:
            samples.append(Sample("table_rows", table["rows"], labels))
    for index in indexes[:TABLES_COUNTED]:
        if index["size_bytes"] is not None:
            labels = {"index": index["name"], "table": index["table"]}
            samples.append(Sample("index_size_bytes", index["size_bytes"], labels))

    out.queries = reader.queries
    out.details = {
        "summary": {
            "path": str(reader.path),
            "size_bytes": size_bytes,
            "page_size": int(page_size),
            "page_count": int(page_count),
            "freelist_pages": int(free_pages),
            "freelist_bytes": freelist_bytes,
            "freelist_ratio": round(ratio, 4),
            "wal_bytes": wal_bytes,
            "integrity": {True: "ok", False: "failed", None: "not checked"}[integrity["ok"]],
            "tables": len(tables),
            "indexes": len(indexes),
            "sqlite_version": sqlite3.sqlite_version,
        },
        "integrity": integrity,
        "tables": tables[:TABLES_LISTED],
        "indexes": indexes[:TABLES_LISTED],
        "settings": {
            "journal_mode": str(journal_mode),
            "auto_vacuum": {0: "none", 1: "full", 2: "incremental"}.get(int(auto_vacuum)),
            "page_size": int(page_size),
            "encoding": str(encoding),
        },
        "notes": notes,
    }
    return out


def _integrity(reader: Reader, file_bytes: int) -> dict[str, Any]:
    """Run the integrity check the file's size allows: ``ok`` is True, False (with
    ``errors``) or None when it did not finish within the timeout."""
    mode = "integrity_check" if file_bytes <= INTEGRITY_FULL_MAX else "quick_check"
    result: dict[str, Any] = {"mode": mode, "ok": None, "errors": [], "seconds": 0.0}
    started = time.monotonic()
    try:
        rows = reader.rows(f"PRAGMA {mode}({INTEGRITY_ERRORS})")
        lines = [line for row in rows for line in str(row[0]).splitlines() if line]
        result["ok"] = lines == ["ok"]
        if not result["ok"]:
            result["errors"] = lines[:INTEGRITY_ERRORS]
    except Interrupted:
        result["note"] = f"not finished in time (collect_timeout {reader.timeout_s:g}s)"
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed"
        result["ok"], result["errors"] = False, [str(exc)]
        if mode == "integrity_check":  # quick_check often still names the pages
            result["errors"] += _quick_check_errors(reader)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def _quick_check_errors(reader: Reader) -> list[str]:
    try:
        rows = reader.rows(f"PRAGMA quick_check({INTEGRITY_ERRORS})")
    except (Interrupted, sqlite3.Error):
        return []
    lines = [line for row in rows for line in str(row[0]).splitlines() if line]
    return [] if lines == ["ok"] else lines[:INTEGRITY_ERRORS]


def _objects(reader: Reader) -> list[tuple[str, str, str, str | None]]:
    rows = reader.rows(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE type IN ('table', 'index') AND (name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "OR name LIKE 'sqlite\\_autoindex\\_%' ESCAPE '\\') ORDER BY name"
    )
    return [(str(t), str(n), str(tb), s) for t, n, tb, s in rows]


def _sizes(reader: Reader, notes: list[str]) -> dict[str, int] | None:
    """Bytes per table and index from ``dbstat``; None (with a note) when unavailable."""
    try:
        rows = reader.rows("SELECT name, pgsize FROM dbstat WHERE aggregate = TRUE")
    except Interrupted:
        notes.append("table sizes: dbstat did not finish in time")
        return None
    except sqlite3.Error as exc:
        notes.append(f"table sizes: unavailable ({exc}; SQLite without dbstat)")
        return None
    return {str(name): int(size) for name, size in rows}


def _tables(
    objects: list[tuple[str, str, str, str | None]], sizes: dict[str, int] | None
) -> list[dict[str, Any]]:
    index_bytes: dict[str, int] = {}
    for kind, name, table, _ in objects:
        if kind == "index" and sizes is not None:
            index_bytes[table] = index_bytes.get(table, 0) + sizes.get(name, 0)
    tables: list[dict[str, Any]] = []
    for kind, name, _, sql in objects:
        if kind != "table":
            continue
        size = sizes.get(name, 0) if sizes is not None else None
        idx = index_bytes.get(name, 0) if sizes is not None else None
        tables.append(
            {
                "name": f"main.{name}",
                "rows": None,
                "size_bytes": size,
                "index_bytes": idx,
                "total_bytes": size + idx if size is not None and idx is not None else None,
                "virtual": (sql or "").upper().startswith("CREATE VIRTUAL"),
            }
        )
    tables.sort(key=lambda t: (-(t["total_bytes"] or 0), t["name"]))
    return tables


def _indexes(
    objects: list[tuple[str, str, str, str | None]], sizes: dict[str, int] | None
) -> list[dict[str, Any]]:
    indexes: list[dict[str, Any]] = [
        {
            "name": name,
            "table": f"main.{table}",
            "size_bytes": sizes.get(name, 0) if sizes is not None else None,
            "unique": sql is None or sql.upper().startswith("CREATE UNIQUE"),
            "primary": False,
            "valid": True,
            "definition": sql or "(implied by a PRIMARY KEY or UNIQUE constraint)",
        }
        for kind, name, table, sql in objects
        if kind == "index"
    ]
    indexes.sort(key=lambda i: (-(i["size_bytes"] or 0), i["name"]))
    return indexes


def _count_rows(reader: Reader, tables: list[dict[str, Any]], notes: list[str]) -> None:
    """Count the rows of the largest tables while the collection's time lasts."""
    for table in tables[:TABLES_COUNTED]:
        if table["virtual"]:
            continue
        if reader.until is not None and time.monotonic() > reader.until:
            notes.append("row counts: the collection's time ran out; later tables not counted")
            return
        try:
            table["rows"] = int(
                reader.one(f"SELECT count(*) FROM {quote(table['name'].removeprefix('main.'))}")
            )
        except Interrupted:
            notes.append(f"row counts: {table['name']} not counted in time")
        except sqlite3.Error as exc:
            notes.append(f"row counts: {table['name']}: {exc}")


def _integrity_finding(path: Path, integrity: dict[str, Any]) -> Finding:
    errors = integrity["errors"]
    evidence = "; ".join(errors[:3]) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
    return Finding(
        key="integrity:main",
        kind="integrity",
        severity="critical",
        title=f"Integrity check failed on {path.name}",
        evidence=f"PRAGMA {integrity['mode']}: {evidence}. Restore from a backup, or "
        "salvage with the sqlite3 shell's .recover.",
        object="main",
    )


def _freelist_finding(freelist_bytes: int, ratio: float, auto_vacuum: int) -> Finding:
    incremental = auto_vacuum == 2
    return Finding(
        key="freelist:main",
        kind="freelist",
        severity="warning",
        title=f"{human_bytes(freelist_bytes)} of free pages ({ratio:.0%} of the file)",
        evidence=f"the freelist holds {human_bytes(freelist_bytes)}, {ratio:.0%} of the "
        "database; "
        + (
            "auto_vacuum=incremental returns it without a rewrite"
            if incremental
            else "VACUUM rewrites the file without them (it needs as much free disk as "
            "the file and blocks writers while it runs)"
        ),
        sql="PRAGMA incremental_vacuum" if incremental else "VACUUM",
        object="main",
        impact_bytes=freelist_bytes,
    )


def _wal_finding(wal_bytes: int) -> Finding:
    return Finding(
        key="large_wal:main",
        kind="large_wal",
        severity="info",
        title=f"WAL file of {human_bytes(wal_bytes)}",
        evidence=f"the -wal file holds {human_bytes(wal_bytes)}: checkpoints are not "
        "completing (a long-lived reader, or wal_autocheckpoint turned off), or it grew "
        "once and was never truncated",
        sql="PRAGMA wal_checkpoint(TRUNCATE)",
        object="main",
        impact_bytes=wal_bytes,
    )


def human_bytes(value: float) -> str:
    """Return ``value`` bytes in binary units ("16.0 GiB")."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size, unit = float(value), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.1f} {units[unit]}" if unit else f"{int(size)} B"
