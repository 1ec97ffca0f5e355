"""Command check: run a program or script; judge its exit code and its output.

The program runs in a session (and so a process group) of its own. When the run ends, on
time or cancelled by the runner's timeout, the whole group is killed: a hanging script, or a
child it left in the background, never outlives the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from watchkeeper.checks.interface import CheckConfig, Outcome
from watchkeeper.plan.types import Regex
from watchkeeper.settings import environment

MAX_OUTPUT = 1 << 20
PIPE_GRACE = 1.0
"""Seconds to wait for the output pipes to close after the program's group is gone."""
"""Bytes of output kept (the last ones) for output_contains and output_regex."""
SHOWN = 200
"""Characters of output quoted in a message."""


def _as_list(value: object) -> object:
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


def _exit_code(code: int) -> int:
    if not 0 <= code <= 255:
        raise PydanticCustomError("exit_code", "must be an exit code from 0 to 255")
    return code


ExitCode = Annotated[int, AfterValidator(_exit_code)]


class CommandCheckConfig(CheckConfig):
    type: Literal["command"] = Field(description="`command`.")
    shell: bool = Field(
        False,
        description="Run `run`, one string, with `/bin/sh -c` (for pipes, redirections "
        "and variables).",
    )
    # Not named `command`: a field named like its type would confuse the loader, which
    # skips the type name that pydantic puts in the location of an error.
    run: list[str] | str = Field(
        description="Program and arguments as a list (`[pg_isready, -h, db-1]`), or one "
        "command line with `shell: true`."
    )
    expected_exit: Annotated[list[ExitCode], BeforeValidator(_as_list)] = Field(
        default_factory=lambda: [0], description="Exit code(s) that mean up."
    )
    output_contains: str | None = Field(
        None, description="Text the output (stdout and stderr) must contain."
    )
    output_regex: Regex | None = Field(
        None, description="Regular expression (Python syntax) the output must match."
    )
    working_dir: str | None = Field(None, description="Directory to run in.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables added to Watchkeeper's own."
    )

    _output_regex: re.Pattern[str] | None = PrivateAttr(None)

    @field_validator("run")
    @classmethod
    def _shell_or_argv(cls, value: list[str] | str, info: ValidationInfo) -> list[str] | str:
        shell = info.data.get("shell", False)
        if isinstance(value, str) and not shell:
            raise PydanticCustomError(
                "run",
                '"{value}" is one string: give a list of arguments, or set shell: true',
                {"value": value},
            )
        if isinstance(value, list) and shell:
            raise ValueError("with shell: true, write the command as one string")
        if not value or not value[0]:
            raise ValueError("names no program")
        return value

    @field_validator("expected_exit")
    @classmethod
    def _exit_codes(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("give at least one exit code")
        return value

    def model_post_init(self, context: object, /) -> None:
        self._output_regex = re.compile(self.output_regex) if self.output_regex else None

    @property
    def argv(self) -> list[str]:
        """The program and its arguments as they are executed."""
        if isinstance(self.run, str):
            return ["/bin/sh", "-c", self.run]
        return list(self.run)

    @property
    def output_pattern(self) -> re.Pattern[str] | None:
        """``output_regex``, compiled once when the plan is loaded."""
        return self._output_regex


class CommandCheck:
    name = "command"
    description = (
        "Run a program or shell command; judge its exit code and output. On timeout its "
        "whole process group is killed."
    )
    config_model: ClassVar[type[CheckConfig]] = CommandCheckConfig

    async def run(self, config: CommandCheckConfig) -> Outcome:
        argv = config.argv
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            transport, capture = await loop.subprocess_exec(
                _Capture,
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=config.working_dir,
                env={**environment(), **config.env} if config.env else None,
                start_new_session=True,
            )
        except OSError as exc:
            # Asked only now: the error names the program even when the directory is missing
            # under uvloop (which uvicorn runs on).
            if config.working_dir is not None and not os.path.isdir(config.working_dir):
                return Outcome(
                    False, f"cannot enter working_dir {config.working_dir}: {exc.strerror}"
                )
            return Outcome(False, f"cannot run {argv[0]}: {exc.strerror or exc}")
        try:
            await capture.exited
        finally:
            # On cancellation (the runner's timeout) the program is still running; after a
            # normal exit a child it left in the background would outlive the check and hold
            # the output pipe open. Either way the whole group goes.
            _kill_group(transport.get_pid())
            # A process that left the group (setsid) may hold the pipe open for good: wait
            # for the output only briefly, then close the pipes regardless.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(capture.finished), PIPE_GRACE)
            transport.close()
        elapsed = (time.perf_counter() - start) * 1000
        code = transport.get_returncode()
        assert code is not None  # capture.exited: the process has been reaped
        output = bytes(capture.output[-MAX_OUTPUT:]).decode(errors="replace")
        failure = judge(config, code, output)
        if failure is not None:
            return Outcome(False, failure, elapsed)
        return Outcome(True, f"exit code {code}" + _quote(output), elapsed)


class _Capture(asyncio.SubprocessProtocol):
    """Keeps the end of the output, and says when the program has exited (``exited``) and
    when its pipes have closed too (``finished``). ``Process.wait()`` of asyncio's streams
    API would wait for the pipes as well, which a background child can hold open forever."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.output = bytearray()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.output += data.encode() if isinstance(data, str) else data
        if len(self.output) > 2 * MAX_OUTPUT:  # trim now and then, not on every chunk
            del self.output[:-MAX_OUTPUT]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


def judge(config: CommandCheckConfig, code: int, output: str) -> str | None:
    """Return None when the exit code and output are what ``config`` expects, else why not."""
    if code < 0:
        return f"killed by signal {_signal_name(-code)}" + _quote(output)
    if code not in config.expected_exit:
        wanted = ", ".join(map(str, config.expected_exit))
        return f"exit code {code} (expected {wanted})" + _quote(output)
    if config.output_contains is not None and config.output_contains not in output:
        return f"output does not contain {config.output_contains!r}" + _quote(output)
    if config.output_pattern is not None and not config.output_pattern.search(output):
        return f"output does not match output_regex {config.output_regex!r}" + _quote(output)
    return None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _quote(output: str) -> str:
    """Return ``": <output>"`` on one line, its end when long, or nothing for no output."""
    text = " ".join(output.split())
    if not text:
        return ""
    return ": " + (text if len(text) <= SHOWN else "…" + text[-SHOWN:])
