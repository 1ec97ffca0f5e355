"""`watchkeeper incident|drill|oncall`: the numbers on standard output, tables, and bad input
as one-line errors with a non-zero exit (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from tests.test_silence_cli import clean_environment, run, store_env  # noqa: F401

PLAN = """
version: 1
notifications:
  channels: [{name: hook, type: webhook, url: "http://127.0.0.1:9/hook"}]
oncall:
  people: [{name: alice, contact: [{channel: hook}]}]
  schedules: [{name: primary, layers: [{rotation: daily, members: [alice]}]}]
  escalation_policies: [{name: default, steps: [{notify: [{schedule: primary}]}]}]
incidents:
  drills: [{name: weekly}]
"""


def test_open_list_show_ack_note_resolve_reopen(
    store_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text(PLAN)
    assert run(store_env, "plan", "apply", str(plan)).exit_code == 0
    opened = run(
        store_env,
        "incident",
        "open",
        "Checkout fails",
        "-s",
        "sev2",
        "--team",
        "shop",
        "--service",
        "web",
        "--escalation",
        "default",
    )
    assert opened.exit_code == 0, opened.output
    number = opened.stdout.strip()
    assert number == "1" and "paging through default" in opened.stderr
    listed = run(store_env, "incident", "list")
    assert "Checkout fails" in listed.stdout and "SEV2" in listed.stdout
    assert run(store_env, "incident", "ack", number).exit_code == 0
    assert run(store_env, "incident", "note", number, "rolled back 1.2.3").exit_code == 0
    assert run(store_env, "incident", "resolve", number, "--note", "fixed").exit_code == 0
    assert "no open incidents" in run(store_env, "incident", "list").stdout
    shown = run(store_env, "incident", "show", number)
    for text in ("opened by hand", "acknowledged via CLI", "rolled back 1.2.3", "resolved via CLI"):
        assert text in shown.stdout, text
    assert run(store_env, "incident", "reopen", number).exit_code == 0
    assert "triggered" in run(store_env, "incident", "list").stdout
    assert "alice" in run(store_env, "oncall", "now").stdout
    started = run(store_env, "drill", "start", "weekly")
    assert started.exit_code == 0 and "drill weekly started" in started.stdout
    assert "running" in run(store_env, "drill", "list").stdout


def test_bad_input_is_one_line_and_non_zero(store_env: dict[str, str]) -> None:  # noqa: F811
    bad = run(store_env, "incident", "open", "x", "--severity", "SEV9")
    assert bad.exit_code == 1 and "--severity: must be one of SEV1" in bad.stderr
    nope = run(store_env, "incident", "open", "x", "--escalation", "nope")
    assert nope.exit_code == 1 and 'no escalation policy is named "nope"' in nope.stderr
    missing = run(store_env, "incident", "ack", "42")
    assert missing.exit_code == 1 and "no incident #42" in missing.stderr
    assert run(store_env, "drill", "start", "nope").exit_code == 1
    assert run(store_env, "incident", "ack", "0").exit_code == 2  # not a number >= 1
