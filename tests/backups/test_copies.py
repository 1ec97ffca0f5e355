"""Copies into a second repository (`restic copy`): only new snapshots travel, each target
gets its own `copy` row, failures alert, retention and checks cover the targets, the
scheduler copies after each backup, and the target's freshness counts its copies."""

from __future__ import annotations

import asyncio
import shutil
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.backups.dbs import REPO_PASSWORD as PASSWORD
from tests.backups.restic_support import engine, section, source_dir, unreachable_url
from tests.backups.support import add_run
from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.backups import health, views
from watchkeeper.backups.config import BackupsSection
from watchkeeper.backups.lookup import access
from watchkeeper.backups.runner import BackupRunner
from watchkeeper.backups.schedule import BACKED_UP, BackupScheduler, due
from watchkeeper.exceptions import NotFoundError
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import Alert, BackupRun
from watchkeeper.telemetry import BACKUP_RUNS

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def repositories(tmp_path: Path, repo_template: Path) -> None:
    """local and offsite, initialised already (`restic init` takes seconds)."""
    for name in ("local", "offsite"):
        shutil.copytree(repo_template, tmp_path / f"repo-{name}")


def _body(tmp_path: Path, *, copy: str = "{to: [offsite]}", backup: str = "0 2 * * *") -> str:
    src = source_dir(tmp_path)
    return f"""
        repositories:
          - {{name: local, url: "{tmp_path / "repo-local"}", password: {PASSWORD}}}
          - {{name: offsite, url: "{tmp_path / "repo-offsite"}", password: {PASSWORD}}}
          - {{name: broken, url: "{unreachable_url(tmp_path)}", password: {PASSWORD}}}
        policies:
          - name: files
            source: {{type: files, paths: ["{src}"]}}
            repositories: [local]
            schedule: "{backup}"
            retention: {{keep_last: 1}}
            drill: null
            copy: {copy}
        """


def _plan(tmp_path: Path, **kwargs: str) -> BackupsSection:
    return section(tmp_path, _body(tmp_path, **kwargs))


def _apply(db: Session, tmp_path: Path, **kwargs: str) -> None:
    body = textwrap.indent(textwrap.dedent(_body(tmp_path, **kwargs)), "  ")
    apply_plan(db, load_plan_text("backups:\n" + body, env={}))
    db.commit()


def _rows(sessions: sessionmaker[Session], kind: str) -> list[BackupRun]:
    with sessions() as db:
        return list(
            db.scalars(select(BackupRun).where(BackupRun.kind == kind).order_by(BackupRun.id))
        )


def _counted(kind: str, status: str) -> float:
    return BACKUP_RUNS.labels("files", kind, status)._value.get()


