"""`watchkeeper security audit`: on a prepared tree without a store (an agent's host), with
the plan's profiles from the store, recording the run (audited), and its one-line errors."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.security.hardening.support import write
from watchkeeper.cli import app
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.security.hardening.audits import server_host
from watchkeeper.store.tables import AuditEntry, HardeningRun

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


def _tree(root: Path) -> Path:
    write(root, "/etc/ssh/sshd_config", "PermitRootLogin yes\nPasswordAuthentication no\n")
    write(root, "/usr/bin/ok", "x", 0o755)
    return root


def test_a_tree_without_a_store(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    home = tmp_path / "agent-home"
    result = runner.invoke(app, ["--home", str(home), "security", "audit", "--root", str(tree)])
    assert result.exit_code == 1, result.output  # a check failed: scripts can gate on it
    out = result.output
    assert "SSH-ROOT-LOGIN" in out and "PermitRootLogin yes (set at /etc/ssh/sshd_config:1)" in out
    assert "SSH-ROOT-LOGIN: Set `PermitRootLogin no`" in out  # the remediation
    assert "SSH-PASSWORD-AUTH" not in out  # passed: listed with --all only
    assert "hardening index:" in out and "not recorded: no store on this machine" in out
    assert not (home / "watchkeeper.db").exists()
    every = runner.invoke(
        app, ["--home", str(home), "security", "audit", "--root", str(tree), "--all"]
    )
    assert "SSH-PASSWORD-AUTH" in every.output
    none = runner.invoke(app, ["--home", str(home), "security", "audit", "--profile", "x"])
    assert none.exit_code == 1
    assert "--profile x: there is no store here" in none.output
    bad = runner.invoke(app, ["--home", str(home), "security", "audit", "--root", "/nonexistent"])
    assert bad.exit_code == 1 and "--root /nonexistent is not a directory" in bad.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_the_store(
    engine: Engine, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    tree = _tree(tmp_path / "tree")
    with sessions() as db:
        text = f"""\
        security:
          hardening:
            - name: narrow
              hosts: ["nothing-matches"]
              system_paths: ["{tree / "usr/bin"}"]
              allowed_ports: ["1-65535", "udp/1-65535"]
        """
        apply_plan(db, load_plan_text(textwrap.dedent(text), env={}))
        db.commit()
    env = {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}
    base = ["security", "audit"]
    unknown = runner.invoke(app, [*base, "--profile", "nope"], env=env)
    assert unknown.exit_code == 1
    assert 'the plan has no hardening profile "nope" (profiles: narrow)' in unknown.output
    printed = runner.invoke(app, [*base, "--profile", "narrow", "--root", str(tree)], env=env)
    assert printed.exit_code == 1, printed.output  # PermitRootLogin yes
    assert "WK-AUDIT-CHAIN" not in printed.output  # passed (the store is here: it ran)
    assert "not recorded (--root)" in printed.output
    recorded = runner.invoke(app, [*base, "--profile", "narrow", "--all"], env=env)
    assert recorded.exit_code in (0, 1), recorded.output  # this machine's own findings
    assert "WK-AUDIT-CHAIN" in recorded.output
    assert f"recorded: {server_host()}" in recorded.output
    with sessions() as db:
        run = db.scalars(select(HardeningRun)).one()
        assert (run.host, run.profile) == (server_host(), "narrow")
        failed = any(r["status"] == "fail" for r in run.results)
        assert recorded.exit_code == (1 if failed else 0)
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "hardening.run")).one()
        assert entry.actor.startswith("cli:")
