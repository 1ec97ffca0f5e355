"""Command checks running real programs: exit codes, output, shell, environment, and a
process group that is killed when the run ends."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop

from watchkeeper.checks.command import SHOWN, CommandCheck, CommandCheckConfig
from watchkeeper.checks.interface import Outcome
from watchkeeper.plan.loader import PlanInvalid, load_plan_text

PY = sys.executable


def config(**spec: Any) -> CommandCheckConfig:
    return CommandCheckConfig.model_validate({"name": "t", "type": "command", **spec})


Run = Callable[[Coroutine[Any, Any, Outcome]], Outcome]


def check(timeout: float = 30, loop: Run = asyncio.run, **spec: Any) -> Outcome:
    """Run the check under a deadline, as the runner does (``asyncio.timeout``)."""

    async def go() -> Outcome:
        async with asyncio.timeout(timeout):
            return await CommandCheck().run(config(**spec))

    return loop(go())


@pytest.fixture(params=["asyncio", "uvloop"])
def loop(request: pytest.FixtureRequest) -> Run:
    """Subprocesses behave a little differently on uvloop, which uvicorn runs on."""
    return asyncio.run if request.param == "asyncio" else uvloop.run


def alive(pid: int) -> bool:
    """Return True while ``pid`` runs (a zombie waiting to be reaped counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_dead(pid: int, within: float = 10) -> bool:
    """Return True once ``pid`` is dead; SIGKILL is delivered asynchronously."""
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_argument_list_exit_zero_is_up_with_the_output() -> None:
    outcome = check(run=[PY, "-c", "print('accepting connections')"])
    assert outcome.ok and outcome.message == "exit code 0: accepting connections"
    assert outcome.response_ms is not None and outcome.response_ms > 0


def test_unexpected_exit_code_is_down_with_stderr_in_the_message() -> None:
    script = "import sys; print('replica lag 92s', file=sys.stderr); sys.exit(2)"
    outcome = check(run=[PY, "-c", script])
    assert not outcome.ok and outcome.message == "exit code 2 (expected 0): replica lag 92s"


@pytest.mark.parametrize(("expected", "ok"), [(2, True), ([0, 1], False), ([1, 2], True)])
def test_expected_exit(expected: int | list[int], ok: bool) -> None:
    assert check(run=[PY, "-c", "raise SystemExit(2)"], expected_exit=expected).ok is ok


def test_output_contains_and_regex_see_stdout_and_stderr() -> None:
    script = "import sys; print('backup size 14 GB'); print('verified', file=sys.stderr)"
    argv = [PY, "-c", script]
    assert check(run=argv, output_contains="verified", output_regex=r"size \d+ GB").ok
    outcome = check(run=argv, output_contains="restored")
    assert not outcome.ok
    assert outcome.message == "output does not contain 'restored': backup size 14 GB verified"
    outcome = check(run=argv, output_regex=r"size \d+ TB")
    assert not outcome.ok and outcome.message.startswith(
        "output does not match output_regex 'size \\\\d+ TB'"
    )


def test_shell_command_with_environment_and_working_dir(tmp_path: Path) -> None:
    outcome = check(
        run='echo "$WK_PROBE_TARGET in $(pwd)" | tr a-z A-Z',
        shell=True,
        env={"WK_PROBE_TARGET": "db-1"},
        working_dir=str(tmp_path),
    )
    assert outcome.ok and outcome.message == f"exit code 0: DB-1 IN {str(tmp_path).upper()}"


def test_killed_by_a_signal(loop: Run) -> None:
    outcome = check(loop=loop, run="echo going; kill -TERM $$", shell=True)
    assert not outcome.ok and outcome.message == "killed by signal SIGTERM: going"


def test_long_output_is_trimmed_to_its_end(loop: Run) -> None:
    script = "print('x' * 3_000_000); print('tail: all good')"
    outcome = check(loop=loop, run=[PY, "-c", script], output_contains="all good")
    assert outcome.ok and outcome.message.endswith("tail: all good")
    assert len(outcome.message) <= len("exit code 0: …") + SHOWN


def test_missing_program_and_working_dir(tmp_path: Path, loop: Run) -> None:
    outcome = check(loop=loop, run=[str(tmp_path / "no-such-check")])
    assert outcome == Outcome(
        False, f"cannot run {tmp_path / 'no-such-check'}: No such file or directory"
    )
    missing = tmp_path / "gone"
    outcome = check(loop=loop, run=[PY, "-V"], working_dir=str(missing))
    assert outcome == Outcome(
        False, f"cannot enter working_dir {missing}: No such file or directory"
    )


def test_timeout_kills_the_whole_process_group(tmp_path: Path, loop: Run) -> None:
    script = f"sleep 300 & echo $! > {tmp_path}/child; echo $$ > {tmp_path}/shell; wait"
    with pytest.raises(TimeoutError):
        check(loop=loop, timeout=1, run=script, shell=True)
    for name in ("shell", "child"):
        pid = int((tmp_path / name).read_text())
        assert wait_dead(pid), f"{name} process {pid} outlived the check"


def test_a_child_left_in_the_background_does_not_hold_the_check(tmp_path: Path, loop: Run) -> None:
    """The program exits at once, but its background child keeps the output pipe open;
    the check must finish (and kill the child) rather than wait for the child."""
    script = f"sleep 300 & echo $! > {tmp_path}/child; echo started"
    outcome = check(loop=loop, timeout=20, run=script, shell=True)
    assert outcome.ok and outcome.message == "exit code 0: started"
    assert wait_dead(int((tmp_path / "child").read_text()))


COMMAND_CHECK = "checks:\n  - name: job\n    type: command\n"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            "run: pg_isready -h db-1",
            'watchkeeper.yaml:4:10 checks[0].run: "pg_isready -h db-1" is one string: '
            "give a list of arguments, or set shell: true",
        ),
        (
            "shell: true\n    run: [pg_isready, -h, db-1]",
            "watchkeeper.yaml:5:10 checks[0].run: with shell: true, write the command as "
            "one string",
        ),
        ("run: []", "watchkeeper.yaml:4:10 checks[0].run: names no program"),
        (
            "run: [/bin/true]\n    expected_exit: [0, 256]",
            "watchkeeper.yaml:5:24 checks[0].expected_exit[1]: must be an exit code from 0 to "
            "255 (got 256)",
        ),
        (
            "run: [/bin/true]\n    output_regex: '(ok'",
            'watchkeeper.yaml:5:19 checks[0].output_regex: "(ok" is not a valid regular '
            "expression (missing ), unterminated subpattern at position 0)",
        ),
    ],
)
def test_bad_options_are_plan_errors_naming_the_field(options: str, problem: str) -> None:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(COMMAND_CHECK + f"    {options}\n", env={})
    assert [str(p) for p in info.value.problems] == [problem]


def test_a_process_that_left_the_group_does_not_hold_the_check() -> None:
    """``setsid`` puts a child outside the group that is killed; its open pipe must not keep
    the check waiting (here: for the 15 s the child sleeps)."""
    config = CommandCheckConfig.model_validate(
        {"name": "detach", "type": "command", "run": ["sh", "-c", "setsid sleep 15 & exit 0"]}
    )
    outcome = asyncio.run(asyncio.wait_for(CommandCheck().run(config), 8))
    assert outcome.ok and outcome.message.startswith("exit code 0")
