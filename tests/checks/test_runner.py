"""The check runner on a real store: results, state changes, events, restarts, timeouts."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.checks.conftest import Target
from watchkeeper.checks.events import StateChange, events_since
from watchkeeper.checks.runner import CheckRunner
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import CheckResult, CheckStatus


def declare(sessions: sessionmaker[Session], checks: str) -> None:
    with sessions() as db:
        apply_plan(db, load_plan_text("checks:\n" + checks))
        db.commit()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def status_of(sessions: sessionmaker[Session], name: str) -> str | None:
    with sessions() as db:
        return db.scalar(select(CheckStatus.status).where(CheckStatus.name == name))


def results_of(sessions: sessionmaker[Session], name: str) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).where(CheckResult.name == name)) or 0


def test_checks_run_record_results_and_publish_state_changes(
    sessions: sessionmaker[Session],
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(100)
    port = listener.getsockname()[1]
    declare(
        sessions,
        f"  - {{name: db, type: tcp, host: 127.0.0.1, port: {port}, interval: 1s, retries: 1}}\n",
    )

    async def scenario() -> list[StateChange]:
        runner = CheckRunner(sessions, flush_interval=0.1, reload_interval=0.2)
        events = runner.bus.subscribe()
        task = asyncio.create_task(runner.run())
        seen: list[StateChange] = [await asyncio.wait_for(events.get(), 15)]
        listener.close()  # the target goes away: down after retries + 1 failures
        seen.append(await asyncio.wait_for(events.get(), 15))
        await runner.stop()
        await task
        return seen

    changes = asyncio.run(scenario())
    assert [(c.check, c.from_status, c.to_status) for c in changes] == [
        ("db", "pending", "up"),
        ("db", "up", "down"),
    ]
    assert "cannot connect" in changes[1].message
    assert status_of(sessions, "db") == "down"
    assert results_of(sessions, "db") >= 3
    with sessions() as db:
        assert [(e.from_status, e.to_status) for e in events_since(db, 0)] == [
            ("pending", "up"),
            ("up", "down"),
        ]


def test_a_hanging_target_does_not_delay_other_checks(
    sessions: sessionmaker[Session], http_target: Target, listening_port: int
) -> None:
    declare(
        sessions,
        f"  - {{name: hangs, type: http, url: '{http_target.url('/slow?s=30')}', "
        "interval: 1s, timeout: 3s}\n"
        f"  - {{name: fast, type: tcp, host: 127.0.0.1, port: {listening_port}, "
        "interval: 1s}\n",
    )

    async def scenario() -> None:
        runner = CheckRunner(sessions, flush_interval=0.1, reload_interval=10)
        task = asyncio.create_task(runner.run())

        async def fast_ran_often() -> bool:
            return await asyncio.to_thread(results_of, sessions, "fast") >= 3

        await until(fast_ran_often)
        # While "fast" ran three times, "hangs" is still on its first, unfinished run.
        assert await asyncio.to_thread(results_of, sessions, "hangs") == 0
        await runner.stop(grace=0.1)
        await task

    asyncio.run(scenario())


def test_timeout_is_a_failure_with_a_reason(
    sessions: sessionmaker[Session], http_target: Target
) -> None:
    declare(
        sessions,
        f"  - {{name: slow, type: http, url: '{http_target.url('/slow?s=5')}', "
        "interval: 1s, timeout: 1s}\n",
    )

    async def scenario() -> None:
        runner = CheckRunner(sessions, flush_interval=0.1)
        task = asyncio.create_task(runner.run())

        async def is_down() -> bool:
            return await asyncio.to_thread(status_of, sessions, "slow") == "down"

        await until(is_down)
        await runner.stop(grace=0.1)
        await task

    asyncio.run(scenario())
    with sessions() as db:
        row = db.get(CheckStatus, "slow")
        assert row is not None and row.last_message == "timed out after 0:00:01"


def test_state_survives_a_restart(sessions: sessionmaker[Session], closed_port: int) -> None:
    declare(
        sessions,
        f"  - {{name: gone, type: tcp, host: 127.0.0.1, port: {closed_port}, "
        "interval: 1s, retries: 0}\n",
    )

    async def run_until_down() -> None:
        runner = CheckRunner(sessions, flush_interval=0.1)
        events = runner.bus.subscribe()
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(events.get(), 15)
        await runner.stop()
        await task

    asyncio.run(run_until_down())

    async def restart() -> list[StateChange]:
        runner = CheckRunner(sessions, flush_interval=0.1)
        events = runner.bus.subscribe()
        task = asyncio.create_task(runner.run())

        async def ran_again() -> bool:
            return await asyncio.to_thread(results_of, sessions, "gone") >= 3

        await until(ran_again)
        await runner.stop()
        await task
        return [events.get_nowait() for _ in range(events.qsize())]

    # Still down after the restart, and no second "down" event for the same outage.
    assert asyncio.run(restart()) == []
    assert status_of(sessions, "gone") == "down"


def test_removed_checks_stop_running(sessions: sessionmaker[Session], listening_port: int) -> None:
    declare(
        sessions,
        f"  - {{name: temp, type: tcp, host: 127.0.0.1, port: {listening_port}, interval: 1s}}\n",
    )

    async def scenario() -> int:
        runner = CheckRunner(sessions, flush_interval=0.1, reload_interval=0.2)
        task = asyncio.create_task(runner.run())

        async def ran() -> bool:
            return await asyncio.to_thread(results_of, sessions, "temp") >= 1

        await until(ran)
        await asyncio.to_thread(declare, sessions, "  []\n")
        await asyncio.sleep(0.5)  # the next reload drops the check
        before = await asyncio.to_thread(results_of, sessions, "temp")
        await asyncio.sleep(2.5)
        after = await asyncio.to_thread(results_of, sessions, "temp")
        await runner.stop()
        await task
        return after - before

    assert asyncio.run(scenario()) <= 1  # at most a run already in flight


def test_reload_revalidates_changed_checks_only(sessions: sessionmaker[Session]) -> None:
    """The runner keeps each stored spec as compact JSON, not its validated configuration: an
    unchanged check keeps its entry on reload, a changed one is validated again, a removed
    one leaves; each run validates the spec it keeps."""
    one = "  - {name: one, type: tcp, host: 127.0.0.1, port: 9, interval: 1h}\n"
    two = "  - {name: two, type: tcp, host: 127.0.0.1, port: 9, interval: 1h}\n"
    declare(sessions, one + two)

    async def scenario() -> None:
        runner = CheckRunner(sessions)
        await runner.reload()
        before = dict(runner._checks)
        specs, _ = runner._read_specs()
        assert specs is None  # nothing changed in the store: no spec is read at all
        declare(sessions, one + two.replace("port: 9", "port: 10"))
        await runner.reload()
        assert runner._checks["one"] is before["one"]
        assert runner._checks["two"] is not before["two"]
        assert runner._checks["two"].config().port == 10  # type: ignore[attr-defined]
        assert len(runner._checks["two"].spec) < 400  # bytes: what it keeps of the check
        declare(sessions, one)
        await runner.reload()
        assert set(runner._checks) == {"one"}
        await runner.stop()

    asyncio.run(scenario())
