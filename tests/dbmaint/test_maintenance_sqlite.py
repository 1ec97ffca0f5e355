"""SQLite maintenance: VACUUM when the free pages are worth it (the file shrinks), ANALYZE
and PRAGMA optimize, a writer holding the database failing the step at lock_timeout, and
a missing file refused rather than created."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.dbmaint.config import MaintenanceTask, SqliteDatabase
from watchkeeper.dbmaint.interface import DbError, Step
from watchkeeper.dbmaint.sqlite import maintenance


def _target(path: Path) -> SqliteDatabase:
    return SqliteDatabase.model_validate(
        {
            "name": "local",
            "type": "sqlite",
            "path": str(path),
            "thresholds": {"bloat_ratio": 0.3, "bloat_min_size": "256KiB"},
        }
    )


def _task(action: str, **fields: Any) -> MaintenanceTask:
    return MaintenanceTask.model_validate(
        {"name": f"{action}-task", "action": action, "windows": ["night"], **fields}
    )


def _plan_run(path: Path, task: MaintenanceTask) -> tuple[list[Step], list[Step]]:
    async def both() -> tuple[list[Step], list[Step]]:
        steps = await maintenance.plan(_target(path), task)
        return steps, await maintenance.run(_target(path), task, steps)

    return asyncio.run(both())


def _database(path: Path, *, keep: int, wal: bool = False) -> None:
    """2,000 rows of 1 kB, then all but ``keep`` deleted: their pages on the freelist."""
    conn = sqlite3.connect(path)
    try:
        if wal:
            conn.execute("PRAGMA journal_mode = wal")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO notes VALUES (?, ?)", ((i, "n" * 1000) for i in range(2000)))
        conn.execute("DELETE FROM notes WHERE id >= ?", (keep,))
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("wal", [False, True])
def test_vacuum_of_a_file_with_many_free_pages_shrinks_it(tmp_path: Path, wal: bool) -> None:
    path = tmp_path / "app.db"
    _database(path, keep=100, wal=wal)

    planned, done = _plan_run(path, _task("vacuum"))

    (step,) = done
    assert planned[0].reason.startswith("free pages ")
    assert step.sql == ("VACUUM;\nPRAGMA wal_checkpoint(TRUNCATE)" if wal else "VACUUM")
    assert step.status == "succeeded", step.error
    assert step.before["bloat_bytes"] > 1_000_000
    assert step.after["bloat_bytes"] == 0
    assert step.after["size_bytes"] < step.before["size_bytes"] / 4
    assert path.stat().st_size == step.after["size_bytes"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (100,)


def test_vacuum_waits_for_free_pages_over_the_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _database(path, keep=1900)  # 5% free

    assert asyncio.run(maintenance.plan(_target(path), _task("vacuum"))) == []
    forced = asyncio.run(maintenance.plan(_target(path), _task("vacuum", all_tables=True)))
    assert [s.reason.startswith("all_tables") for s in forced] == [True]


def test_analyze_and_optimize_run(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _database(path, keep=1500)

    _, analyzed = _plan_run(path, _task("analyze"))
    _, per_table = _plan_run(path, _task("analyze", exclude=["tags"]))
    _, optimized = _plan_run(path, _task("optimize"))

    assert [(s.sql, s.status) for s in analyzed] == [("ANALYZE", "succeeded")]
    assert [(s.sql, s.status) for s in per_table] == [('ANALYZE "notes"', "succeeded")]
    assert [(s.sql, s.status) for s in optimized] == [("PRAGMA optimize", "succeeded")]
    with sqlite3.connect(path) as conn:
        assert ("notes",) in conn.execute("SELECT tbl FROM sqlite_stat1").fetchall()


def test_a_writer_holding_the_file_fails_the_step_at_lock_timeout(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _database(path, keep=100)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO tags VALUES (1, 'held')")
        planned, done = _plan_run(path, _task("vacuum", lock_timeout="200ms"))
        holder.execute("ROLLBACK")
    finally:
        holder.close()

    (step,) = done
    assert step.status == "failed"
    assert "not granted within lock_timeout (200ms)" in step.error
    assert step.after["bloat_bytes"] == step.before["bloat_bytes"]


def test_a_missing_file_is_refused_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"

    with pytest.raises(DbError, match="does not exist"):
        asyncio.run(maintenance.plan(_target(path), _task("vacuum")))
    assert not path.exists()
