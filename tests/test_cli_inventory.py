"""`watchkeeper security inventory` (this machine's inventories, collected and stored) and
`watchkeeper security inventories` (the stored ones): real files, the store on SQLite and
PostgreSQL, one-line errors."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from watchkeeper.auth.audit import Actor
from watchkeeper.cli import app
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


def apps(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "requirements.txt").write_text("flask==3.0.2\nrequests>=2\n")
    return root


def inventory_spec(root: Path) -> dict[str, object]:
    return {
        "name": "apps",
        "hosts": ["web-*"],
        "requirements": [f"{root}/*/requirements.txt", f"{root}/*/poetry.lock"],
        "debian": False,
        "os_updates": False,
        "kernel": True,
    }


@pytest.fixture
def env(ctx: AppContext, database_url: str, tmp_path: Path) -> dict[str, str]:
    with ctx.sessions() as db:
        catalog.create_object(
            db, "security.inventories", inventory_spec(apps(tmp_path)), Actor("t")
        )
        db.commit()
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["security", *args], env={"COLUMNS": "1000", **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def test_collect_store_and_list(env: dict[str, str], tmp_path: Path) -> None:
    first = run(env, "inventory", "--host", "web-1")
    assert first.exit_code == 0, first.output
    assert f"{tmp_path}/srv/shop/requirements.txt" in first.stdout
    assert "kernel" in first.stdout
    assert "2 changed and stored, 0 unchanged" in first.stdout
    again = run(env, "inventory", "--host", "web-1")
    assert "0 changed and stored, 2 unchanged" in again.stdout

    listed = run(env, "inventories")
    assert listed.exit_code == 0, listed.output
    assert "web-1" in listed.stdout and platform.release() not in listed.stdout
    assert f"{tmp_path}/srv/shop/requirements.txt" in listed.stdout
    assert "no inventories stored for host db-1" in run(env, "inventories", "--host", "db-1").stdout

    (tmp_path / "srv" / "shop" / "poetry.lock").write_text("[[package]\n")
    failed = run(env, "inventory", "--host", "web-1")
    assert failed.exit_code == 1
    assert "not valid TOML" in failed.stdout
    assert "error: 1 location(s) could not be read" in failed.stderr


def test_print_with_a_plan_file_needs_no_store(tmp_path: Path) -> None:
    root = apps(tmp_path)
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text(
        "version: 1\nsecurity:\n  inventories:\n"
        f"    - name: apps\n      requirements: ['{root}/*/requirements.txt']\n"
        "      debian: false\n      os_updates: false\n      kernel: false\n"
    )
    printed = run({}, "inventory", "--plan", str(plan), "--print", "--host", "anything")
    assert printed.exit_code == 0, printed.output
    assert f"PyPI {root}/shop/requirements.txt: 1 package(s)" in printed.stdout
    assert "  flask 3.0.2" in printed.stdout
    assert not (tmp_path / ".watchkeeper").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--host", "db-1"],
            'no inventory of the applied plan (security.inventories) applies to host "db-1"',
        ),
        (["--host", "bad host"], 'host name "bad host" is not usable'),
    ],
)
def test_nothing_to_collect_or_a_bad_host_is_one_line(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = run(env, "inventory", *args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
