"""`watchkeeper compliance plan [--json] [--now]`: the sections table from the server's
snapshot (or evaluated now), exit status 0 only when the whole plan is followed."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.security.plan_compliance.support import apply_text, declared_at
from watchkeeper.cli import app
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.compliance.plan_service import PlanComplianceService
from watchkeeper.store.tables import CheckStatus, utcnow

runner = CliRunner()
CHECKS = """
checks:
  - {name: api, type: tcp, host: 127.0.0.1, port: 1, interval: 30s}
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["compliance", "plan", *args], env={"COLUMNS": "200", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_exit_status_follows_the_plan(ctx: AppContext, database_url: str, tmp_path: Path) -> None:
    env = {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}
    now = utcnow()
    with ctx.sessions() as db:
        apply_text(db, CHECKS)
        declared_at(db, now - timedelta(days=1))
        db.add(CheckStatus(name="api", status="up", last_run_at=now))
        db.commit()
    followed = run(env)
    assert followed.exit_code == 0, followed.output
    assert "Plan compliance 100% (evaluated now" in followed.stdout
    assert "Health checks" in followed.stdout and "followed" in followed.stdout
    assert "nothing to judge" in followed.stdout

    with ctx.sessions() as db:
        status = db.get(CheckStatus, "api")
        assert status is not None
        status.status, status.last_message = "down", "connection refused"
        db.commit()
    PlanComplianceService(ctx.sessions, clock=utcnow).run_once()
    broken = run(env)
    assert broken.exit_code == 1
    assert "snapshot of the server" in broken.stdout
    assert (
        "NOT followed" in broken.stdout and "✗ check api: down: connection refused" in broken.stdout
    )

    as_json = run(env, "--json", "--now")
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["stored"] is False and body["followed"] is False
    assert body["sections"]["checks"]["failing"][0]["link"] == "/checks/api"


def test_a_store_that_is_not_migrated_is_one_line(tmp_path: Path) -> None:
    env = {
        "WATCHKEEPER_HOME": str(tmp_path / "home"),
        "WATCHKEEPER_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
    }
    result = run(env)
    assert result.exit_code == 1
    assert "run `watchkeeper db upgrade`" in result.output
