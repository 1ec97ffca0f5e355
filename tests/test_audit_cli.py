"""`watchkeeper audit verify` and `audit export`: exit codes, the first bad entry named, JSON
lines on standard output or in a file. Tampering goes straight to the database file/server."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from click.testing import Result
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from watchkeeper.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "watchkeeper.yaml"
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def store_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, list(args), env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def sql(database_url: str, statement: str) -> None:
    """Run ``statement`` on the store with the plain driver, as someone with file or server
    access would."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database)) as conn:
            conn.execute(statement)
        return
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


@pytest.fixture
def applied(store_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A store where the plan was applied twice (two audit entries): the example plan without
    its runbooks folder, whose first import audits each runbook it creates."""
    plan = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    del plan["runbooks"]
    without_runbooks = tmp_path / "plan.yaml"
    without_runbooks.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    for _ in range(2):
        result = run(store_env, "plan", "apply", str(without_runbooks))
        assert result.exit_code == 0, result.output
    yield store_env


def test_verify_exits_0_when_the_chain_is_intact(applied: dict[str, str]) -> None:
    result = run(applied, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 2 entries, chain intact\n"


def test_verify_exits_1_naming_an_edited_entry(applied: dict[str, str], database_url: str) -> None:
    sql(database_url, "UPDATE audit_log SET actor = 'mallory' WHERE id = 1")
    result = run(applied, "audit", "verify")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: audit trail tampered: entry 1: content does not match its hash "
        "(0 entries before it are intact)"
    )


def test_verify_exits_1_when_an_entry_was_removed(
    applied: dict[str, str], database_url: str
) -> None:
    assert run(applied, "plan", "apply", str(EXAMPLE)).exit_code == 0
    sql(database_url, "DELETE FROM audit_log WHERE id = 2")
    result = run(applied, "audit", "verify")
    assert result.exit_code == 1
    assert "entry 3: does not follow the entry before it" in result.stderr


def test_verify_exits_1_when_the_newest_entries_were_removed(
    applied: dict[str, str], database_url: str
) -> None:
    sql(database_url, "DELETE FROM audit_log WHERE id = 2")
    result = run(applied, "audit", "verify")
    assert result.exit_code == 1
    assert "after the last entry: the newest entries were removed" in result.stderr


def test_verify_needs_a_migrated_store(tmp_path: Path) -> None:
    env = {
        "WATCHKEEPER_HOME": str(tmp_path / "home"),
        "WATCHKEEPER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    result = run(env, "audit", "verify")
    assert result.exit_code == 1
    assert "run `watchkeeper db upgrade`" in result.stderr


def test_export_writes_json_lines_to_stdout(applied: dict[str, str]) -> None:
    result = run(applied, "audit", "export")
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(d["id"], d["actor"], d["action"]) for d in docs] == [
        (1, "cli", "plan.apply"),
        (2, "cli", "plan.apply"),
    ]
    assert docs[0]["detail"]["created"] == 59 and docs[1]["detail"]["unchanged"] == 59
    assert docs[1]["prev_hash"] == docs[0]["hash"]
    assert result.stderr == ""


def test_export_filters_by_time(applied: dict[str, str]) -> None:
    assert run(applied, "audit", "export", "--since", "2999-01-01").stdout == ""
    assert run(applied, "audit", "export", "--until", "2000-01-01T00:00Z").stdout == ""
    both = run(applied, "audit", "export", "--since", "2000-01-01", "--until", "2999-01-01")
    assert both.stdout.count("\n") == 2
    bad = run(applied, "audit", "export", "--since", "yesterday")
    assert bad.exit_code == 1
    assert "--since 'yesterday' is not an ISO 8601 date or time" in bad.stderr


def test_export_to_a_file(applied: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    result = run(applied, "audit", "export", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote 2 entries to {target}" in result.stderr
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2]

    missing = run(applied, "audit", "export", "-o", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert missing.exit_code == 1
    assert "cannot write" in missing.stderr
