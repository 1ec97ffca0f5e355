"""`watchkeeper security patches|suppress|applied` against the store: the plan as a table,
a suppression (audited as the OS user) that takes an action out of the plan, marking an
action applied; one-line errors and exit status 1 for bad input."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from tests.security.findings_support import add_finding
from watchkeeper.cli import app
from watchkeeper.runtime.context import AppContext
from watchkeeper.security import patches
from watchkeeper.store.tables import AuditEntry, PatchAction, SecuritySuppression, utcnow

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(ctx: AppContext, database_url: str, tmp_path: Path) -> dict[str, str]:
    now = utcnow()
    with ctx.sessions() as db:
        add_finding(db, "GHSA-crit", severity="critical", score=9.8, last_seen=now)
        add_finding(db, "GHSA-db", host="db-1", package="jinja2", version="3.1.2", fixed="3.1.4")
        patches.refresh(db, now)
        db.commit()
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["security", *args], env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_patches_suppress_and_applied(env: dict[str, str], ctx: AppContext) -> None:
    listed = run(env, "patches")
    assert listed.exit_code == 0, listed.output
    assert "requests 2.25.0 → 2.31.0" in listed.stdout and "critical" in listed.stdout
    assert listed.stdout.index("web-1") < listed.stdout.index("db-1")  # ranked
    with ctx.sessions() as db:
        web, dbh = (
            db.scalars(select(PatchAction.id).where(PatchAction.host == h)).one()
            for h in ("web-1", "db-1")
        )

    done = run(env, "applied", str(web))
    assert done.exit_code == 0, done.output
    assert "requests 2.25.0 → 2.31.0 on web-1" in done.stdout
    only = run(env, "patches", "--status", "applied")
    assert "web-1" in only.stdout and "db-1" not in only.stdout

    made = run(
        env, "suppress", "GHSA-db", "--reason", "jinja2 renders no user input", "--host", "db-*",
        "--expires", "90d",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "suppressed GHSA-db for package * on hosts db-*" in made.stdout
    with ctx.sessions() as db:
        row = db.scalars(select(SecuritySuppression)).one()
        assert row.actor.startswith("cli:") and row.host == "db-*"
        assert row.expires_at is not None and row.expires_at > utcnow() + timedelta(days=89)
        assert db.get(PatchAction, dbh).status == "obsolete"  # type: ignore[union-attr]
        actions = db.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("security.%"))
        ).all()
        assert actions == ["security.patch_applied", "security.suppression_create"]


BAD = [
    (("patches", "--status", "done"), '--status "done" is not one of planned'),
    (("applied", "424242"), "there is no patch action 424242"),
    (("suppress", "CVE-1", "--reason", " "), "reason: say why"),
    (("suppress", "CVE-1", "--reason", "x", "--expires", "someday"), "--expires"),
    (("suppress", "CVE-1", "--reason", "x", "--expires", "2020-01-01"), "in the future"),
]


def test_bad_input_exits_1_with_one_line(env: dict[str, str]) -> None:
    for args, message in BAD:
        result = run(env, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
