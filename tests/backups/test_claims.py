"""One run of a policy's kind at a time across processes: claims decided from the running
`backup_runs` rows, refusals naming the live run, stale rows abandoned, the scheduler
skipping work another process does; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.backups.restic_support import PASSWORD, engine, section, source_dir
from watchkeeper.backups import claims
from watchkeeper.backups.claims import RunInProgress
from watchkeeper.backups.config import BackupsSection, Policy
from watchkeeper.backups.runner import BackupRunner
from watchkeeper.backups.schedule import BackupScheduler
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import BackupRun, utcnow


def _plan(tmp_path: Path, schedule: str = "0 2 * * *") -> BackupsSection:
    return section(tmp_path, _body(tmp_path, schedule))


def _body(tmp_path: Path, schedule: str = "0 2 * * *") -> str:
    src = source_dir(tmp_path)
    marker = tmp_path / "hook-ran"
    return f"""
        repositories:
          - {{name: local, url: "{tmp_path / "repo"}", password: {PASSWORD}}}
        policies:
          - name: files
            source: {{type: files, paths: ["{src}"]}}
            repositories: [local]
            schedule: "{schedule}"
            timeout: 1h
            hooks: {{before: "touch {marker}"}}
            drill: null
        """


def _running(db: Session, *, started_ago: timedelta, trigger: str = "schedule") -> BackupRun:
    row = BackupRun(
        policy="files",
        repository="local",
        kind="backup",
        status="running",
        trigger=trigger,
        started_at=utcnow() - started_ago,
        details={},
    )
    db.add(row)
    db.commit()
    return row


def test_a_backup_is_refused_while_another_process_backs_up_the_policy(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    with sessions() as db:
        live = _running(db, started_ago=timedelta(minutes=5))
    runner = BackupRunner(sessions, engine(tmp_path))

    with pytest.raises(RunInProgress) as refused:
        asyncio.run(runner.backup(plan, "files", trigger="alice"))

    message = str(refused.value)
    assert f"run {live.id}, started {live.started_at:%Y-%m-%d %H:%M:%S} UTC" in message
    assert "a backup of files is already running" in message and "by the scheduler" in message
    assert not (tmp_path / "hook-ran").exists(), "the refused run ran its hook"
    with sessions() as db:
        assert [r.id for r in db.scalars(select(BackupRun))] == [live.id]


def test_a_stale_running_row_is_abandoned_and_does_not_block(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    with sessions() as db:
        stale = _running(db, started_ago=timedelta(hours=1, minutes=3))  # timeout 1h + 2 min
    runner = BackupRunner(sessions, engine(tmp_path))

    (outcome,) = asyncio.run(runner.backup(plan, "files"))

    assert outcome.ok, outcome.error
    with sessions() as db:
        old = db.get(BackupRun, stale.id)
        assert old is not None and old.status == "failed" and old.finished_at is not None
        assert old.error.startswith("abandoned: the process running it stopped")


def test_two_runners_at_once_run_the_backup_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    restic = engine(tmp_path)
    cli, scheduler = BackupRunner(sessions, restic), BackupRunner(sessions, restic)

    async def main() -> list[object]:
        return await asyncio.gather(
            cli.backup(plan, "files", trigger="alice"),
            scheduler.backup(plan, "files"),
            return_exceptions=True,
        )

    results = asyncio.run(main())

    refused = [r for r in results if isinstance(r, RunInProgress)]
    ran = [r for r in results if isinstance(r, list)]
    assert len(refused) == 1 and len(ran) == 1, results
    with sessions() as db:
        (row,) = db.scalars(select(BackupRun))
        assert row.status == "succeeded" and refused[0].run_id == row.id


def _contend(
    sessions: sessionmaker[Session], policy: Policy, contenders: int
) -> tuple[list[int], list[int]]:
    """``contenders`` threads claim the same check at the same moment: (won, lost) ids."""
    start = threading.Barrier(contenders)
    won: list[int] = []
    lost: list[int] = []

    def contend() -> None:
        with sessions() as db:
            start.wait()
            try:
                won.append(claims.claim(db, policy, "local", "check", "t", utcnow()))
            except RunInProgress as exc:
                lost.append(exc.run_id)

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, lost


def test_simultaneous_claims_let_exactly_one_through(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    policy = _plan(tmp_path).policies[0]
    for _ in range(5):  # rounds: a race that is lost rarely must still be caught
        won, lost = _contend(sessions, policy, 6)
        assert len(won) == 1 and lost == won * 5
        with sessions() as db:
            running = db.scalars(select(BackupRun).where(BackupRun.status == "running")).all()
            assert [r.id for r in running] == won
            running[0].status = "succeeded"
            db.commit()


def test_the_scheduler_skips_a_job_another_process_runs(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    import textwrap

    body = textwrap.indent(textwrap.dedent(_body(tmp_path, "* * * * *")), "  ")
    with sessions() as db:
        apply_plan(db, load_plan_text("backups:\n" + body, env={}))
        db.commit()
        live = _running(db, started_ago=timedelta(seconds=30), trigger="bob")
    t0 = utcnow()
    now = [t0]
    scheduler = BackupScheduler(sessions, engine(tmp_path), clock=lambda: now[0])

    async def main() -> None:
        await scheduler.run_once()
        now[0] = t0 + timedelta(minutes=2)
        assert await scheduler.run_once() == []  # due, but bob's backup is running
        with sessions() as db:
            row = db.get(BackupRun, live.id)
            assert row is not None
            row.status, row.finished_at = "succeeded", now[0]
            db.commit()
        now[0] = t0 + timedelta(minutes=3, seconds=1)
        assert await scheduler.run_once() == [("files", "backup")]
        await scheduler.wait_idle()

    asyncio.run(main())
    with sessions() as db:
        rows = db.scalars(select(BackupRun).order_by(BackupRun.id)).all()
        assert [(r.trigger, r.status) for r in rows] == [
            ("bob", "succeeded"),
            ("schedule", "succeeded"),
        ]
