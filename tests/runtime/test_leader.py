"""One active check runner and scraper per cluster: a PostgreSQL advisory lock decides."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy import Engine

from watchkeeper.runtime.leader import Leadership, lock_key


class Worker:
    """A service that runs until stopped, noting in ``active`` while it does."""

    def __init__(self, label: str, active: set[str]) -> None:
        self.label = label
        self.active = active
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self.active.add(self.label)
        try:
            await self._stop.wait()
        finally:
            self.active.discard(self.label)

    async def stop(self) -> None:
        self._stop.set()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def test_one_replica_leads_and_another_takes_over_when_it_stops(engine: Engine) -> None:
    async def scenario() -> None:
        active: set[str] = set()
        first = Leadership(engine, "checks", lambda: Worker("first", active), retry=0.05)
        second = Leadership(engine, "checks", lambda: Worker("second", active), retry=0.05)
        other = Leadership(engine, "scrape", lambda: Worker("other", active), retry=0.05)
        tasks = [asyncio.create_task(x.run()) for x in (first, second, other)]
        if engine.dialect.name != "postgresql":
            # SQLite serves one node: there is nobody to share with, every service runs.
            await until(lambda: active == {"first", "second", "other"})
        else:
            await until(lambda: "other" in active and len(active) == 2)
            await asyncio.sleep(0.3)  # several retries later, still one runner for "checks"
            assert len(active) == 2
            leader, follower = (first, second) if "first" in active else (second, first)
            assert leader.current is not None and follower.current is None
            await leader.stop()
            await until(lambda: follower.current is not None)
            await until(lambda: active == {"other", follower.current.label})  # type: ignore[union-attr]
        for x in (first, second, other):
            await x.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert active == set()

    asyncio.run(scenario())


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("checks") == lock_key("checks")
    assert lock_key("checks") != lock_key("scrape")
    assert -(2**63) <= lock_key("checks") < 2**63
