"""The backup runner: hooks, repositories that fail independently, timeouts, retention and
checks, each recorded in ``backup_runs``; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.backups.restic_support import (
    PASSWORD,
    engine,
    section,
    source_dir,
    unreachable_url,
)
from watchkeeper.backups.config import BackupsSection
from watchkeeper.backups.engine import Progress
from watchkeeper.backups.lookup import access
from watchkeeper.backups.restic import Restic
from watchkeeper.backups.runner import BackupRunner
from watchkeeper.exceptions import NotFoundError
from watchkeeper.store.tables import BackupRun


def _plan(tmp_path: Path, *, policy_extra: str = "", repos: str = "[local]") -> BackupsSection:
    src = source_dir(tmp_path)
    return section(
        tmp_path,
        f"""
        repositories:
          - name: local
            url: {tmp_path / "repo-local"}
            password: {PASSWORD}
          - name: broken
            url: {unreachable_url(tmp_path)}
            password: {PASSWORD}
        policies:
          - name: files
            source: {{type: files, paths: ["{src}"], exclude: ["*.tmp"]}}
            repositories: {repos}
            retention: {{keep_last: 1}}
        {policy_extra}
        """,
    )


def _rows(sessions: sessionmaker[Session]) -> list[BackupRun]:
    with sessions() as db:
        return list(db.scalars(select(BackupRun).order_by(BackupRun.id)))


def test_one_unreachable_repository_does_not_stop_the_other(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    plan = _plan(tmp_path, repos="[broken, local]")
    runner = BackupRunner(sessions, engine(tmp_path))
    seen: list[tuple[str, Progress]] = []

    outcomes = asyncio.run(
        runner.backup(plan, "files", trigger="alice", progress=lambda r, p: seen.append((r, p)))
    )

    assert [(o.repository, o.ok) for o in outcomes] == [("broken", False), ("local", True)]
    broken, local = _rows(sessions)
    assert (broken.repository, broken.status, broken.kind) == ("broken", "failed", "backup")
    assert "repository broken" in broken.error and "not a directory" in broken.error
    assert broken.finished_at is not None
    assert (local.status, local.trigger) == ("succeeded", "alice")
    assert local.snapshot_id and local.files == 3 and local.bytes_total > 0
    assert local.duration_s is not None
    assert "progress" not in local.details
    assert local.details["snapshots"][0]["snapshot_id"] == local.snapshot_id
    assert {r for r, _ in seen} == {"local"}
    for row in (broken, local):
        assert PASSWORD not in row.error + str(row.details)


def test_failing_before_hook_aborts_and_after_hook_runs(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    marker = tmp_path / "after-ran"
    plan = _plan(tmp_path)
    policy = plan.policies[0]
    policy.hooks.before = "echo 'database is read-only' >&2; exit 7"
    policy.hooks.after = f'echo "$WATCHKEEPER_POLICY $WATCHKEEPER_STATUS" > {marker}'
    runner = BackupRunner(sessions, engine(tmp_path))

    outcomes = asyncio.run(runner.backup(plan, "files"))

    assert [o.ok for o in outcomes] == [False]
    (row,) = _rows(sessions)
    assert row.status == "failed"
    assert "before hook failed: exit status 7: database is read-only" in row.error
    assert marker.read_text() == "files failed\n"
    assert not (tmp_path / "repo-local").exists(), "the backup ran despite the hook"


def test_timeout_kills_backup_and_repository_stays_consistent(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    plan.repositories[0].limit_upload = 20  # KiB/s: far slower than the timeout allows
    src = Path(plan.policies[0].source.paths[0])  # type: ignore[union-attr]
    (src / "big.bin").write_bytes(os.urandom(4 << 20))
    plan.policies[0].timeout = timedelta(seconds=2)
    restic = engine(tmp_path)
    assert asyncio.run(restic.init(access(plan.repositories[0])))
    runner = BackupRunner(sessions, restic)

    (outcome,) = asyncio.run(runner.backup(plan, "files"))

    assert not outcome.ok
    (row,) = _rows(sessions)
    assert row.status == "failed" and "timed out after 0:00:02" in row.error
    repo_path = tmp_path / "repo-local"
    assert not list((repo_path / "locks").iterdir())
    plan.policies[0].timeout = timedelta(minutes=5)
    follow = BackupRunner(sessions, restic)
    (checked,) = asyncio.run(follow.check(plan, "files", read_data_subset="100%"))
    assert checked.ok, checked.output
    assert asyncio.run(follow.snapshots(plan, "files")) == {"local": []}


def test_retention_dry_run_then_apply(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    runner = BackupRunner(sessions, engine(tmp_path))
    src = Path(plan.policies[0].source.paths[0])  # type: ignore[union-attr]

    async def main() -> None:
        for i in range(3):
            (src / "a.txt").write_text(f"v{i}\n")
            (ok,) = await runner.backup(plan, "files")
            assert ok.ok, ok.error
        (dry,) = await runner.retention(plan, "files", dry_run=True)
        assert dry.run_id == 0 and dry.forget is not None
        assert len(dry.forget.remove) == 2 and len(dry.forget.keep) == 1
        (applied,) = await runner.retention(plan, "files", dry_run=False, trigger="bob")
        assert applied.forget is not None
        assert [s.id for s in applied.forget.remove] == [s.id for s in dry.forget.remove]
        left = await runner.snapshots(plan, "files")
        assert [s.id for s in left["local"]] == [s.id for s in dry.forget.keep]  # type: ignore[union-attr]

    asyncio.run(main())
    forget = [r for r in _rows(sessions) if r.kind == "forget"]
    assert [(r.status, r.trigger) for r in forget] == [("succeeded", "bob")]
    assert len(forget[0].details["removed"]) == 2


def test_check_failure_is_recorded(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = _plan(tmp_path, repos="[local, broken]")
    runner = BackupRunner(sessions, engine(tmp_path))

    async def main() -> None:
        await runner.backup(plan, "files")
        outcomes = await runner.check(plan, "files")
        assert [(o.repository, o.ok) for o in outcomes] == [("local", True), ("broken", False)]

    asyncio.run(main())
    checks = [r for r in _rows(sessions) if r.kind == "check"]
    assert [r.status for r in checks] == ["succeeded", "failed"]
    assert checks[0].details["read_data_subset"] == "5%"


def test_unknown_policy_and_repository(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    runner = BackupRunner(sessions, engine(tmp_path))
    with pytest.raises(NotFoundError, match="no backup policy 'nope'.*files"):
        asyncio.run(runner.backup(plan, "nope"))
    with pytest.raises(NotFoundError, match="does not write to repository 'broken'"):
        asyncio.run(runner.check(plan, "files", repository="broken"))


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")  # killed; a zombie until its new parent reaps it


def test_hook_timeout_kills_the_hooks_children(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    plan = _plan(tmp_path)
    policy = plan.policies[0]
    # The shell's child keeps the output pipe open: killing the shell alone is not enough.
    policy.hooks.before = f"sleep 300 & echo $! > {pid_file}; wait"
    policy.timeout = timedelta(seconds=1)
    runner = BackupRunner(sessions, engine(tmp_path))

    # The bound only keeps a regression from hanging the suite for 300 s.
    (outcome,) = asyncio.run(asyncio.wait_for(runner.backup(plan, "files"), 60))

    assert not outcome.ok and "before hook failed: timed out" in outcome.error
    pid = int(pid_file.read_text())
    for _ in range(100):
        if _gone(pid):
            break
        time.sleep(0.05)
    assert _gone(pid), "the hook's child still runs"


def test_cancelled_check_ends_its_row(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    src = Path(plan.policies[0].source.paths[0])  # type: ignore[union-attr]
    (src / "big.bin").write_bytes(os.urandom(4 << 20))
    runner = BackupRunner(sessions, engine(tmp_path))

    async def main() -> None:
        (ok,) = await runner.backup(plan, "files")
        assert ok.ok, ok.error
        plan.repositories[0].limit_download = 20  # KiB/s: reading 100% takes minutes
        task = asyncio.create_task(runner.check(plan, "files", read_data_subset="100%"))
        locks = tmp_path / "repo-local" / "locks"
        while not any(locks.iterdir()):  # restic holds its lock: it is reading the data
            await asyncio.sleep(0.05)
        # restic 0.14 may leave its lock when SIGINT comes as it takes it: cancel after that.
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (check,) = [r for r in _rows(sessions) if r.kind == "check"]
    assert (check.status, check.error) == ("failed", "cancelled")
    assert not list((tmp_path / "repo-local" / "locks").iterdir())


@pytest.mark.parametrize("kind", ["backup", "check"])
def test_cancelled_run_unlocks_the_repository(
    sessions: sessionmaker[Session], tmp_path: Path, kind: str
) -> None:
    plan = _plan(tmp_path)
    src = Path(plan.policies[0].source.paths[0])  # type: ignore[union-attr]
    (src / "big.bin").write_bytes(os.urandom(4 << 20))
    # No grace: restic is killed before it can remove its own lock (as when it hangs).
    restic = Restic(cache_dir=tmp_path / "restic-cache", grace=0.0)
    runner = BackupRunner(sessions, restic)
    locks = tmp_path / "repo-local" / "locks"

    async def main() -> None:
        if kind == "backup":
            plan.repositories[0].limit_upload = 20  # KiB/s: the backup takes minutes
            task = asyncio.create_task(runner.backup(plan, "files"))
        else:
            (ok,) = await runner.backup(plan, "files")
            assert ok.ok, ok.error
            plan.repositories[0].limit_download = 20  # reading 100% takes minutes
            task = asyncio.create_task(runner.check(plan, "files", read_data_subset="100%"))
        while not (locks.is_dir() and any(locks.iterdir())):
            assert not task.done(), task.result()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (row,) = [r for r in _rows(sessions) if r.kind == kind]
    assert (row.status, row.error) == ("failed", "cancelled")
    assert not list(locks.iterdir()), "the cancelled run left its lock"
