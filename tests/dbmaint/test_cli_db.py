"""`watchkeeper db status|collect|advise|maintain|runs|dismiss|restore` on this machine: the
store, the applied plan (or --plan FILE) and a real SQLite database; one-line errors and exit
status 1 on failures."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.dbmaint.service_support import apply, plan_text, sqlite_target, sqlite_with_freelist
from watchkeeper.cli import app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import DbMaintenanceRun, utcnow

runner = CliRunner()
SMALL = "thresholds: {bloat_min_size: 1KiB}"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(ctx: AppContext, database_url: str, tmp_path: Path) -> dict[str, str]:
    path = sqlite_with_freelist(tmp_path / "app.db")
    with ctx.sessions() as db:
        apply(
            db,
            plan_text(
                sqlite_target("app", path, extra=SMALL),
                sqlite_target("gone", tmp_path / "missing.db"),
            ),
        )
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["db", *args], env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_status_collect_advise_dismiss_restore(env: dict[str, str]) -> None:
    before = run(env, "status")
    assert before.exit_code == 0, before.output
    assert "app" in before.stdout and "pending" in before.stdout

    collected = run(env, "collect", "app")
    assert collected.exit_code == 0, collected.output
    assert "freelist:main" in collected.stdout and "score" in collected.stdout
    failed = run(env, "collect", "gone")
    assert failed.exit_code == 1
    assert "collecting gone failed" in failed.output and "does not exist" in failed.output
    unknown = run(env, "collect", "nope")
    assert unknown.exit_code == 1 and 'there is no database "nope"' in unknown.output

    status = run(env, "status")
    assert "ok" in status.stdout and "free pages" in status.stdout and "failing" in status.stdout

    advice = run(env, "advise", "app")
    assert advice.exit_code == 0 and "key: freelist:main" in advice.stdout

    no_reason = run(env, "dismiss", "app", "freelist:main", "--reason", " ")
    assert no_reason.exit_code == 1 and "needs a reason" in no_reason.output
    dismissed = run(
        env, "dismiss", "app", "freelist:main", "--reason", "weekly VACUUM", "--until", "7d"
    )
    assert dismissed.exit_code == 0, dismissed.output
    assert "dismissed freelist:main of app until" in dismissed.stdout
    assert "freelist:main" not in run(env, "advise", "app").stdout
    everything = run(env, "advise", "--all")
    assert "dismissed by cli:" in everything.stdout
    assert run(env, "restore", "app", "freelist:main").exit_code == 0
    assert "key: freelist:main" in run(env, "advise").stdout
    again = run(env, "restore", "app", "freelist:main")
    assert again.exit_code == 1 and "is not dismissed" in again.output


def test_maintain_dry_run_windows_force_and_runs(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    size = path.stat().st_size
    dry = run(env, "maintain", "app", "nightly-vacuum", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would run: 1 step(s)" in dry.stdout and "VACUUM" in dry.stdout
    assert path.stat().st_size == size

    closed = run(env, "maintain", "app", "closed")
    assert closed.exit_code == 1
    assert "outside its maintenance windows" in closed.output and "--force" in closed.output
    forced = run(env, "maintain", "app", "closed", "--force")
    assert forced.exit_code == 0, forced.output
    assert "ANALYZE" in forced.stdout

    done = run(env, "maintain", "app", "nightly-vacuum")
    assert done.exit_code == 0, done.output
    assert "succeeded" in done.stdout
    assert path.stat().st_size < size

    nope = run(env, "maintain", "app", "nope")
    assert nope.exit_code == 1 and "its tasks: nightly-vacuum, closed" in nope.output

    runs = run(env, "runs", "app")
    assert runs.exit_code == 0
    assert runs.stdout.count("nightly-vacuum") == 2 and "(dry run)" in runs.stdout
    assert "skipped" in runs.stdout  # the refused start is recorded too
    assert "closed" in run(env, "runs", "--task", "closed").stdout


def test_plan_file_instead_of_the_store(env: dict[str, str], tmp_path: Path) -> None:
    other = sqlite_with_freelist(tmp_path / "other.db")
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text(plan_text(sqlite_target("other", other)))
    status = run(env, "status", "--plan", str(plan))
    assert status.exit_code == 0 and "other" in status.stdout and "app" not in status.stdout
    collected = run(env, "collect", "other", "--plan", str(plan))
    assert collected.exit_code == 0, collected.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("databases:\n  targets:\n    - {name: x, type: sqlite}\n")
    broken = run(env, "status", "--plan", str(bad))
    assert broken.exit_code == 1 and "bad.yaml:3" in broken.output


def _running_row(ctx: AppContext, task: str, started_at: datetime) -> int:
    with ctx.sessions() as db:
        row = DbMaintenanceRun(
            database="app",
            task=task,
            action="vacuum",
            status="running",
            trigger="schedule",
            dry_run=False,
            started_at=started_at,
            error="",
            steps=[],
        )
        db.add(row)
        db.commit()
        return int(row.id)


def test_maintain_is_refused_while_the_server_runs_the_database(
    ctx: AppContext, env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "app.db"
    size = path.stat().st_size
    live = _running_row(ctx, "nightly-vacuum", utcnow() - timedelta(minutes=1))
    refused = run(env, "maintain", "app", "nightly-vacuum")
    assert refused.exit_code == 1
    assert f"is already being maintained: run {live}" in refused.output
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert "by the scheduler" in refused.output and len(lines) == 1
    assert path.stat().st_size == size  # nothing ran
    assert run(env, "maintain", "app", "nightly-vacuum", "--dry-run").exit_code == 0
    with ctx.sessions() as db:
        row = db.get(DbMaintenanceRun, live)
        assert row is not None
        row.status = "succeeded"
        db.commit()
    assert run(env, "maintain", "app", "nightly-vacuum").exit_code == 0
    assert path.stat().st_size < size


def test_a_stale_running_row_does_not_block_maintain(ctx: AppContext, env: dict[str, str]) -> None:
    # default max_runtime 2h + statement_timeout 30m + 10m grace: 3h is past all of them
    stale = _running_row(ctx, "nightly-vacuum", utcnow() - timedelta(hours=3))
    done = run(env, "maintain", "app", "nightly-vacuum")
    assert done.exit_code == 0, done.output
    with ctx.sessions() as db:
        row = db.get(DbMaintenanceRun, stale)
        assert row is not None and row.status == "failed" and "stopped" in row.error
