"""run_task: the maintenance window decides, a dry run executes nothing but lists the SQL,
each run is a ``db_maintenance_runs`` row with its steps' SQL and before/after figures, and
a cancelled run ends failed "cancelled"; on SQLite and PostgreSQL stores."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import remember_secret
from tests.dbmaint.maint_fixtures import churned, dead_tuples, pg, pg_one
from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.dbmaint.config import (
    DatabaseConfig,
    MaintenanceTask,
    PostgresDatabase,
    SqliteDatabase,
)
from watchkeeper.dbmaint.maintenance import run_task
from watchkeeper.store.tables import DbMaintenanceRun

NIGHT = MaintenanceWindow.model_validate({"name": "night", "cron": "0 2 * * *", "duration": "2h"})
WINDOWS = {"night": NIGHT}
IN_WINDOW = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
OUTSIDE = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def _task(action: str, **fields: Any) -> MaintenanceTask:
    return MaintenanceTask.model_validate(
        {"name": f"{action}-task", "action": action, "windows": ["night"], **fields}
    )


def _sqlite(tmp_path: Path) -> SqliteDatabase:
    """A SQLite file with 90% of its pages free."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO notes VALUES (?, ?)", ((i, "n" * 1000) for i in range(2000)))
        conn.execute("DELETE FROM notes WHERE id >= 200")
    conn.close()
    return SqliteDatabase.model_validate(
        {
            "name": "local",
            "type": "sqlite",
            "path": str(path),
            "thresholds": {"bloat_min_size": "256KiB"},
        }
    )


def _postgres(url: str) -> PostgresDatabase:
    return PostgresDatabase.model_validate(
        {"name": "app", "type": "postgres", "url": url, "thresholds": {"vacuum_min_dead": 1000}}
    )


def _run(
    sessions: sessionmaker[Session],
    target: DatabaseConfig,
    task: MaintenanceTask,
    *,
    now: datetime = IN_WINDOW,
    **options: Any,
) -> Any:
    kwargs: dict[str, Any] = {"dry_run": False, "trigger": "schedule", **options}
    return asyncio.run(run_task(sessions, target, task, windows=WINDOWS, now=now, **kwargs))


def _rows(sessions: sessionmaker[Session]) -> list[DbMaintenanceRun]:
    with sessions() as db:
        return list(db.scalars(select(DbMaintenanceRun).order_by(DbMaintenanceRun.id)))


def _freelist(target: SqliteDatabase) -> int:
    with sqlite3.connect(target.path) as conn:
        count = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    conn.close()
    return count


