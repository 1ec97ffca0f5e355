"""SQLite health collection on real files: a freelist left by deletes, a WAL kept large by
a writer that does not checkpoint, a corrupted file; and the file is never written."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.dbmaint.config import SqliteDatabase
from watchkeeper.dbmaint.interface import Collection, DbError
from watchkeeper.dbmaint.sqlite import collect as sqlite_collect
from watchkeeper.dbmaint.sqlite.collect import collect
from watchkeeper.dbmaint.sqlite.reader import Interrupted, Reader


def target(path: Path, **thresholds: Any) -> SqliteDatabase:
    return SqliteDatabase.model_validate(
        {"name": "app", "type": "sqlite", "path": str(path), "thresholds": thresholds}
    )


def values(c: Collection) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in c.samples}


def filled(path: Path, rows: int = 2000, wal: bool = False) -> sqlite3.Connection:
    """Create ``path`` with notes (``rows`` of ~1 KiB, indexed) and tags; return the open
    connection."""
    conn = sqlite3.connect(path, isolation_level=None)
    if wal:
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the WAL keeps growing
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, tag TEXT)")
    conn.execute("CREATE INDEX notes_tag ON notes (tag)")
    conn.execute("CREATE TABLE tags (name TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO notes (body, tag) VALUES (?, ?)",
        [(f"{i:06d}" + "x" * 1000, f"t{i % 7}") for i in range(rows)],
    )
    conn.executemany("INSERT INTO tags VALUES (?)", [(f"t{i}",) for i in range(7)])
    conn.execute("COMMIT")
    return conn


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_freelist_after_deletes_wants_vacuum(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    filled(db).close()
    t = target(db, bloat_min_size="256KiB")
    before = asyncio.run(collect(t))
    assert not before.findings
    assert values(before)[("table_rows", (("table", "main.notes"),))] == 2000

    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM notes WHERE id % 10 <> 0")
    conn.commit()
    conn.close()
    c = asyncio.run(collect(t))
    (f,) = c.findings
    assert f.key == "freelist:main" and f.sql == "VACUUM" and f.severity == "warning"
    summary = c.details["summary"]
    assert summary["freelist_ratio"] > 0.5
    assert f.impact_bytes == summary["freelist_bytes"] == values(c)[("freelist_bytes", ())]
    assert summary["freelist_bytes"] == summary["freelist_pages"] * summary["page_size"]
    assert values(c)[("size_bytes", ())] == c.size_bytes == db.stat().st_size
    assert values(c)[("table_rows", (("table", "main.notes"),))] == 200
    assert values(c)[("integrity_ok", ())] == 1.0
    tables = {t["name"]: t for t in c.details["tables"]}
    assert tables["main.tags"]["rows"] == 7
    indexes = {i["name"]: i for i in c.details["indexes"]}
    assert indexes["notes_tag"]["table"] == "main.notes" and indexes["notes_tag"]["size_bytes"] > 0
    # a threshold above the waste keeps it quiet
    assert not asyncio.run(collect(target(db, bloat_min_size="1GiB"))).findings


def test_incremental_auto_vacuum_gets_the_lighter_fix(tmp_path: Path) -> None:
    db = tmp_path / "inc.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA auto_vacuum = incremental")
    conn.close()
    conn = filled(db)
    conn.execute("DELETE FROM notes")
    conn.close()
    (f,) = asyncio.run(collect(target(db, bloat_min_size="256KiB"))).findings
    assert f.sql == "PRAGMA incremental_vacuum"


@pytest.fixture
def wal_writer(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A WAL database whose writer stays open (a closing last connection would checkpoint
    and remove the WAL)."""
    db = tmp_path / "wal.db"
    conn = filled(db, rows=3000, wal=True)
    try:
        yield db, conn
    finally:
        conn.close()


def test_large_wal_gets_a_checkpoint_hint_and_nothing_is_written(
    wal_writer: tuple[Path, sqlite3.Connection],
) -> None:
    db, writer = wal_writer
    wal = db.with_name(db.name + "-wal")
    wal_size, db_hash, wal_hash = wal.stat().st_size, digest(db), digest(wal)
    assert wal_size > 2 * 1024 * 1024
    c = asyncio.run(collect(target(db, bloat_min_size="1MiB")))
    f = next(f for f in c.findings if f.kind == "large_wal")
    assert f.key == "large_wal:main" and f.sql == "PRAGMA wal_checkpoint(TRUNCATE)"
    assert values(c)[("wal_bytes", ())] == wal_size == f.impact_bytes
    assert c.details["settings"]["journal_mode"] == "wal"
    # the rows still in the WAL are seen: the reader reads through it
    assert values(c)[("table_rows", (("table", "main.notes"),))] == 3000
    assert (digest(db), digest(wal)) == (db_hash, wal_hash)
    writer.execute("INSERT INTO tags VALUES ('after')")  # the writer is not disturbed
    assert not asyncio.run(collect(target(db))).findings  # default 50 MiB: no hint


def test_corrupted_file_fails_integrity_as_a_critical_finding(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    filled(db).close()
    page_size = 4096
    pages = db.stat().st_size // page_size
    with db.open("r+b") as fh:  # scribble over a page in the middle of notes' b-tree
        fh.seek(page_size * (pages // 2))  # its header: every b-tree page has one
        fh.write(b"\xde\xad\xbe\xef" * 256)
    c = asyncio.run(collect(target(db)))
    f = next(f for f in c.findings if f.kind == "integrity")
    assert f.key == "integrity:main" and f.severity == "critical"
    assert values(c)[("integrity_ok", ())] == 0.0
    integrity = c.details["integrity"]
    assert integrity["ok"] is False and integrity["errors"]
    assert c.details["summary"]["integrity"] == "failed"


def test_big_files_get_quick_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "app.db"
    filled(db).close()
    monkeypatch.setattr(sqlite_collect, "INTEGRITY_FULL_MAX", 1024)
    c = asyncio.run(collect(target(db)))
    assert c.details["integrity"]["mode"] == "quick_check"
    assert c.details["integrity"]["ok"] is True
    assert c.details["tables"][0]["size_bytes"] is None  # dbstat skipped on big files
    assert any("table sizes" in note for note in c.details["notes"])


def test_out_of_time_leaves_parts_unchecked_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "app.db"
    filled(db).close()
    monkeypatch.setattr(sqlite_collect, "BUDGET", 0)  # the time is up once the file is open
    c = asyncio.run(collect(target(db)))
    assert c.details["integrity"]["ok"] is None
    assert c.details["summary"]["integrity"] == "not checked"
    assert ("integrity_ok", ()) not in values(c) and not c.findings
    assert "row counts" in " ".join(c.details["notes"])
    assert values(c)[("size_bytes", ())] == db.stat().st_size


def test_statements_stop_at_the_deadline(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    filled(db, rows=10).close()
    reader = Reader(db, timeout_s=30)
    reader.open()
    try:
        reader.timeout_s = 0.0
        with pytest.raises(Interrupted):
            reader.rows(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                "WHERE i < 100000000) SELECT count(*) FROM n"
            )
    finally:
        reader.close()


def test_missing_or_foreign_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DbError, match="does not exist"):
        asyncio.run(collect(target(tmp_path / "gone.db")))
    assert not (tmp_path / "gone.db").exists()  # mode=ro never creates one
    text = tmp_path / "notes.txt"
    text.write_bytes(b"this is not a database, just words " * 200)
    with pytest.raises(DbError, match="not a database"):
        asyncio.run(collect(target(text)))
