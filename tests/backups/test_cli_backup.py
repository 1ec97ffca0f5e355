"""`watchkeeper backup run|list|snapshots|retention|check` on this machine: against the store,
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
