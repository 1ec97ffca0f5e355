"""The ``watchkeeper`` command: exit codes, one-line errors, and the plan/db/user commands."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from tests.conftest import remember_secret
from watchkeeper import __version__
from watchkeeper.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "watchkeeper.yaml"
EXAMPLE_CHECKS = ["watchkeeper-self", "shop-frontend", "postgres-primary", "nightly-backup"]
PASSWORD = "a perfectly long passphrase"
remember_secret(PASSWORD)
BAD_PLAN = """\
version: 1
name: bad
checks:
  - name: x
    type: http
    url: https://example.com/
    interval: banana
    bogus: 1
"""
WATCHKEEPER = Path(sys.executable).with_name("watchkeeper")

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    """No WATCHKEEPER_* setting leaks in from outside; logging is restored afterwards
    (commands install a handler on the root logger bound to the runner's stderr)."""
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """SQLite in tmp_path, data dir in tmp_path."""
    return {
        "WATCHKEEPER_HOME": str(tmp_path / "home"),
        "WATCHKEEPER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }


@pytest.fixture
def store_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """An empty store on SQLite and (when configured) PostgreSQL."""
    return {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}


@pytest.fixture
def bad_plan(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_PLAN, encoding="utf-8")
    return path


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return path


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    """Invoke the CLI; an unexpected exception (a bug, not an exit) fails the test.

    COLUMNS is wide so that rich does not wrap long paths and URLs in the output."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "1000", **env}, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# -- basics -----------------------------------------------------------------------------------


def test_version_prints_the_version(env: dict[str, str]) -> None:
    result = run(env, "version")
    assert result.exit_code == 0
    assert result.stdout == f"watchkeeper {__version__}\n"


def test_an_unknown_command_is_a_usage_error(env: dict[str, str]) -> None:
    result = run(env, "frobnicate")
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_an_unknown_option_is_a_usage_error(env: dict[str, str]) -> None:
    result = run(env, "plan", "check", "--frob", str(EXAMPLE))
    assert result.exit_code == 2


def test_a_bad_log_format_option_exits_1_with_a_one_line_reason(env: dict[str, str]) -> None:
    result = run(env, "--log-format", "xml", "db", "upgrade")
    assert result.exit_code == 1
    assert error_lines(result) == ['error: WATCHKEEPER_LOG_FORMAT: "xml" is not one of text, json']


def test_the_home_option_wins_over_the_environment(tmp_path: Path) -> None:
    env = {"WATCHKEEPER_HOME": str(tmp_path / "from-env")}
    result = run(env, "--home", str(tmp_path / "from-flag"), "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-flag" / "watchkeeper.db").exists()
    assert not (tmp_path / "from-env").exists()


# -- plan check -------------------------------------------------------------------------------


def test_plan_check_accepts_the_example_plan(env: dict[str, str]) -> None:
    result = run(env, "plan", "check", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok {EXAMPLE}: 60 object(s)\n"
    assert result.stderr == ""


def test_plan_check_reports_every_problem_with_file_line_column(
    env: dict[str, str], bad_plan: Path
) -> None:
    result = run(env, "plan", "check", str(bad_plan))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    problems = lines[:-1]
    assert len(problems) == 2
    assert all(re.match(rf"^{re.escape(str(bad_plan))}:\d+:\d+ ", line) for line in problems)
    assert problems[0].startswith(f'{bad_plan}:7:15 checks[0].interval: "banana" is not')
    assert problems[1].startswith(f"{bad_plan}:8:5 checks[0].bogus: unknown key")
    assert lines[-1] == f"error: {bad_plan}: 2 problem(s)"


def test_plan_check_reports_a_yaml_syntax_error_with_its_position(
    env: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nname: x\nchecks: [\n  - name: x\n", encoding="utf-8")
    result = run(env, "plan", "check", str(broken))
    assert result.exit_code == 1
    assert re.search(rf"^{re.escape(str(broken))}:\d+:\d+ YAML syntax error", result.stderr, re.M)


def test_plan_check_of_a_missing_file_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = run(env, "plan", "check", str(missing))
    assert result.exit_code == 1
    assert "cannot read" in result.stderr
    assert error_lines(result) == [f"error: {missing}: 1 problem(s)"]


def test_plan_check_does_not_touch_the_store(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "plan", "check", str(EXAMPLE)).exit_code == 0
    assert not (tmp_path / "x.db").exists()


# -- plan apply / diff / export ---------------------------------------------------------------


def test_plan_apply_then_diff_shows_no_changes(store_env: dict[str, str]) -> None:
    applied = run(store_env, "plan", "apply", str(EXAMPLE))
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.splitlines()[-1] == (
        "applied: 60 created, 0 updated, 0 deleted, 0 unchanged"
    )
    for name in EXAMPLE_CHECKS:
        assert f"+ checks/{name}" in applied.stdout
    diff = run(store_env, "plan", "diff", str(EXAMPLE))
    assert diff.exit_code == 0, diff.output
    assert diff.stdout == "0 change(s), 60 unchanged\n"


def test_plan_apply_is_idempotent(store_env: dict[str, str]) -> None:
    first = run(store_env, "plan", "apply", str(EXAMPLE))
    second = run(store_env, "plan", "apply", str(EXAMPLE))
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert second.stdout == "applied: 0 created, 0 updated, 0 deleted, 60 unchanged\n"


def test_plan_diff_shows_what_applying_an_edited_plan_would_change(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    assert run(store_env, "plan", "apply", str(EXAMPLE)).exit_code == 0
    plan = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    plan["checks"][0]["interval"] = "45s"
    del plan["checks"][2]
    del plan["alerts"]["rules"][1]  # its rule watched the deleted check
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    shutil.copytree(EXAMPLE.parent / "runbooks", tmp_path / "runbooks")  # runbooks.folder
    diff = run(store_env, "plan", "diff", str(edited))
    assert diff.exit_code == 0, diff.output
    assert diff.stdout.splitlines() == [
        "~ checks/watchkeeper-self (interval)",
        "- alerts.rules/PostgresDown",
        "- checks/postgres-primary",
        "3 change(s), 57 unchanged",
    ]
    # diff changed nothing
    assert run(store_env, "plan", "diff", str(EXAMPLE)).stdout == "0 change(s), 60 unchanged\n"


def test_plan_diff_on_a_never_migrated_store_lists_everything_as_new(
    store_env: dict[str, str],
) -> None:
    result = run(store_env, "plan", "diff", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "never migrated" in lines[0]
    assert lines[1:6] == [f"+ checks/{name}" for name in EXAMPLE_CHECKS] + ["+ settings/metrics"]
    assert "+ alerts.rules/ShopDown" in lines and "+ notifications.channels/ops-webhook" in lines
    assert len(lines) == 61


def test_plan_apply_of_a_bad_plan_changes_nothing(
    store_env: dict[str, str], bad_plan: Path
) -> None:
    result = run(store_env, "plan", "apply", str(bad_plan))
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {bad_plan}: 2 problem(s)"]
    export = run(store_env, "plan", "export")
    assert export.exit_code == 1  # still never migrated: apply stopped before the store


def test_plan_export_prints_yaml_with_the_checks(store_env: dict[str, str]) -> None:
    assert run(store_env, "plan", "apply", str(EXAMPLE)).exit_code == 0
    result = run(store_env, "plan", "export")
    assert result.exit_code == 0, result.output
    exported = yaml.safe_load(result.stdout)
    assert [c["name"] for c in exported["checks"]] == EXAMPLE_CHECKS
    by_name = {c["name"]: c for c in exported["checks"]}
    assert by_name["postgres-primary"]["type"] == "tcp"
    assert by_name["postgres-primary"]["port"] == 5432
    assert by_name["shop-frontend"]["url"] == "http://localhost:8080/"


def test_plan_export_round_trips_through_plan_check_and_diff(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    assert run(store_env, "plan", "apply", str(EXAMPLE)).exit_code == 0
    out = tmp_path / "exported.yaml"
    result = run(store_env, "plan", "export", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote {out}" in result.stderr
    shutil.copytree(EXAMPLE.parent / "runbooks", tmp_path / "runbooks")  # runbooks.folder
    assert run(store_env, "plan", "check", str(out)).exit_code == 0
    assert run(store_env, "plan", "diff", str(out)).stdout == "0 change(s), 60 unchanged\n"


def test_plan_export_on_a_never_migrated_store_says_to_run_db_upgrade(
    store_env: dict[str, str],
) -> None:
    result = run(store_env, "plan", "export")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert error_lines(result) == [
        "error: the store is not at the current schema; run `watchkeeper db upgrade`"
    ]


# -- db upgrade -------------------------------------------------------------------------------


def test_db_upgrade_twice_says_already_at_the_second_time(store_env: dict[str, str]) -> None:
    first = run(store_env, "db", "upgrade")
    assert first.exit_code == 0, first.output
    assert re.search(r": empty -> \S+$", first.stdout.strip())
    head = first.stdout.strip().rsplit(" ", 1)[-1]
    second = run(store_env, "db", "upgrade")
    assert second.exit_code == 0, second.output
    assert second.stdout.strip().endswith(f"is already at {head}")


def test_db_upgrade_does_not_print_the_database_password(tmp_path: Path) -> None:
    env = {
        "WATCHKEEPER_HOME": str(tmp_path),
        "WATCHKEEPER_DATABASE_URL": "postgresql://wk:hunter2-secret@127.0.0.1:1/none",
    }
    result = run(env, "db", "upgrade")
    assert result.exit_code == 1
    assert "hunter2-secret" not in result.output
    assert len(error_lines(result)) == 1


def test_an_unsupported_database_is_a_one_line_error(tmp_path: Path) -> None:
    env = {"WATCHKEEPER_HOME": str(tmp_path), "WATCHKEEPER_DATABASE_URL": "mysql://a@b/c"}
    result = run(env, "db", "upgrade")
    assert result.exit_code == 1
    assert error_lines(result) == [
        'error: database "mysql" is not supported (use sqlite or postgresql)'
    ]


# -- users ------------------------------------------------------------------------------------


def test_user_create_then_user_list_shows_the_user(
    store_env: dict[str, str], password_file: Path
) -> None:
    created = run(
        store_env,
        "user",
        "create",
        "alice",
        "--role",
        "admin",
        "--password-file",
        str(password_file),
    )
    assert created.exit_code == 0, created.output
    assert created.stdout == "created admin alice\n"
    listed = run(store_env, "user", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if "alice" in line)
    assert "admin" in row and "never" in row and "active" in row
    assert PASSWORD not in listed.output


def test_user_create_reads_the_password_from_stdin(env: dict[str, str]) -> None:
    created = run(env, "user", "create", "bob", "--password-file", "-", stdin=PASSWORD + "\n")
    assert created.exit_code == 0, created.output
    assert created.stdout == "created viewer bob\n"


def test_a_too_short_password_exits_1_with_a_one_line_reason(
    env: dict[str, str], tmp_path: Path
) -> None:
    short = tmp_path / "short"
    short.write_text("tulip-7-orbit\n", encoding="utf-8")
    result = run(env, "user", "create", "carol", "--password-file", str(short))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: password must be at least 15 characters (8 once you have two-factor "
        "sign-in); a passphrase works well"
    ]
    assert "carol" not in run(env, "user", "list").stdout


def test_creating_an_existing_user_exits_1(env: dict[str, str], password_file: Path) -> None:
    args = ("user", "create", "dave", "--password-file", str(password_file))
    assert run(env, *args).exit_code == 0
    again = run(env, *args)
    assert again.exit_code == 1
    assert error_lines(again) == ['error: user "dave" already exists']


def test_an_unknown_role_exits_1(env: dict[str, str], password_file: Path) -> None:
    result = run(
        env, "user", "create", "erin", "--role", "god", "--password-file", str(password_file)
    )
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert "role" in error_lines(result)[0]


def test_an_unreadable_password_file_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = run(env, "user", "create", "frank", "--password-file", str(missing))
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: cannot read {missing}: No such file or directory"]


def test_user_create_without_a_terminal_or_password_file_exits_1(env: dict[str, str]) -> None:
    result = run(env, "user", "create", "gina", stdin="")
    assert result.exit_code == 1
    assert "--password-file" in error_lines(result)[0]


def test_user_list_on_a_never_migrated_store_says_to_run_db_upgrade(
    env: dict[str, str],
) -> None:
    result = run(env, "user", "list")
    assert result.exit_code == 1
    assert "run `watchkeeper db upgrade`" in error_lines(result)[0]


# -- up ---------------------------------------------------------------------------------------


def test_up_with_a_missing_plan_file_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = run(env, "up", "--plan", str(missing))
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: plan file {missing} does not exist"]


def test_up_with_a_bad_listen_value_exits_1(env: dict[str, str]) -> None:
    result = run(env, "up", "--listen", "nowhere")
    assert result.exit_code == 1
    assert error_lines(result) == [
        'error: WATCHKEEPER_LISTEN: "nowhere" is not host:port (e.g. 127.0.0.1:8470)'
    ]


def _subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env.update(
        WATCHKEEPER_HOME=str(tmp_path / "home"),
        WATCHKEEPER_DATABASE_URL=f"sqlite:///{tmp_path / 'up.db'}",
    )
    return env


def test_up_with_a_bad_plan_exits_1_without_a_traceback(tmp_path: Path, bad_plan: Path) -> None:
    proc = subprocess.run(
        [str(WATCHKEEPER), "up", "--plan", str(bad_plan), "--listen", "127.0.0.1:0"],
        env=_subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{bad_plan}:7:15 checks[0].interval" in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: the plan file has 2 problem(s); nothing was started"]
    assert "running at" not in proc.stdout


def test_up_on_a_port_in_use_exits_1_with_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = subprocess.run(
            [str(WATCHKEEPER), "up", "--listen", f"127.0.0.1:{port}"],
            env=_subprocess_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: could not listen on 127.0.0.1:{port} (is another server using it?)"]
