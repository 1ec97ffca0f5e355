"""`watchkeeper security import|sources|scan|vulns` on this machine against the store and
the applied plan: a fixture dump imported with a summary line, the scan and the findings
printed; bad input ends with one line and exit 1, never a traceback."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from tests.security.osv_dumps import LODASH_GHSA, OPENSSL_DSA, REQUESTS_GHSA, write_dump
from watchkeeper.cli import app
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import HostPackages, PatchAction, StoredObject, utcnow

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(ctx: AppContext, database_url: str, tmp_path: Path) -> dict[str, str]:
    dump = write_dump(tmp_path / "all.zip", REQUESTS_GHSA, LODASH_GHSA, OPENSSL_DSA)
    text = f"""
security:
  sources:
    - {{name: osv-all, ecosystem: PyPI, path: "{dump}"}}
    - {{name: npm-mirror, ecosystem: npm, url: "http://127.0.0.1:9/npm/all.zip?key=k3y-5ecret"}}
"""
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(text, env={}))
        now = utcnow()
        db.add(
            HostPackages(
                host="web-1",
                ecosystem="PyPI",
                location="/srv/app/.venv",
                collected_at=now - timedelta(hours=1),
                received_at=now,
                packages=[["requests", "2.31.0"], ["idna", "3.7"]],
            )
        )
        db.commit()
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["security", *args], env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_import_sources_scan_vulns(env: dict[str, str], ctx: AppContext) -> None:
    before = run(env, "sources")
    assert before.exit_code == 0, before.output
    assert "osv-all" in before.stdout and "never" in before.stdout
    assert "k3y-5ecret" not in before.output and "mirror" in before.stdout

    imported = run(env, "import", "osv-all")
    assert imported.exit_code == 0, imported.output
    assert "osv-all: succeeded: 3 record(s), 3 added, 0 updated, 0 removed, 0 skipped" in (
        imported.stdout
    )
    assert "scan: 1 new finding(s), 0 resolved, 0 reopened, 1 open" in imported.stdout
    with ctx.sessions() as db:  # the patch plan followed the scan
        action = db.scalars(select(PatchAction)).one()
        assert (action.host, action.package, action.from_version, action.to_version) == (
            "web-1", "requests", "2.31.0", "2.32.0"
        )  # fmt: skip
    again = run(env, "import", "osv-all")
    assert "osv-all: unchanged: the dump did not change" in again.stdout

    after = run(env, "sources")
    assert "succeeded" not in after.stdout or "unchanged" in after.stdout
    assert "3/0/0" not in after.stdout  # the newest import is the unchanged one

    scanned = run(env, "scan")
    assert scanned.exit_code == 0, scanned.output
    assert "scanned 1 inventories (2 packages)" in scanned.stdout
    assert "0 new finding(s)" in scanned.stdout
    assert "medium" in scanned.stdout and "total" in scanned.stdout

    listed = run(env, "vulns")
    assert "GHSA-9wx4-h78v-vm56" in listed.stdout and "2.32.0" in listed.stdout
    assert "1 open, 0 suppressed" in listed.stdout
    lines = [json.loads(line) for line in run(env, "vulns", "--json").stdout.splitlines()]
    assert [(f["host"], f["package"], f["version"], f["fixed_version"]) for f in lines] == [
        ("web-1", "requests", "2.31.0", "2.32.0")
    ]
    assert lines[0]["aliases"] == ["CVE-2024-35195"] and lines[0]["severity"] == "medium"
    assert "no vulnerabilities found" in run(env, "vulns", "--host", "db-9").stdout
    assert run(env, "vulns", "--severity", "high", "--json").stdout == ""


def test_import_a_file_and_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    npm = write_dump(tmp_path / "npm.zip", LODASH_GHSA)
    done = run(env, "import", "--file", str(npm), "--ecosystem", "npm")
    assert done.exit_code == 0, done.output
    assert "npm: succeeded: 1 record(s), 1 added" in done.stdout

    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    failed = run(env, "import", "--file", str(corrupt), "--ecosystem", "npm")
    assert failed.exit_code == 1
    assert "npm: failed: the dump is not a readable zip archive" in failed.stdout
    listed = run(env, "sources")
    assert "(not in the plan)" in listed.stdout and "failed" in listed.stdout
    assert "npm: the dump is not a readable zip archive" in listed.stdout
    assert "npm: npm:" not in listed.stdout

    cases = [
        (["import", "nope"], 'there is no vulnerability source "nope" (the plan has: osv-all, '
         "npm-mirror)"),
        (["import", "--file", str(npm)], "--file needs --ecosystem"),
        (["import", "--file", str(tmp_path / "missing.zip"), "--ecosystem", "npm"], "no such file"),
        (["import", "--file", str(npm), "--ecosystem", "Cobol"], '--ecosystem "Cobol" is not one'),
        (["import", "osv-all", "--file", str(npm), "--ecosystem", "npm"],
         'source "osv-all" is a PyPI source, not npm'),
        (["vulns", "--severity", "dire"], '--severity "dire" is not one of'),
    ]  # fmt: skip
    for args, message in cases:
        result = run(env, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)

    empty = write_dump(tmp_path / "empty.zip")
    refused = run(env, "import", "--file", str(empty), "--ecosystem", "npm")
    assert refused.exit_code == 1
    assert "npm: failed: the dump holds no records; refused as suspicious" in refused.stdout
    forced = run(env, "import", "--file", str(empty), "--ecosystem", "npm", "--force")
    assert forced.exit_code == 0, forced.output
    assert "npm: succeeded: 0 record(s), 0 added, 0 updated, 1 removed" in forced.stdout

    mirror = run(env, "import", "npm-mirror")  # nothing listens on port 9
    assert mirror.exit_code == 1
    assert "npm-mirror: failed: cannot download the dump from the mirror" in (
        " ".join(mirror.stdout.split())
    )
    assert "k3y-5ecret" not in mirror.output


def test_an_unreadable_section_ends_with_one_line(env: dict[str, str], ctx: AppContext) -> None:
    with ctx.sessions() as db:
        source = db.scalars(select(StoredObject).where(StoredObject.name == "osv-all")).one()
        source.spec = {**source.spec, "schedule": "every full moon"}
        db.commit()
    for args in (["sources"], ["import"], ["vulns"]):
        result = run(env, *args)
        assert result.exit_code == 1, (args, result.output)
        assert " ".join(result.output.split()) == (
            "error: the stored security section does not validate (1 problem(s) at "
            "security.sources[0].schedule); re-apply the plan (`watchkeeper plan check` "
            "shows where)"
        )
