"""The backups scheduler (what is due, from the store) and the backup alerts and gauges."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.backups.restic_support import PASSWORD, engine, section, source_dir
from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.backups import health
from watchkeeper.backups.schedule import BackupScheduler, due
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import Alert, BackupRun
from watchkeeper.telemetry import BACKUP_LAST_SIZE, BACKUP_LAST_SUCCESS

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # a Monday


def _plan_text(tmp_path: Path, schedule: str = "0 2 * * *") -> str:
    src = source_dir(tmp_path)
    return textwrap.dedent(
        f"""
        backups:
          repositories:
            - {{name: local, url: "{tmp_path / "repo"}", password: {PASSWORD}}}
          policies:
            - name: files
              source: {{type: files, paths: ["{src}"]}}
              repositories: [local]
              schedule: "{schedule}"
              retention: {{keep_last: 3, schedule: "30 3 * * *"}}
              drill: null
        """
    )


def test_due_follows_cron_and_last_runs(tmp_path: Path) -> None:
    plan = section(
        tmp_path,
        f"""
        repositories: [{{name: local, url: /r, password: {PASSWORD}}}]
        policies:
          - name: files
            source: {{type: files, paths: [/srv]}}
            repositories: [local]
            retention: {{keep_last: 3}}
            drill: null
        """,
    )
    since = T0
    assert due(plan, {}, T0 + timedelta(minutes=20), since) == []
    at_2 = T0 + timedelta(minutes=31)  # 02:01
    assert due(plan, {}, at_2, since) == [("files", "backup")]
    ran = {("files", "backup"): T0 + timedelta(minutes=30, seconds=5)}
    assert due(plan, ran, at_2, since) == []
    # 05:01 on Monday: retention (03:30) is due; the weekly check (Sunday 05:00) is not
    later = T0 + timedelta(hours=3, minutes=31)
    assert due(plan, ran, later, since) == [("files", "forget")]


def test_scheduler_runs_due_backup_and_health(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as db:
        apply_plan(db, load_plan_text(_plan_text(tmp_path, "* * * * *"), env={}))
        db.commit()
    now = [T0]
    scheduler = BackupScheduler(sessions, engine(tmp_path), clock=lambda: now[0])

    async def main() -> None:
        assert await scheduler.run_once() == []  # nothing fired since it started
        now[0] = T0 + timedelta(minutes=1, seconds=1)
        assert await scheduler.run_once() == [("files", "backup")]
        await scheduler.wait_idle()
        assert await scheduler.run_once() == []  # ran after the last fire time

    asyncio.run(main())
    with sessions() as db:
        (row,) = db.scalars(select(BackupRun))
        assert (row.kind, row.status, row.trigger) == ("backup", "succeeded", "schedule")
        assert row.finished_at is not None
        assert BACKUP_LAST_SUCCESS.labels("files", "local")._value.get() == (
            row.finished_at.timestamp()
        )
        assert BACKUP_LAST_SIZE.labels("files", "local")._value.get() == row.bytes_total
        alerts = db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE)).all()
        assert not [a for a in alerts if a.state == "firing"]


def _run(db: Session, status: str, at: datetime, size: int = 1000, kind: str = "backup") -> None:
    db.add(
        BackupRun(
            policy="files",
            repository="local",
            kind=kind,
            status=status,
            started_at=at,
            finished_at=at + timedelta(minutes=1),
            bytes_total=size,
            error="restic: repository is full" if status == "failed" else "",
            details={},
        )
    )
    db.flush()


def _firing(db: Session) -> set[str]:
    return {
        a.labels["alertname"]
        for a in db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE))
        if a.state == "firing"
    }


def test_alerts_for_failure_age_and_size(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = section(
        tmp_path,
        f"""
        repositories: [{{name: local, url: /r, password: {PASSWORD}}}]
        policies:
          - name: files
            source: {{type: files, paths: [/srv]}}
            repositories: [local]
            freshness: {{max_age: 1d, max_size_change: 50}}
        """,
    )
    with sessions() as db:
        health.evaluate(db, plan, T0)
        assert _firing(db) == {"BackupTooOld"}  # never backed up
        _run(db, "succeeded", T0 - timedelta(hours=2), 1000)
        _run(db, "failed", T0 - timedelta(hours=1))
        health.evaluate(db, plan, T0)
        assert _firing(db) == {"BackupFailed"}
        (failed,) = [a for a in db.scalars(select(Alert)) if a.state == "firing"]
        assert failed.labels["policy"] == "files" and failed.labels["repository"] == "local"
        assert "repository is full" in failed.annotations["description"]
        _run(db, "succeeded", T0 - timedelta(minutes=30), 50)  # 95% smaller
        health.evaluate(db, plan, T0)
        assert _firing(db) == {"BackupSizeChanged"}
        _run(db, "succeeded", T0 - timedelta(minutes=10), 52)
        health.evaluate(db, plan, T0 + timedelta(days=2))
        assert _firing(db) == {"BackupTooOld"}
        db.commit()


def test_abandoned_running_rows_are_closed(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = section(
        tmp_path,
        f"""
        repositories: [{{name: local, url: /r, password: {PASSWORD}}}]
        policies:
          - {{name: files, source: {{type: files, paths: [/srv]}}, repositories: [local],
              timeout: 1h, drill: null}}
        """,
    )
    with sessions() as db:
        _run(db, "running", T0 - timedelta(hours=2))
        _run(db, "running", T0 - timedelta(minutes=5))
        health.evaluate(db, plan, T0)
        rows = db.scalars(select(BackupRun).order_by(BackupRun.id)).all()
        assert [r.status for r in rows] == ["failed", "running"]
        assert "process running it stopped" in rows[0].error


def test_a_missed_drill_alerts(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = section(
        tmp_path,
        f"""
        repositories: [{{name: local, url: /r, password: {PASSWORD}}}]
        policies:
          - name: files
            source: {{type: files, paths: [/srv]}}
            repositories: [local]
            freshness: {{max_age: 30d}}
            drill: {{schedule: "0 4 * * 0"}}
        """,
    )
    with sessions() as db:
        health.evaluate(db, plan, T0)
        assert "BackupDrillMissed" not in _firing(db)  # nothing to drill yet
        _run(db, "succeeded", T0 - timedelta(days=13))
        health.evaluate(db, plan, T0)
        assert "BackupDrillMissed" not in _firing(db)  # weekly: 14 days allowed
        health.evaluate(db, plan, T0 + timedelta(days=2))
        assert _firing(db) == {"BackupDrillMissed"}
        (missed,) = [a for a in db.scalars(select(Alert)) if a.state == "firing"]
        assert missed.labels["severity"] == "warning"
        assert "none has run since the first backup" in missed.annotations["summary"]
        _run(db, "failed", T0 + timedelta(days=1), kind="drill")
        health.evaluate(db, plan, T0 + timedelta(days=2))
        assert _firing(db) == {"BackupDrillFailed"}  # it ran: failed, not missed
        health.evaluate(db, plan, T0 + timedelta(days=15, hours=1))
        assert _firing(db) == {"BackupDrillFailed", "BackupDrillMissed"}
        plan.policies[0].drill = None
        health.evaluate(db, plan, T0 + timedelta(days=15, hours=1))
        assert "BackupDrillMissed" not in _firing(db)
        db.commit()
