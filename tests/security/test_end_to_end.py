"""The whole vulnerability path on real parts, through the CLI: an OSV dump (a real GitHub
advisory's shape) imported from a file, two real virtualenvs (one with the vulnerable
release installed by pip, one with the fixed release), this machine's inventory stored
and scanned; the old environment is found vulnerable and the fixed one is not; upgrading
it with pip resolves the finding and verifies the patch action at the next inventory."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from tests.security.osv_dumps import REQUESTS_GHSA, write_dump
from tests.security.wheels import build_wheel, make_venv, pip_install
from watchkeeper.cli import app
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import PatchAction, SecurityFinding

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


def _advisory() -> dict[str, object]:
    """REQUESTS_GHSA's shape, for the test's own package: fixed in 2.0."""
    record = copy.deepcopy(REQUESTS_GHSA)
    record["id"] = "GHSA-wkte-st00-0001"
    record["summary"] = "WkTest_Pkg leaks credentials"
    affected = record["affected"][0]  # type: ignore[index]
    affected["package"] = {"ecosystem": "PyPI", "name": "wktest-pkg"}
    affected["ranges"] = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]
    return record


def _run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["security", *args], env={"COLUMNS": "1000", **env})
    assert result.exit_code == 0, result.output
    return result


def test_an_old_release_in_a_real_virtualenv_is_found_and_its_upgrade_verified(
    ctx: AppContext, database_url: str, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    old = make_venv(tmp_path / "old-env")
    pip_install(old, build_wheel(wheels, version="1.0"))
    fixed = make_venv(tmp_path / "fixed-env")
    pip_install(fixed, build_wheel(wheels, version="2.0"))
    dump = write_dump(tmp_path / "all.zip", _advisory())
    plan = f"""
security:
  sources:
    - {{name: pypi, ecosystem: PyPI, path: "{dump}"}}
  inventories:
    - name: apps
      python: ["{old}", "{fixed}"]
      debian: false
      os_updates: false
      kernel: false
"""
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(plan, env={}))
        db.commit()
    env = {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}

    _run(env, "import", "pypi")
    _run(env, "inventory", "--host", "app-1")
    found = [json.loads(line) for line in _run(env, "vulns", "--json").output.splitlines()]
    assert [(f["location"], f["package"], f["version"]) for f in found] == [
        (str(old), "wktest-pkg", "1.0")
    ]
    assert found[0]["vulnerability"] == "GHSA-wkte-st00-0001"
    assert found[0]["fixed_version"] == "2.0"
    with ctx.sessions() as db:
        (action,) = db.scalars(select(PatchAction)).all()
        assert (action.location, action.from_version, action.to_version) == (str(old), "1.0", "2.0")
        assert action.status == "planned"

    pip_install(old, build_wheel(wheels, version="2.0"))  # the upgrade, done by hand
    _run(env, "inventory", "--host", "app-1")
    assert _run(env, "vulns", "--json").output.strip() == ""
    with ctx.sessions() as db:
        (finding,) = db.scalars(select(SecurityFinding)).all()
        assert finding.resolved_at is not None
        (action,) = db.scalars(select(PatchAction)).all()
        assert action.status == "verified" and action.verified_at is not None
