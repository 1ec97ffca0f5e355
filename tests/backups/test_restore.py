"""Restores (`watchkeeper restore`): back up real PostgreSQL and MariaDB databases and a
directory with restic, change the source, restore a chosen point in time into a new
database or an empty directory, and compare. Restores never write over existing data."""

from __future__ import annotations

import asyncio
import os
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from tests.backups.dbs import (
    MY_ADMIN,
    PG_ADMIN,
    REPO_PASSWORD,
    corrupt_packs,
    my_databases,
    my_exec,
    pg_databases,
    pg_exec,
)
from tests.backups.restic_support import source_dir
from watchkeeper.backups.config import BackupsSection
from watchkeeper.backups.engine import Snapshot
from watchkeeper.backups.listing import Listing, policy_snapshots
from watchkeeper.backups.lookup import access
from watchkeeper.backups.restic import Restic, restored_snapshot, written_bytes
from watchkeeper.backups.restore import (
    RestoreError,
    RestorePoint,
    Restorer,
    choose,
    claim_queued,
    recorded_size,
    restore_points,
)
from watchkeeper.backups.restore_ahead import LatestRestoreAhead
from watchkeeper.backups.runner import BackupRunner
from watchkeeper.cli import app
from watchkeeper.cli_restore import parse_at
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import BackupRun


def _section(tmp_path: Path, source: str, name: str = "app") -> BackupsSection:
    text = textwrap.dedent(
        f"""
        backups:
          repositories:
            - {{name: local, url: "{tmp_path / "repo"}", password: {REPO_PASSWORD}}}
          policies:
            - name: {name}
              source: {source}
              repositories: [local]
        """
    )
    return load_plan_text(text, env={}).plan.backups


