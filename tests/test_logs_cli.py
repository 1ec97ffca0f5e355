"""`watchkeeper logs query|streams` against a live server through its HTTP API: rich
tables, NDJSON with --json, one-line errors for bad queries, tokens and options."""

from __future__ import annotations

import json
import os
import time

import pytest
from typer.testing import CliRunner, Result

from tests.helpers import LiveServer
from tests.metrics.ingest_support import api_token
from watchkeeper.cli import app
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.runtime.context import AppContext

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(ctx: AppContext, server: LiveServer) -> dict[str, str]:
    now = time.time_ns()
    api, web = make_labels({"app": "api", "level": "error"}), make_labels({"app": "web"})
    ctx.logs.store.append(
        [
            LogLine(now - 3 * 10**9, now, api, "db timeout after 5s"),
            LogLine(now - 2 * 10**9, now, api, "[bold]not markup[/bold] failed"),
            LogLine(now - 10**9, now, web, "GET / 200"),
            LogLine(now - 3 * 3600 * 10**9, now, api, "an old error"),
        ]
    )
    return {"WATCHKEEPER_URL": server.url, "WATCHKEEPER_TOKEN": api_token(ctx, "viewer")}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["logs", *args], env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_query_prints_matching_lines_newest_first(env: dict[str, str]) -> None:
    result = run(env, "query", '{app="api"}')
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "[bold]not markup[/bold] failed" in out  # shown as written, not as markup
    assert out.index("not markup") < out.index("db timeout") and "an old error" not in out
    assert '{app="api", level="error"}' in out and "GET /" not in out
    wider = run(env, "query", '{app="api"}', "--since", "4h")
    assert "an old error" in wider.stdout


def test_query_json_and_limit(env: dict[str, str]) -> None:
    result = run(env, "query", "nothing matches this", "--json")
    assert result.exit_code == 0 and result.stdout == ""
    result = run(env, "query", '{app=~"api|web"}', "--json", "--limit", "2")
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["message"] for x in lines] == ["GET / 200", "[bold]not markup[/bold] failed"]
    assert lines[0]["labels"] == {"app": "web"}
    assert "more match (--limit)" in result.stderr


def test_metric_query_prints_one_row_per_series(env: dict[str, str]) -> None:
    result = run(env, "query", "sum by (app) (count_over_time({}[1h]))", "--json")
    assert result.exit_code == 0, result.output
    values = {
        json.dumps(x["labels"]): x["value"] for x in map(json.loads, result.stdout.splitlines())
    }
    assert values == {'{"app": "api"}': 2.0, '{"app": "web"}': 1.0}
    table = run(env, "query", 'count_over_time({app="web"}[1h])')
    assert '{app="web"}' in table.stdout and " 1 " in table.stdout


def test_streams_lists_each_stream(env: dict[str, str]) -> None:
    result = run(env, "streams")
    assert result.exit_code == 0, result.output
    assert '{app="api", level="error"}' in result.stdout and '{app="web"}' in result.stdout
    assert "2 stream(s)" in result.stdout and "30d" in result.stdout
    rows = [json.loads(x) for x in run(env, "streams", "--json").stdout.splitlines()]
    assert sorted(r["lines"] for r in rows) == [1, 3]


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (("query", '{app="api"'), {}, "error: query: expected"),
        (("query", "{}", "--since", "5x"), {}, '--since: "5x" is not a duration'),
        (("streams",), {"WATCHKEEPER_TOKEN": "wk_00000000_" + "x" * 43}, "refused the token"),
        (("streams",), {"WATCHKEEPER_TOKEN": ""}, "give an API token"),
        (("streams", "--server", "ftp://x"), {}, "is not an http:// or https:// URL"),
        (("streams", "--server", "http://127.0.0.1:9"), {}, "cannot reach http://127.0.0.1:9"),
    ],
)
def test_errors_are_one_line(
    env: dict[str, str], args: tuple[str, ...], extra: dict[str, str], message: str
) -> None:
    result = run({**env, **extra}, *args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
