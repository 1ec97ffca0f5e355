"""`watchkeeper runbook list|show|review` on SQLite and PostgreSQL: tables, the Markdown on
standard output, reviews audited as the system user, and bad input as one-line errors."""

from __future__ import annotations

from pathlib import Path

from tests.test_silence_cli import clean_environment, run, store_env  # noqa: F401

PLAN = "version: 1\nrunbooks:\n  folder: runbooks\n  review_period: 30d\n"
DOC = """---
title: Database failover
services: [api]
tags: [database]
last_reviewed: 2020-01-01
---

# Database failover

Promote the replica.
"""


def test_list_show_review(store_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "db-failover.md").write_text(DOC)
    (tmp_path / "runbooks" / "restart.md").write_text("# Restart the api\n")
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text(PLAN)
    assert run(store_env, "plan", "apply", str(plan)).exit_code == 0

    listed = run(store_env, "runbook", "list")
    assert listed.exit_code == 0
    assert "db-failover" in listed.stdout and "Restart the api" in listed.stdout
    assert "2020-01-01 (review due)" in listed.stdout
    assert "1 due for review (--due lists them)" in listed.stdout
    due = run(store_env, "runbook", "list", "--due")
    assert "db-failover" in due.stdout and "restart" not in due.stdout
    assert "restart" in run(store_env, "runbook", "list", "-q", "api").stdout

    shown = run(store_env, "runbook", "show", "db-failover")
    assert shown.exit_code == 0
    assert shown.stdout == "# Database failover\n\nPromote the replica.\n"
    assert "Database failover · v1 · last reviewed 2020-01-01" in shown.stderr
    raw = run(store_env, "runbook", "show", "db-failover", "--raw")
    assert raw.stdout == DOC

    reviewed = run(store_env, "runbook", "review", "db-failover", "-m", "failover drill")
    assert reviewed.exit_code == 0 and "marked db-failover" in reviewed.stderr
    assert "(review due)" not in run(store_env, "runbook", "list").stdout
    assert "no runbooks due for review" in run(store_env, "runbook", "list", "--due").stdout


def test_unknown_runbooks_are_one_line_errors(store_env: dict[str, str]) -> None:  # noqa: F811
    for args in (("show", "nope"), ("review", "nope"), ("show", "nope", "--version", "2")):
        result = run(store_env, "runbook", *args)
        assert result.exit_code == 1
        assert 'no runbook is named "nope"' in result.stderr
    assert "no runbooks" in run(store_env, "runbook", "list").stdout
