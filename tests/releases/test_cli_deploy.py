"""`watchkeeper deploy record|list|changelog` against the store: the id on standard output,
the plan's checks as one-line errors naming the option, a non-zero exit, no traceback."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.releases.support import PLAN
from watchkeeper.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def store_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """A migrated store with the releases plan applied."""
    env = {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}
    assert run(env, "db", "upgrade").exit_code == 0
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text(textwrap.dedent(PLAN))
    applied = run(env, "plan", "apply", str(plan))
    assert applied.exit_code == 0, applied.output
    return env


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    result = runner.invoke(app, list(args), env={"COLUMNS": "1000", **env}, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_record_list_changelog(store_env: dict[str, str], tmp_path: Path) -> None:
    first = run(
        store_env,
        "deploy",
        "record",
        "--service",
        "api",
        "--version",
        "1.4.0",
        "--commit",
        "a1b2c3d4",
        "--author",
        "alice",
        "--changes",
        "- faster search",
        "--deployed-at",
        "2025-11-03T10:00Z",
        "--commit-time",
        "2025-11-02T09:00Z",
        "--host",
        "web-1",
    )
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().isdigit()
    assert "(first deploy there; release gate pending)" in first.stderr
    notes = tmp_path / "notes.md"
    notes.write_text("**Pricing** v2\n")
    second = run(
        store_env,
        "deploy",
        "record",
        "-s",
        "api",
        "-v",
        "1.5.0",
        "--commit",
        "0f0f0f0f",
        "--changes-file",
        str(notes),
        "--deployed-at",
        "2025-12-22T09:00Z",
    )
    assert second.exit_code == 0, second.output
    assert "replaces 1.4.0" in second.stderr and "inside freeze period year-end" in second.stderr
    from_stdin = run(
        store_env,
        "deploy",
        "record",
        "-s",
        "billing",
        "-v",
        "2025.11.0",
        "--changes-file",
        "-",
        "--deployed-at",
        "2025-11-05T10:00Z",
        stdin="monthly release\n",
    )
    assert from_stdin.exit_code == 0, from_stdin.output

    listed = run(store_env, "deploy", "list", "--service", "api")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert "1.5.0 (was 1.4.0)" in listed.stdout and "freeze year-end" in listed.stdout
    assert lines.index(next(x for x in lines if "1.5.0" in x)) < lines.index(
        next(x for x in lines if "1.4.0 " in x and "was" not in x)
    )
    assert "billing" not in listed.stdout
    by_host = run(store_env, "deploy", "list", "--host", "web-1")
    assert "1.4.0" in by_host.stdout and "billing" not in by_host.stdout

    log = run(store_env, "deploy", "changelog", "api")
    assert log.exit_code == 0
    assert log.stdout.startswith("# Changelog: api\n")
    assert "## 1.5.0 — 2025-12-22" in log.stdout and "**Pricing** v2" in log.stdout
    assert "- faster search" in log.stdout
    assert "monthly release" in run(store_env, "deploy", "changelog", "billing").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "nope", "-v", "1.0.0"], 'error: --service: no service "nope" is declared'),
        (["-s", "api", "-v", "1.4"], "error: --version: 1.4 is not SemVer: it needs three"),
        (["-s", "api", "-v", "1.4.0", "-e", "qa"], 'error: --environment: service "api" has no'),
        (["-s", "api", "-v", "1.4.0", "--commit", "xyz"], "error: --commit: must be a commit"),
        (["-s", "api", "-v", "1.4.0", "--deployed-at", "soon"], "error: --deployed-at 'soon'"),
        (["-s", "api", "-v", "1.4.0", "--status", "meh"], 'error: --status: "meh" is not one'),
        (
            ["-s", "api", "-v", "1.4.0", "--changes", "x", "--changes-file", "-"],
            "error: give --changes or --changes-file, not both",
        ),
    ],
)
def test_bad_record_is_one_line(store_env: dict[str, str], args: list[str], message: str) -> None:
    result = run(store_env, "deploy", "record", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert run(store_env, "deploy", "list").stdout == "no deploys recorded\n"


def test_changelog_of_unknown_service(store_env: dict[str, str]) -> None:
    result = run(store_env, "deploy", "changelog", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith('error: no service "nope" is declared in the plan')
    bad_env = run(store_env, "deploy", "changelog", "api", "-e", "qa")
    assert bad_env.exit_code == 1 and "--environment: service" in bad_env.stderr
