"""`watchkeeper compliance status|report|verify` on this machine: the store and the applied
plan; one-line errors and non-zero exits on bad input, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.security.compliance.support import add_user, apply
from watchkeeper.cli import app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import utcnow

runner = CliRunner()
PLAN = """
compliance:
  frameworks: [iso27001]
  controls:
    - name: WK-MFA
      title: Administrators sign in with a second factor
      evidence: [{query: admins_have_mfa}]
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(ctx: AppContext, database_url: str, tmp_path: Path) -> dict[str, str]:
    with ctx.sessions() as db:
        apply(db, PLAN)
        add_user(db, "root-admin")  # no second factor
        db.commit()
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["compliance", *args], env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_status_report_and_verify(env: dict[str, str], tmp_path: Path) -> None:
    before = run(env, "status", "--framework", "plan")
    assert before.exit_code == 0, before.output
    assert "WK-MFA" in before.stdout and "pending" in before.stdout

    evaluated = run(env, "status", "--evaluate", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    rows = {r["id"]: r for r in json.loads(evaluated.stdout)}
    assert rows["WK-MFA"]["status"] == "fail"
    assert rows["WK-MFA"]["summary"] == (
        "Admin users with a second factor: 0 of 1; without: root-admin."
    )
    assert rows["ISO-A.8.15-LOGGING"]["framework"] == "iso27001"

    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    issued = run(env, "report", "--from", "2026-11-01", "-o", str(html))
    assert issued.exit_code == 0, issued.output
    today = utcnow().date().isoformat()
    assert f"issued report #1 (Compliance report 2026-11-01 to {today})" in issued.stdout
    assert run(env, "report", "--format", "pdf", "-o", str(pdf)).exit_code == 0

    for path in (html, pdf):
        valid = run(env, "verify", str(path))
        assert valid.exit_code == 0 and valid.stdout.startswith("valid: "), valid.output
    assert "signed with the Ed25519 key " in issued.stdout
    public = run(env, "public-key")
    assert public.exit_code == 0 and issued.stdout.strip().endswith(public.stdout.strip())
    key = public.stdout.strip()
    # Anywhere, with the public key alone: no store, no settings.
    for path in (html, pdf):
        offline = run({}, "verify", str(path), "--public-key", key)
        assert offline.exit_code == 0, offline.output
        assert (
            offline.stdout.startswith("valid: ") and "signed with this public key" in offline.stdout
        )
    html.write_text(html.read_text().replace("second factor", "2nd factor", 1))
    edited = run(env, "verify", str(html))
    assert (edited.exit_code, edited.stderr.strip()) == (
        1,
        "edited: the content differs from report #1 as signed",
    )
    assert run({}, "verify", str(html), "--public-key", key).exit_code == 1
    stranger = tmp_path / "notes.html"
    stranger.write_text("<p>not a report</p>")
    unknown = run(env, "verify", str(stranger))
    assert unknown.exit_code == 2 and unknown.stderr.startswith("unknown: ")


def test_rotating_the_signing_key_keeps_old_reports_verifiable(
    env: dict[str, str], tmp_path: Path
) -> None:
    old_html, new_html = tmp_path / "old.html", tmp_path / "new.html"
    assert run(env, "report", "-o", str(old_html)).exit_code == 0
    old_key = run(env, "public-key").stdout.strip()
    assert run(env, "rotate-key").exit_code == 1  # asks first: no answer is no
    rotated = run(env, "rotate-key", "--yes")
    assert rotated.exit_code == 0, rotated.output
    new_key = run(env, "public-key").stdout.strip()
    assert new_key != old_key
    assert rotated.stdout.splitlines() == [f"retired:    {old_key}", f"public key: {new_key}"]
    assert run(env, "report", "-o", str(new_html)).exit_code == 0
    # The store checks both; offline, each report with the key that signed it.
    for path in (old_html, new_html):
        assert run(env, "verify", str(path)).exit_code == 0
    assert run({}, "verify", str(old_html), "--public-key", old_key).exit_code == 0
    assert run({}, "verify", str(new_html), "--public-key", new_key).exit_code == 0
    assert run({}, "verify", str(old_html), "--public-key", new_key).exit_code == 2  # not its
    # An edited old report is still caught.
    old_html.write_text(old_html.read_text().replace("second factor", "2nd factor", 1))
    assert run(env, "verify", str(old_html)).exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["status", "--framework", "pci"],
            'unknown framework "pci" (use soc2, iso27001, gdpr, plan)',
        ),
        (["report", "--from", "2026-13-01", "-o", "x.html"], '--from: "2026-13-01" is not a date'),
        (
            ["report", "--from", "2026-11-10", "--to", "2026-11-01", "-o", "x.html"],
            "the report period is not valid: to: must not be before `from`",
        ),
        (["report", "-o", "/nonexistent/dir/report.html"], "cannot write /nonexistent/dir/"),
        (["verify", "/nonexistent/report.pdf"], "cannot read /nonexistent/report.pdf"),
        (
            ["verify", __file__, "--public-key", "abc"],
            "--public-key: the public key is not an Ed25519 public key",
        ),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = run(env, *args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_report_help_states_the_default_period() -> None:
    """The default ``--from`` is 29 days before ``--to``: 30 days counting both."""
    shown = runner.invoke(app, ["compliance", "report", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "default: 29 days before --to, a period of 30 days counting both" in " ".join(
        shown.output.split()
    )
