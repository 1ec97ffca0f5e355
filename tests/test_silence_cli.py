"""`watchkeeper silence add|list|expire` and `watchkeeper alerts list`: rich tables, the
id on standard output, bad matchers and times as one-line errors with a non-zero exit."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.alerts.alert_rows import add_alert
from watchkeeper.alerts import silences
from watchkeeper.auth import audit
from watchkeeper.cli import app
from watchkeeper.store.engine import make_engine, session_factory
from watchkeeper.store.tables import utcnow

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def store_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """A migrated store on SQLite and (when configured) PostgreSQL."""
    env = {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}
    assert run(env, "db", "upgrade").exit_code == 0
    return env


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, list(args), env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_add_list_expire(store_env: dict[str, str]) -> None:
    added = run(
        store_env,
        "silence",
        "add",
        "alertname=DiskFull",
        'instance=~"db-.*"',
        "--duration",
        "90m",
        "--comment",
        "disk swap on db-1",
    )
    assert added.exit_code == 0, added.output
    silence_id = added.stdout.strip()
    assert len(silence_id) == 36
    assert 'silenced alertname="DiskFull" instance=~"db-.*" until' in added.stderr

    listed = run(store_env, "silence", "list")
    assert listed.exit_code == 0
    assert silence_id in listed.stdout
    assert "active" in listed.stdout and "disk swap on db-1" in listed.stdout
    assert 'instance=~"db-.*"' in listed.stdout
    assert "cli:" in listed.stdout  # the author defaults to the operating-system user

    expired = run(store_env, "silence", "expire", silence_id)
    assert expired.exit_code == 0
    assert expired.stdout == f"expired silence {silence_id}\n"
    assert run(store_env, "silence", "list").stdout == "no active or pending silences\n"
    assert silence_id in run(store_env, "silence", "list", "--all").stdout

    again = run(store_env, "silence", "expire", silence_id)
    assert again.exit_code == 1
    assert again.stderr == f"error: silence {silence_id} has already expired\n"
    unknown = run(store_env, "silence", "expire", "nope")
    assert unknown.exit_code == 1 and unknown.stderr == 'error: no silence "nope"\n'

    engine = make_engine(store_env["WATCHKEEPER_DATABASE_URL"])
    try:
        with session_factory(engine)() as db:
            entries = audit.search(db, action="silence.")
            assert [e.action for e in entries] == ["silence.expire", "silence.create"]
            assert all(e.actor.startswith("cli:") and e.client_addr == "local" for e in entries)
    finally:
        engine.dispose()


def test_until_and_author(store_env: dict[str, str]) -> None:
    day = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%d")
    added = run(
        store_env,
        "silence",
        "add",
        "alertname=Backup",
        "--until",
        f"{day}T12:00",
        "--comment",
        "migration",
        "--author",
        "alice",
    )
    assert added.exit_code == 0, added.output
    listed = run(store_env, "silence", "list").stdout
    assert f"{day} 12:00 UTC" in listed and "alice" in listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["not a matcher", "--comment", "x"],
            'error: matcher 1 (not a matcher): "not a matcher" is not a label matcher',
        ),
        (["job=~.*", "--comment", "x"], "error: matchers: every matcher also matches"),
        (["alertname=A", "--comment", " "], "error: --comment: say why"),
        (["alertname=A", "--comment", "x", "--duration", "soon"], "error: --duration:"),
        (["alertname=A", "--comment", "x", "--until", "tuesday"], "error: --until:"),
        (["alertname=A", "--comment", "x", "--until", "2001-01-01"], "error: --until: must be"),
        (
            ["alertname=A", "--comment", "x", "--until", "2100-01-01", "--duration", "1h"],
            "error: --duration: give --duration or --until, not both",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    store_env: dict[str, str], args: list[str], message: str
) -> None:
    result = run(store_env, "silence", "add", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_a_missing_comment_is_a_usage_error(store_env: dict[str, str]) -> None:
    result = run(store_env, "silence", "add", "alertname=A")
    assert result.exit_code == 2
    assert "--comment" in result.output


def test_alerts_list(store_env: dict[str, str]) -> None:
    assert run(store_env, "alerts", "list").stdout == "no active alerts\n"
    engine = make_engine(store_env["WATCHKEEPER_DATABASE_URL"])
    try:
        with session_factory(engine)() as db:
            add_alert(db, "DiskFull", severity="critical", labels={"instance": "db-1"}, value=0.04)
            add_alert(db, "HighCPU", muted="silenced", muted_by=["s-1"])
            add_alert(db, "ReplicationLag", state="pending")
            add_alert(db, "OldNews", state="resolved")
            db.commit()
            assert silences.list_silences(db) == []
    finally:
        engine.dispose()
    active = run(store_env, "alerts", "list").stdout
    assert "DiskFull" in active and "instance=db-1" in active and "0.04" in active
    assert "firing (silenced)" in active and "ReplicationLag" in active
    assert "OldNews" not in active
    assert active.index("DiskFull") < active.index("HighCPU")  # critical first
    firing = run(store_env, "alerts", "list", "--state", "firing").stdout
    assert "ReplicationLag" not in firing and "HighCPU" in firing
    assert "OldNews" in run(store_env, "alerts", "list", "--state", "resolved").stdout
    bad = run(store_env, "alerts", "list", "--state", "burning")
    assert bad.exit_code == 1
    assert bad.stderr.startswith('error: --state "burning" is not one of active, pending')
