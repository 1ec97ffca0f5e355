"""The run loop of the periodic services: a failed pass never ends it; a lasting condition is
logged once per distinct message, a store error by its type (and counted), a bug with its
traceback; wake() runs the next pass at once, stop() ends the loop, even in its start delay."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.exc import OperationalError

from watchkeeper.exceptions import ConflictError
from watchkeeper.runtime.periodic import Periodic
from watchkeeper.telemetry import REGISTRY

log = logging.getLogger("tests.periodic")
HOUR = 3600.0  # passes are driven by wake(), never by the interval


class Unreadable(ConflictError):
    """Stands for a stored plan section that does not validate."""


class Script:
    """A pass that raises the next of ``outcomes`` (None: succeeds), and says it ran."""

    def __init__(self, outcomes: list[Exception | None]) -> None:
        self.outcomes = outcomes
        self.passes = 0
        self.ran: asyncio.Queue[int] = asyncio.Queue()

    async def __call__(self) -> None:
        self.passes += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        try:
            if outcome is not None:
                raise outcome
        finally:
            self.ran.put_nowait(self.passes)


async def _drive(loop: Periodic, script: Script, passes: int) -> None:
    """Run ``passes`` passes (the first at once, each next one woken), then stop."""
    task = asyncio.create_task(loop.run())
    for n in range(passes):
        assert await asyncio.wait_for(script.ran.get(), 10) == n + 1
        if n < passes - 1:
            loop.wake()
    loop.stop()
    await asyncio.wait_for(task, 10)


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_a_lasting_condition_is_logged_once_per_message(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        script = Script(
            [
                Unreadable("bad a"),
                Unreadable("bad a"),
                Unreadable("bad b"),
                None,
                Unreadable("bad b"),
            ]
        )
        loop = Periodic(
            "audit",
            script,
            HOUR,
            log=log,
            lasting=(Unreadable,),
            lasting_message="audit: nothing runs: %s",
        )
        await _drive(loop, script, 5)

    with caplog.at_level(logging.INFO, logger=log.name):
        asyncio.run(scenario())
    assert _messages(caplog) == [
        "audit: nothing runs: bad a",
        "audit: nothing runs: bad b",
        "audit: nothing runs: bad b",  # again: a pass succeeded in between
    ]


def test_store_errors_and_bugs_do_not_end_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    counted = ("watchkeeper_store_errors_total", {"operation": "periodic-test"})
    before = REGISTRY.get_sample_value(*counted) or 0.0
    script = Script(
        [
            OperationalError("SELECT token FROM secrets", {}, Exception("gone")),
            RuntimeError("a bug"),
            None,
        ]
    )

    async def scenario() -> None:
        loop = Periodic("audit", script, HOUR, log=log, store_operation="periodic-test")
        await _drive(loop, script, 3)

    with caplog.at_level(logging.INFO, logger=log.name):
        asyncio.run(scenario())
    assert script.passes == 3
    assert _messages(caplog) == [
        "audit: store error OperationalError; retrying",  # never the statement
        "audit service pass failed; retrying",
    ]
    bug = [r for r in caplog.records if r.name == log.name][-1]
    assert bug.exc_info is not None  # its traceback
    assert REGISTRY.get_sample_value(*counted) == before + 1


def test_stop_during_the_start_delay_runs_no_pass() -> None:
    script = Script([])

    async def scenario() -> None:
        loop = Periodic("audit", script, HOUR, log=log, start_delay=HOUR)
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0)
        loop.wake()  # the delay is not cut short by a wake
        loop.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    assert script.passes == 0
