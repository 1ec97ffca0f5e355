"""`watchkeeper backup run|list|snapshots|retention|check|copy` on this machine: against the store,
the applied plan and real restic; one-line errors, exit status 1 on failures."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.backups.restic_support import PASSWORD, source_dir, unreachable_url
from watchkeeper.cli import app
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import BackupRun

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(ctx: AppContext, database_url: str, tmp_path: Path) -> dict[str, str]:
    src = source_dir(tmp_path)
    text = textwrap.dedent(
        f"""
        backups:
          repositories:
            - {{name: local, url: "{tmp_path / "repo"}", password: {PASSWORD}}}
            - {{name: away, url: "{unreachable_url(tmp_path)}", password: {PASSWORD}}}
          policies:
            - name: files
              source: {{type: files, paths: ["{src}"]}}
              repositories: [local]
              retention: {{keep_last: 1}}
            - name: both
              source: {{type: files, paths: ["{src}"]}}
              repositories: [away, local]
        """
    )
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(text, env={}))
        db.commit()
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["backup", *args], env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    assert PASSWORD not in result.output
    return result


def test_run_list_snapshots_retention_check(env: dict[str, str]) -> None:
    first = run(env, "run", "files")
    assert first.exit_code == 0, first.output
    assert "succeeded" in first.stdout and "local" in first.stdout
    assert run(env, "run", "files").exit_code == 0

    listed = run(env, "list")
    assert listed.stdout.count("succeeded") == 2 and "files" in listed.stdout

    snaps = run(env, "snapshots", "files")
    assert snaps.exit_code == 0 and "local: 2" in snaps.stdout

    dry = run(env, "retention", "files", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "keep 1, would remove 1" in dry.stdout
    assert "local: 2" in run(env, "snapshots", "files").stdout  # nothing removed

    applied = run(env, "retention", "files")
    assert applied.exit_code == 0 and "keep 1, removed 1" in applied.stdout
    assert "local: 1" in run(env, "snapshots", "files").stdout

    checked = run(env, "check", "files", "--read-data-subset", "100%")
    assert checked.exit_code == 0 and "no errors found" in checked.stdout
    assert "forget" in run(env, "list", "--kind", "forget").stdout


def test_failed_repository_exits_1_and_is_listed(env: dict[str, str]) -> None:
    result = run(env, "run", "both")
    assert result.exit_code == 1
    assert "failed" in result.stdout and "succeeded" in result.stdout
    listed = run(env, "list", "--policy", "both")
    assert "not a directory" in listed.stdout


def test_unknown_policy_is_one_line(env: dict[str, str]) -> None:
    result = run(env, "run", "nope")
    assert result.exit_code == 1
    assert "no backup policy 'nope'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    no_retention = run(env, "retention", "both", "--dry-run")
    assert no_retention.exit_code == 1 and "has no retention" in no_retention.stderr


def test_run_is_refused_while_the_scheduler_backs_up(env: dict[str, str], ctx: AppContext) -> None:
    with ctx.sessions() as db:
        live = BackupRun(
            policy="files", repository="local", kind="backup", trigger="schedule", details={}
        )
        db.add(live)
        db.commit()
    result = run(env, "run", "files")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"a backup of files is already running: run {live.id}, started " in line
    assert "by the scheduler" in line
    listed = run(env, "list").stdout
    assert listed.count("running") == 1 and "failed" not in listed  # nothing new recorded


def test_copy_into_a_second_repository(ctx: AppContext, database_url: str, tmp_path: Path) -> None:
    src = source_dir(tmp_path)
    text = textwrap.dedent(
        f"""
        backups:
          repositories:
            - {{name: local, url: "{tmp_path / "repo"}", password: {PASSWORD}}}
            - {{name: offsite, url: "{tmp_path / "offsite"}", password: {PASSWORD}}}
          policies:
            - name: files
              source: {{type: files, paths: ["{src}"]}}
              repositories: [local]
              copy: {{to: [offsite]}}
            - name: plain
              source: {{type: files, paths: ["{src}"]}}
              repositories: [local]
        """
    )
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(text, env={}))
        db.commit()
    env = {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}
    assert run(env, "run", "files").exit_code == 0

    copied = run(env, "copy", "files")
    assert copied.exit_code == 0, copied.output
    assert _cells(copied.stdout, "offsite")[:4] == ["offsite", "succeeded", "1", "1"]
    again = run(env, "copy", "files", "--to", "offsite")
    assert _cells(again.stdout, "offsite")[:4] == ["offsite", "succeeded", "0", "1"]
    assert "offsite: 1" in run(env, "snapshots", "files").stdout
    assert run(env, "list", "--kind", "copy").stdout.count("succeeded") == 2

    wrong = run(env, "copy", "files", "--to", "local")
    assert wrong.exit_code == 1 and "does not copy into repository 'local'" in wrong.stderr
    none = run(env, "copy", "plain")
    assert none.exit_code == 1 and "has no copy targets" in none.stderr


def _cells(table: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in {table}")