def test_outside_every_window_the_run_is_skipped_with_the_reason(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    target = _sqlite(tmp_path)
    free = _freelist(target)

    result = _run(sessions, target, _task("vacuum"), now=OUTSIDE)

    assert result.status == "skipped"
    assert "outside its maintenance windows (night) at 2026-03-04 12:00 UTC" in result.error
    (row,) = _rows(sessions)
    assert (row.status, row.error, row.steps) == ("skipped", result.error, [])
    assert _freelist(target) == free  # nothing ran


def test_a_window_the_plan_does_not_define_is_named_in_the_reason(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    task = _task("vacuum", windows=["weekend"])

    result = _run(sessions, _sqlite(tmp_path), task)

    assert result.status == "skipped"
    assert "not defined in alerts.maintenance_windows: weekend" in result.error


def test_a_run_records_each_step_with_its_sql_and_before_after_figures(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    target = _sqlite(tmp_path)
    seen: list[tuple[int, int, str]] = []

    result = _run(
        sessions,
        target,
        _task("vacuum"),
        trigger="alice",
        progress=lambda done, total, step: seen.append((done, total, step.status)),
    )

    assert result.status == "succeeded", result.error
    assert seen == [(1, 1, "succeeded")]
    (row,) = _rows(sessions)
    assert (row.database, row.task, row.action) == ("local", "vacuum-task", "vacuum")
    assert (row.status, row.trigger, row.dry_run, row.error) == ("succeeded", "alice", False, "")
    assert row.started_at == IN_WINDOW
    assert row.finished_at is not None and row.finished_at >= row.started_at
    (step,) = row.steps
    assert (step["target"], step["sql"], step["status"]) == (
        str(target.path),
        "VACUUM",
        "succeeded",
    )
    assert step["before"]["bloat_bytes"] > 1_000_000
    assert step["after"]["bloat_bytes"] == 0
    assert step["after"]["size_bytes"] < step["before"]["size_bytes"]
    assert _freelist(target) == 0
    assert [s.as_json() for s in result.steps] == row.steps


def test_an_operator_forces_a_run_outside_the_windows(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    target = _sqlite(tmp_path)

    result = _run(sessions, target, _task("vacuum"), now=OUTSIDE, force=True, trigger="bob")

    assert (result.status, [s.status for s in result.steps]) == ("succeeded", ["succeeded"])
    assert _freelist(target) == 0


def test_a_failed_step_fails_the_run_and_names_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    target = _sqlite(tmp_path)
    holder = sqlite3.connect(target.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        result = _run(sessions, target, _task("vacuum", lock_timeout="100ms"))
    finally:
        holder.close()

    assert result.status == "failed"
    assert result.error.startswith(f"1 of 1 steps failed ({target.path}: lock on ")
    (row,) = _rows(sessions)
    assert (row.status, row.error) == ("failed", result.error)
    assert row.steps[0]["status"] == "failed"


def test_a_queued_row_is_reused(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as db:
        queued = DbMaintenanceRun(
            database="local", task="vacuum-task", action="vacuum", status="queued", trigger="carol"
        )
        db.add(queued)
        db.commit()
        queued_id = queued.id

    result = _run(sessions, _sqlite(tmp_path), _task("vacuum"), run_id=queued_id, trigger="carol")

    assert result.run_id == queued_id
    assert [(r.id, r.status) for r in _rows(sessions)] == [(queued_id, "succeeded")]


def test_an_unreachable_database_fails_the_run_without_its_password(
    sessions: sessionmaker[Session],
) -> None:
    password = remember_secret("maint-unreachable-pw-8841")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        port = 1 + int(conn.execute("SHOW port").fetchone()[0])  # type: ignore[index]
    target = _postgres(f"postgresql://watch:{password}@127.0.0.1:{port}/app")

    result = _run(sessions, target, _task("vacuum"))

    assert result.status == "failed"
    assert "cannot connect to PostgreSQL at 127.0.0.1" in result.error
    (row,) = _rows(sessions)
    assert password not in row.error


def test_a_dry_run_lists_the_sql_and_executes_nothing(
    sessions: sessionmaker[Session], maint_pg: str
) -> None:
    churned(maint_pg, "churned", 5_000)

    result = _run(sessions, _postgres(maint_pg), _task("vacuum"), dry_run=True)

    assert (result.status, result.dry_run) == ("succeeded", True)
    (row,) = _rows(sessions)
    assert row.dry_run is True
    (step,) = row.steps
    assert step["sql"] == 'VACUUM (ANALYZE) "public"."churned"'
    assert (step["status"], step["before"]["dead_tuples"], step["after"]) == ("planned", 5000, {})
    assert dead_tuples(maint_pg, "churned") == 5_000
    assert pg_one(maint_pg, "SELECT vacuum_count FROM pg_stat_user_tables") == 0


def _waiting_for_lock(url: str) -> bool:
    return bool(
        pg(
            url,
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'watchkeeper-dbmaint' "
            "AND wait_event_type = 'Lock' AND datname = current_database()",
        )
    )


def test_cancelling_a_run_ends_its_row_failed_cancelled(
    sessions: sessionmaker[Session], maint_pg: str
) -> None:
    churned(maint_pg, "churned", 5_000)
    task = _task("vacuum", lock_timeout="10m")

    async def cancelled() -> None:
        run = asyncio.create_task(
            run_task(
                sessions,
                _postgres(maint_pg),
                task,
                dry_run=False,
                trigger="schedule",
                windows=WINDOWS,
                now=IN_WINDOW,
            )
        )
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(_waiting_for_lock, maint_pg):
            assert time.monotonic() < deadline, "the run never waited for the lock"
            await asyncio.sleep(0.05)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    with psycopg.connect(maint_pg) as holder:
        holder.execute("LOCK TABLE churned IN ACCESS EXCLUSIVE MODE")
        asyncio.run(cancelled())
        holder.rollback()

    (row,) = _rows(sessions)
    assert (row.status, row.error) == ("failed", "cancelled")
    assert [(s["status"], s["error"]) for s in row.steps] == [("failed", "cancelled")]
    assert not _waiting_for_lock(maint_pg)  # the server-side wait was cancelled too
    assert pg_one(maint_pg, "SELECT count(*) FROM churned") == 5_000
