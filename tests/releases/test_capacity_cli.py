"""`watchkeeper capacity refresh|report` against the store: a table with what runs out
first, the API's JSON with --json, the --within filter, one-line errors naming the option."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.releases.capacity_support import PLAN, hours, push_host
from tests.releases.support import apply
from watchkeeper.cli import app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import utcnow

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(ctx: AppContext, tmp_path: Path, database_url: str) -> dict[str, str]:
    """The store of ``ctx`` with the capacity plan and four days of two hosts (web-1's disk
    fills in four days)."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    apply(ctx.sessions, PLAN)
    push_host(ctx.metrics, "web-1", hours(-4, 0, now), lambda d: 0.70 + 0.05 * d, now=now)
    push_host(ctx.metrics, "web-2", hours(-4, 0, now), lambda d: 0.30 + 0 * d, now=now)
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, list(args), env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_report_before_and_after_a_refresh(env: dict[str, str]) -> None:
    empty = run(env, "capacity", "report")
    assert empty.exit_code == 0 and "No forecasts yet" in empty.stdout
    done = run(env, "capacity", "refresh")
    assert done.exit_code == 0, done.output
    assert "2 CapacityForecast alert(s) firing" in done.stdout
    table = run(env, "capacity", "report")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if "web-1" in line)
    assert "soon" in lines[first] and "(in 4 d)" in lines[first]
    assert "`limit_expr` gives no value now" in table.stdout  # the target without a limit
    soon = run(env, "capacity", "report", "--within", "5d", "--json")
    body = json.loads(soon.stdout)
    assert sorted(i["resource"] for i in body["items"]) == ["disk", "root-free"]
    assert body["counts"]["soon"] == 2
    hosts = json.loads(run(env, "capacity", "report", "--kind", "host", "--json").stdout)
    assert {i["kind"] for i in hosts["items"]} == {"host"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--within", "soon"], '--within: "soon" is not a duration'),
        (["--kind", "vm"], "--kind: 'vm' is not one of host, target, database"),
    ],
)
def test_bad_options_end_with_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    result = run(env, "capacity", "report", *args)
    assert result.exit_code == 1
    assert message in result.stderr