@pytest.fixture
def new_name() -> Iterator[str]:
    """A database name for the restore, dropped afterwards on both servers."""
    name = f"wk_restored_{uuid.uuid4().hex[:10]}"
    yield name
    pg_exec("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    my_exec(None, f"DROP DATABASE IF EXISTS `{name}`")


def _engine(tmp_path: Path) -> Restic:
    return Restic(cache_dir=tmp_path / "restic-cache", grace=2.0)


def _backup(runner: BackupRunner, section: BackupsSection, policy: str = "app") -> str:
    (outcome,) = asyncio.run(runner.backup(section, policy, trigger="test"))
    assert outcome.ok, outcome.error
    return outcome.results[-1].snapshot_id


def test_postgres_point_in_time_restore_into_a_new_database(
    pg_db: str, new_name: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    section = _section(tmp_path, f'{{type: postgres, url: "{PG_ADMIN}", databases: [{pg_db}]}}')
    engine = _engine(tmp_path)
    runner = BackupRunner(sessions, engine)
    first = _backup(runner, section)
    pg_exec(
        pg_db, "DELETE FROM orders WHERE id > 100", "INSERT INTO audit.notes (body) VALUES ('x')"
    )
    second = _backup(runner, section)

    points, errors = asyncio.run(restore_points(engine, section, "app"))
    assert not errors
    assert [p.snapshot.id[:8] for p in points] == [first[:8], second[:8]]
    assert all(p.kind == "database" and p.database == pg_db for p in points)

    restorer = Restorer(engine, sessions=sessions)
    # the earlier point in time: before the rows were deleted
    point = choose(points, kind="database", snapshot=first[:8])
    result = asyncio.run(restorer.database(section, point, new_name, trigger="test"))
    assert pg_exec(new_name, "SELECT count(*) FROM orders") == [300]
    assert pg_exec(new_name, "SELECT count(*) FROM audit.notes") == [0]
    assert result.target.endswith(f"/{new_name}") and result.bytes_written > 0
    assert pg_exec(pg_db, "SELECT count(*) FROM orders") == [100]  # the source is untouched

    with sessions() as db:
        row = db.scalars(select(BackupRun).where(BackupRun.kind == "restore")).one()
        assert (row.status, row.snapshot_id, row.policy, row.trigger) == (
            "succeeded",
            point.snapshot.id,
            "app",
            "test",
        )
        assert new_name in row.details["target"] and "progress" not in row.details

    # the same name again: refused, and the restored database is left as it is
    with pytest.raises(RestoreError, match="already exists"):
        asyncio.run(restorer.database(section, points[-1], new_name))
    assert pg_exec(new_name, "SELECT count(*) FROM orders") == [300]


def test_failed_restore_drops_the_database_it_created(
    pg_db: str, new_name: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    section = _section(tmp_path, f'{{type: postgres, url: "{PG_ADMIN}", databases: [{pg_db}]}}')
    engine = _engine(tmp_path)
    _backup(BackupRunner(sessions, engine), section)
    points, _ = asyncio.run(restore_points(engine, section, "app"))
    assert corrupt_packs(tmp_path / "repo") > 0
    shutil.rmtree(tmp_path / "restic-cache", ignore_errors=True)

    restorer = Restorer(engine, sessions=sessions)
    with pytest.raises(RestoreError) as failed:
        asyncio.run(restorer.database(section, points[-1], new_name, trigger="test"))
    assert REPO_PASSWORD not in str(failed.value)
    assert not pg_databases(new_name)
    with sessions() as db:
        row = db.scalars(select(BackupRun).where(BackupRun.kind == "restore")).one()
        assert row.status == "failed" and row.error


def test_mariadb_restore_into_a_new_database(
    my_db: str, new_name: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    section = _section(tmp_path, f'{{type: mariadb, url: "{MY_ADMIN}", databases: [{my_db}]}}')
    engine = _engine(tmp_path)
    _backup(BackupRunner(sessions, engine), section)
    my_exec(my_db, "DELETE FROM items WHERE id > 20")

    points, _ = asyncio.run(restore_points(engine, section, "app"))
    point = choose(points, kind="database")
    assert point.source == "mariadb" and point.database == my_db
    asyncio.run(Restorer(engine, sessions=sessions).database(section, point, new_name))
    assert my_exec(new_name, "SELECT count(*) FROM items") == [120]
    assert my_exec(new_name, "SELECT count(*) FROM tags") == [7]
    assert my_exec(my_db, "SELECT count(*) FROM items") == [20]
    with pytest.raises(RestoreError, match="already exists"):
        asyncio.run(Restorer(engine).database(section, point, new_name))
    assert my_databases(new_name) == [new_name]


def test_files_restore_into_an_empty_directory_only(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = source_dir(tmp_path)
    section = _section(tmp_path, f'{{type: files, paths: ["{src}"]}}')
    engine = _engine(tmp_path)
    _backup(BackupRunner(sessions, engine), section)
    originals = {p.relative_to(src): p.read_bytes() for p in src.rglob("*") if p.is_file()}
    assert originals

    points, _ = asyncio.run(restore_points(engine, section, "app"))
    point = choose(points, kind="files")
    # the progress total is the size the backup recorded: no `restic stats` is needed
    with sessions() as db:
        run = db.scalars(select(BackupRun).where(BackupRun.kind == "backup")).one()
    assert recorded_size(sessions, point) == run.bytes_total > 0
    assert (
        recorded_size(sessions, RestorePoint("other", "local", point.snapshot, "files", "files"))
        is None
    )
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    restorer = Restorer(engine, sessions=sessions)
    with pytest.raises(RestoreError, match="not an empty directory"):
        asyncio.run(restorer.files(section, point, occupied))
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]

    target = tmp_path / "restored"
    result = asyncio.run(restorer.files(section, point, target, trigger="test"))
    root = target / str(src).lstrip("/")
    restored = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert restored == originals
    assert result.bytes_written >= sum(len(b) for b in originals.values())

    with pytest.raises(RestoreError, match="snapshots restore as files"):
        choose(points, kind="database")


def _point(snap_id: str, at: datetime, database: str = "app") -> RestorePoint:
    snap = Snapshot(snap_id, at, (f"/{database}.pgdump",), ())
    return RestorePoint("p", "local", snap, "database", "postgres", database, f"/{database}.pgdump")


def test_choose_by_snapshot_time_and_database() -> None:
    t0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    points = [
        _point("aaaa1111", t0, "app"),
        _point("bbbb2222", t0, "crm"),
        _point("cccc3333", t0 + timedelta(days=1), "app"),
    ]
    with pytest.raises(RestoreError, match="name the database to restore: app, crm"):
        choose(points, kind="database")
    assert choose(points, kind="database", database="app").snapshot.id == "cccc3333"
    at = t0 + timedelta(hours=12)
    assert choose(points, kind="database", database="app", at=at).snapshot.id == "aaaa1111"
    with pytest.raises(RestoreError, match="oldest is from 2026-12-01T02:00"):
        choose(points, kind="database", database="app", at=t0 - timedelta(minutes=1))
    with pytest.raises(RestoreError, match="matches none"):
        choose(points, kind="database", database="app", snapshot="ffff")
    with pytest.raises(RestoreError, match="no snapshot holds database 'billing'"):
        choose(points, kind="database", database="billing")


def test_parse_at_accepts_times_and_ages() -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert parse_at("36h", now) == now - timedelta(hours=36)
    assert parse_at("2026-12-01T03:00", now) == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert parse_at("2026-12-01T03:00+01:00", now) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a time"):
        parse_at("yesterday", now)


def test_written_bytes_reads_the_kernel_count() -> None:
    assert (written_bytes(os.getpid()) or 0) >= 0
    assert written_bytes(2**22 + 12345) is None


def test_claim_queued_takes_each_request_once(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        db.add(BackupRun(policy="p", repository="local", kind="restore", status="queued"))
        db.add(BackupRun(policy="p", repository="local", kind="backup", status="running"))
        db.commit()
    (claimed,) = claim_queued(sessions)
    assert claimed.status == "running" and claimed.kind == "restore"
    assert claim_queued(sessions) == []


# -- the CLI --------------------------------------------------------------------------------

cli = CliRunner()


@pytest.fixture
def cli_env(
    ctx: AppContext, database_url: str, tmp_path: Path, pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    src = source_dir(tmp_path)
    text = textwrap.dedent(
        f"""
        backups:
          repositories:
            - {{name: local, url: "{tmp_path / "repo"}", password: {REPO_PASSWORD}}}
          policies:
            - name: db
              source: {{type: postgres, url: "{PG_ADMIN}", databases: [{pg_db}]}}
              repositories: [local]
            - name: files
              source: {{type: files, paths: ["{src}"]}}
              repositories: [local]
        """
    )
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(text, env={}))
        db.commit()
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def _run(env: dict[str, str], *args: str) -> Result:
    result = cli.invoke(app, list(args), env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    assert REPO_PASSWORD not in result.output
    return result


def test_cli_restore_database_and_files(
    cli_env: dict[str, str], pg_db: str, new_name: str, tmp_path: Path
) -> None:
    assert _run(cli_env, "backup", "run", "db").exit_code == 0
    assert _run(cli_env, "backup", "run", "files").exit_code == 0

    listed = _run(cli_env, "restore", "points", "db")
    assert listed.exit_code == 0, listed.output
    assert "database" in listed.stdout and pg_db in listed.stdout

    done = _run(cli_env, "restore", "database", "db", "--to", new_name)
    assert done.exit_code == 0, done.output
    assert "restored" in done.stdout and new_name in done.stdout
    assert pg_exec(new_name, "SELECT count(*) FROM orders") == [300]

    again = _run(cli_env, "restore", "database", "db", "--to", new_name)
    assert again.exit_code == 1 and "already exists" in again.output

    target = tmp_path / "out"
    files = _run(cli_env, "restore", "files", "files", "--to", str(target))
    assert files.exit_code == 0, files.output
    assert any(p.is_file() for p in target.rglob("*"))

    wrong_kind = _run(cli_env, "restore", "files", "db", "--to", str(tmp_path / "x"))
    assert wrong_kind.exit_code == 1 and "snapshots restore as database" in wrong_kind.output
    bad_at = _run(cli_env, "restore", "database", "db", "--to", "x", "--at", "soon")
    assert bad_at.exit_code == 1 and "neither a time" in bad_at.output
    no_to = _run(cli_env, "restore", "database", "db")
    assert no_to.exit_code == 1 and "--to" in no_to.output
    unknown = _run(cli_env, "restore", "points", "nope")
    assert unknown.exit_code == 1 and "no backup policy 'nope'" in unknown.output
    # a restore lists the snapshots ahead, on a thread: its errors end the command the same way
    unknown = _run(cli_env, "restore", "files", "nope", "--to", str(tmp_path / "y"))
    assert unknown.exit_code == 1 and "no backup policy 'nope'" in unknown.output
    elsewhere = _run(cli_env, "restore", "files", "files", "--to", str(tmp_path / "z"), "-r", "x")
    assert elsewhere.exit_code == 1 and "does not write to repository 'x'" in elsewhere.output


def test_restore_reads_a_copy_target_when_the_first_repository_is_gone(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    src = source_dir(tmp_path)
    text = textwrap.dedent(
        f"""
        backups:
          repositories:
            - {{name: local, url: "{tmp_path / "repo"}", password: {REPO_PASSWORD}}}
            - {{name: offsite, url: "{tmp_path / "offsite"}", password: {REPO_PASSWORD}}}
          policies:
            - name: app
              source: {{type: files, paths: ["{src}"]}}
              repositories: [local]
              copy: {{to: [offsite]}}
        """
    )
    section = load_plan_text(text, env={}).plan.backups
    engine = _engine(tmp_path)
    runner = BackupRunner(sessions, engine)
    _backup(runner, section)
    (copied,) = asyncio.run(runner.copy(section, "app", trigger="test"))
    assert copied.ok, copied.error
    shutil.rmtree(tmp_path / "repo")  # the first repository is lost

    points, errors = asyncio.run(restore_points(engine, section, "app"))
    assert list(errors) == ["local"] and REPO_PASSWORD not in errors["local"]
    point = choose(points, kind="files")
    assert point.repository == "offsite"
    target = tmp_path / "back"
    asyncio.run(Restorer(engine, sessions=sessions).files(section, point, target))
    assert (target / str(src).lstrip("/") / "a.txt").read_text() == "alpha\n"
    # restic picks the latest itself (no listing first); when the first repository fails,
    # the listing finds the copy target, which is restored from all the same
    later = tmp_path / "back-latest"
    result = asyncio.run(
        Restorer(engine, sessions=sessions).latest_files(
            section, "app", later, lambda: policy_snapshots(engine, section, "app")
        )
    )
    assert result.point.repository == "offsite"
    assert (later / str(src).lstrip("/") / "a.txt").read_text() == "alpha\n"


def test_latest_files_restore_is_described_by_what_restic_restored(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """restic picks the latest snapshot and names it: no listing is needed, and the result
    and the record name the snapshot restored, its time and paths."""
    src = source_dir(tmp_path)
    section = _section(tmp_path, f'{{type: files, paths: ["{src}"]}}')
    engine = _engine(tmp_path)
    runner = BackupRunner(sessions, engine)
    restorer = Restorer(engine, sessions=sessions)
    # before the first backup there is no repository yet: the listing's reason is given
    with pytest.raises(RestoreError, match="no repository of policy app answered"):
        asyncio.run(
            restorer.latest_files(
                section, "app", tmp_path / "none", lambda: policy_snapshots(engine, section, "app")
            )
        )
    first = _backup(runner, section)
    (src / "a.txt").write_text("changed\n")
    second = _backup(runner, section)
    assert first != second

    target = tmp_path / "latest"
    result = asyncio.run(restorer.latest_files(section, "app", target, _never))
    assert (target / str(src).lstrip("/") / "a.txt").read_text() == "changed\n"
    (listed,) = [
        p
        for p in asyncio.run(restore_points(engine, section, "app"))[0]
        if p.snapshot.id.startswith(second)
    ]
    assert result.point.snapshot.id == second
    assert result.point.snapshot.time == listed.snapshot.time
    assert result.point.what == str(src) and result.point.kind == "files"
    with sessions() as db:
        row = db.get(BackupRun, result.run_id)
        assert row is not None and row.status == "succeeded"
        assert row.snapshot_id == second
        assert row.details["snapshot_time"] == listed.snapshot.time.isoformat()
        assert row.bytes_total == result.bytes_written > 0

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(RestoreError, match="not an empty directory"):
        asyncio.run(restorer.latest_files(section, "app", occupied, _never))
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]


def test_a_restore_started_ahead_is_followed_or_stopped(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """`restore files` starts restic as soon as the plan is read; the restorer then follows
    that run (progress, record) — or, when the command ends first, it is stopped."""
    src = source_dir(tmp_path)
    section = _section(tmp_path, f'{{type: files, paths: ["{src}"]}}')
    engine = _engine(tmp_path)
    snap = _backup(BackupRunner(sessions, engine), section)
    repo = access(section.repositories[0])

    target = tmp_path / "ahead"
    ahead = LatestRestoreAhead(engine, repo, "app", target)
    result = asyncio.run(
        Restorer(engine, sessions=sessions).latest_files(
            section, "app", target, _never, ahead=ahead
        )
    )
    ahead.cancel()  # nothing left to stop
    assert result.point.snapshot.id == snap
    assert (target / str(src).lstrip("/") / "a.txt").read_text() == "alpha\n"
    assert result.bytes_written > 0
    with sessions() as db:
        row = db.get(BackupRun, result.run_id)
        assert row is not None and row.status == "succeeded" and row.snapshot_id == snap

    stopped = LatestRestoreAhead(engine, repo, "app", tmp_path / "stopped")
    stopped.cancel()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(stopped.wait())


def test_restic_names_the_snapshot_it_restores() -> None:
    line = (
        "restoring <Snapshot 0159420a of [/srv/app /srv/my files] at "
        "2026-12-06 14:20:07.262300771 +0000 UTC by root@host> to /restore"
    )
    snap = restored_snapshot(line)
    assert snap is not None
    assert snap.id == "0159420a"
    assert snap.paths == ("/srv/app", "/srv/my files")
    assert snap.time == datetime(2026, 12, 6, 14, 20, 7, 262300, tzinfo=UTC)
    assert restored_snapshot("Summary: Restored 3 files") is None


async def _never() -> Listing:
    raise AssertionError("the listing is not needed")