def test_copy_sends_only_new_snapshots(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    restic = engine(tmp_path)
    runner = BackupRunner(sessions, restic)
    src = Path(plan.policies[0].source.paths[0])  # type: ignore[union-attr]
    offsite = access(plan.repositories[1])
    counted = _counted("copy", "succeeded")

    async def main() -> None:
        (backed_up,) = await runner.backup(plan, "files")
        assert backed_up.ok, backed_up.error
        (first,) = await runner.copy(plan, "files", trigger="alice")
        assert (first.repository, first.ok, first.copied, first.held) == ("offsite", True, 1, 1)
        # Nothing new: restic skips the snapshot the target already holds.
        (again,) = await runner.copy(plan, "files")
        assert (again.ok, again.copied, again.held) == (True, 0, 1)
        (src / "a.txt").write_text("changed\n")
        assert (await runner.backup(plan, "files"))[0].ok
        (third,) = await runner.copy(plan, "files", to="offsite")
        assert (third.copied, third.held) == (1, 2)
        local = await restic.snapshots(access(plan.repositories[0]), ["policy=files"])
        copied = await restic.snapshots(offsite, ["policy=files"])
        assert [s.time for s in copied] == [s.time for s in local]
        assert all("policy=files" in s.tags for s in copied)

    asyncio.run(main())
    rows = _rows(sessions, "copy")
    assert [(r.repository, r.status, r.details["copied"]) for r in rows] == [
        ("offsite", "succeeded", 1),
        ("offsite", "succeeded", 0),
        ("offsite", "succeeded", 1),
    ]
    assert rows[0].trigger == "alice" and rows[0].details["from"] == "local"
    assert rows[-1].details["snapshots"] == 2 and rows[-1].snapshot_id
    assert rows[-1].bytes_total == _rows(sessions, "backup")[-1].bytes_total
    assert _counted("copy", "succeeded") == counted + 3


def test_retention_and_checks_cover_the_copy_targets(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    restic = engine(tmp_path)
    runner = BackupRunner(sessions, restic)
    src = Path(plan.policies[0].source.paths[0])  # type: ignore[union-attr]

    async def main() -> None:
        for i in range(2):
            (src / "a.txt").write_text(f"v{i}\n")
            assert (await runner.backup(plan, "files"))[0].ok
        assert (await runner.copy(plan, "files"))[0].held == 2
        forgot = await runner.retention(plan, "files", dry_run=False)
        assert [(o.repository, o.ok) for o in forgot] == [("local", True), ("offsite", True)]
        left = await runner.snapshots(plan, "files")
        assert {name: len(snaps) for name, snaps in left.items()} == {"local": 1, "offsite": 1}
        checked = await runner.check(plan, "files")
        assert [(o.repository, o.ok) for o in checked] == [("local", True), ("offsite", True)]
        # The copy after retention does not bring back what retention removed.
        assert (await runner.copy(plan, "files"))[0].held == 1

    asyncio.run(main())


def test_failed_copy_is_recorded_and_alerts(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    plan = _plan(tmp_path, copy="{to: [broken]}")
    runner = BackupRunner(sessions, engine(tmp_path))
    failed = _counted("copy", "failed")

    async def main() -> None:
        assert (await runner.backup(plan, "files"))[0].ok
        (outcome,) = await runner.copy(plan, "files")
        assert not outcome.ok and "not a directory" in outcome.error

    asyncio.run(main())
    (row,) = _rows(sessions, "copy")
    assert (row.repository, row.status) == ("broken", "failed")
    assert _counted("copy", "failed") == failed + 1
    assert PASSWORD not in row.error
    with sessions() as db:
        report = health.evaluate(db, plan, row.started_at + timedelta(minutes=1))
        db.commit()
        assert ("BackupCopyFailed", "files", "broken") in report.firing
        (alert,) = [
            a
            for a in db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE))
            if a.labels["alertname"] == "BackupCopyFailed"
        ]
        assert alert.state == "firing" and alert.labels["repository"] == "broken"
        assert "not a directory" in alert.annotations["description"]


def test_copy_before_any_backup_says_so(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    runner = BackupRunner(sessions, engine(tmp_path))

    (outcome,) = asyncio.run(runner.copy(plan, "files"))

    assert not outcome.ok
    assert "holds no snapshot of files to copy: run a backup first" in outcome.error
    with pytest.raises(NotFoundError, match="does not copy into repository 'local'"):
        asyncio.run(runner.copy(plan, "files", to="local"))
    plan.policies[0].copy_ = None
    with pytest.raises(NotFoundError, match="has no copy targets"):
        asyncio.run(runner.copy(plan, "files"))


def test_due_copies_follow_backups_or_their_own_schedule(tmp_path: Path) -> None:
    after = _plan(tmp_path)
    since = T0
    now = T0 + timedelta(minutes=40)
    assert ("files", "copy") not in due(after, {}, now, since)  # nothing backed up yet
    backed_up = {("files", BACKED_UP): T0 + timedelta(minutes=31)}
    assert ("files", "copy") in due(after, backed_up, now, since)
    copied = {**backed_up, ("files", "copy"): T0 + timedelta(minutes=32)}
    assert ("files", "copy") not in due(after, copied, now, since)

    scheduled = _plan(tmp_path / "b", copy='{to: [offsite], schedule: "0 6 * * *"}')
    assert ("files", "copy") not in due(scheduled, backed_up, now, since)
    at_6 = T0 + timedelta(hours=4, minutes=31)  # 06:01
    assert ("files", "copy") in due(scheduled, copied, at_6, since)


def test_scheduler_copies_after_the_backup(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions() as db:
        _apply(db, tmp_path, backup="* * * * *")
    now = [T0]
    scheduler = BackupScheduler(sessions, engine(tmp_path), clock=lambda: now[0])

    async def main() -> None:
        assert await scheduler.run_once() == []
        now[0] = T0 + timedelta(minutes=1, seconds=1)
        assert await scheduler.run_once() == [("files", "backup")]
        await scheduler.wait_idle()
        now[0] += timedelta(seconds=5)
        assert await scheduler.run_once() == [("files", "copy")]
        await scheduler.wait_idle()
        now[0] += timedelta(seconds=5)
        assert await scheduler.run_once() == []

    asyncio.run(main())
    (copy,) = _rows(sessions, "copy")
    assert (copy.status, copy.trigger, copy.details["copied"]) == ("succeeded", "schedule", 1)


def test_the_copy_target_is_fresh_after_a_copy(db: Session, tmp_path: Path) -> None:
    _apply(db, tmp_path)
    now = T0 + timedelta(hours=2)

    def view() -> views.PolicyView:
        section = views.load_section(db)
        return views.policy_view(db, section, views.find_policy(section, "files"), now)

    add_run(db, "files", started=now - timedelta(hours=1), bytes_total=500)
    before = view()
    assert [(r.name, r.copy_of, r.freshness) for r in before.repositories] == [
        ("local", "", "ok"),
        ("offsite", "local", "never"),
    ]
    assert before.freshness == "never"
    add_run(db, "files", started=now - timedelta(minutes=50), kind="copy", repository="offsite")
    after = view()
    target = after.repositories[1]
    assert target.freshness == "ok" and target.last_success is not None
    assert target.age_s is not None and target.age_s < 3600
    assert after.freshness == "ok"
    assert after.last_success is not None and after.last_success.repository == "local"
    assert after.last_success.bytes_total == 500  # a copy is not "the last backup"
    firing = health.evaluate(db, views.load_section(db), now).firing
    assert not [f for f in firing if f[0] == "BackupTooOld"]
