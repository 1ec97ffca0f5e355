"""`watchkeeper errors list|show|resolve|ignore` against the store: the issues as a table,
one issue with its stack trace, triage recorded as the CLI user, one-line errors naming the
option with a non-zero exit, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.errors.support import apply, project
from tests.errors.triage_support import T0, issue, store
from watchkeeper.cli import app
from watchkeeper.runtime.context import AppContext

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, list(args), env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_list_show_resolve_ignore(ctx: AppContext, tmp_path: Path, database_url: str) -> None:
    apply(ctx, "errors:\n  projects:\n    - name: shop\n")
    with ctx.sessions() as db:
        bug = store(db, project(ctx, "shop").id, T0, release="shop@1.0")
    env = {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}
    listed = run(env, "errors", "list")
    assert listed.exit_code == 0, listed.output
    assert "ValueError: bad value" in listed.output and "1 issue(s)" in listed.output
    shown = run(env, "errors", "show", str(bug.id))
    assert shown.exit_code == 0, shown.output
    assert "shop@1.0: 1 event(s)" in shown.output
    assert "* shop.cart:42 in total" in shown.output  # most recent call first, in-app marked
    resolved = run(env, "errors", "resolve", str(bug.id), "--next-release")
    assert resolved.exit_code == 0 and "resolved_next_release" in resolved.output
    ignored = run(env, "errors", "ignore", str(bug.id), "--count", "5")
    assert ignored.exit_code == 0, ignored.output
    with ctx.sessions() as db:
        row = issue(db, bug.id)
        assert (row.status, row.ignore_until_count) == ("ignored", 6)
    assert "0 issue(s)" in run(env, "errors", "list").output
    assert "1 issue(s)" in run(env, "errors", "list", "--status", "ignored").output
    bad = run(env, "errors", "ignore", str(bug.id), "--until", "2020-01-01T00:00:00Z")
    assert bad.exit_code == 1 and "--ignore-until: must be in the future" in bad.output
    missing = run(env, "errors", "resolve", "999999")
    assert missing.exit_code == 1 and "no error issue 999999" in missing.output
    wrong = run(env, "errors", "list", "--status", "fixed")
    assert wrong.exit_code == 1 and "--status" in wrong.output
