"""The delivery worker against a real HTTP receiver on loopback, on a fake clock."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import LiveServer
from tests.notify.loopback import Reply
from tests.notify.outbox_support import (
    START,
    TEST_TYPE,
    Clock,
    Receiver,
    add_channel,
    add_row,
    register_hook_type,
    rows,
    set_settings,
)
from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.notify import outbox
from watchkeeper.notify.worker import FAILED_ALERT, SKIPPED_RESOLVED, DeliveryWorker
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Alert

Scenario = Callable[[Receiver, DeliveryWorker], Awaitable[None]]


@pytest.fixture(autouse=True)
def hook_type() -> Iterator[None]:
    yield from register_hook_type()


def run(
    sessions: sessionmaker[Session], clock: Clock, scenario: Scenario, **options: object
) -> None:
    async def main() -> None:
        async with Receiver() as receiver:
            worker = DeliveryWorker(sessions, clock=clock, **options)  # type: ignore[arg-type]
            try:
                await scenario(receiver, worker)
            finally:
                await worker.stop()

    asyncio.run(main())


async def until(predicate: Callable[[], bool], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def delivered(sessions: sessionmaker[Session], *keys: str) -> Callable[[], bool]:
    def check() -> bool:
        with sessions() as db:
            found = rows(db)
            return all(k in found and found[k].status == "delivered" for k in keys)

    return check


@pytest.mark.parametrize("kind", [TEST_TYPE, "webhook"])
def test_a_notification_is_delivered_once(sessions: sessionmaker[Session], kind: str) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"), type=kind)
        task = asyncio.create_task(worker.run())
        with sessions() as db:
            add_row(db, "n1", "ops", clock())
        worker.wake()
        await until(delivered(sessions, "n1"))
        await worker.stop()
        await task
        assert await worker.run_once() == 0

    run(sessions, clock, scenario)
    with sessions() as db:
        row = rows(db)["n1"]
    assert (row.status, row.attempts, row.last_error, row.lease_until) == ("delivered", 1, "", None)
    assert row.delivered_at == clock()


def test_a_server_error_is_retried_after_the_backoff(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    with sessions() as db:
        set_settings(db, retry={"initial_backoff": "10s", "max_backoff": "1m"})

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        receiver.replies["ops"] = [Reply(500, body="overloaded"), Reply(503)]
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"))
            add_row(db, "n1", "ops", clock())
        assert await worker.run_once() == 1
        with sessions() as db:
            row = rows(db)["n1"]
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error == "outboxtest answered HTTP 500: overloaded"
        wait = (row.next_attempt_at - clock()).total_seconds()
        assert 10 <= wait <= 12.5
        clock.advance(9)
        assert await worker.run_once() == 0  # not before the back-off
        clock.advance(4)
        assert await worker.run_once() == 1
        with sessions() as db:
            row = rows(db)["n1"]
        assert (row.status, row.attempts) == ("pending", 2)
        assert 20 <= (row.next_attempt_at - clock()).total_seconds() <= 25  # doubled
        clock.advance(25)
        assert await worker.run_once() == 1
        assert receiver.keys() == ["n1", "n1", "n1"]

    run(sessions, clock, scenario)
    with sessions() as db:
        row = rows(db)["n1"]
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, "")


def test_retry_after_of_a_429_is_honoured(sessions: sessionmaker[Session]) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        receiver.replies["ops"] = [Reply(429, headers={"Retry-After": "120"})]
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"))
            add_row(db, "n1", "ops", clock())
        await worker.run_once()
        with sessions() as db:
            row = rows(db)["n1"]
        assert row.status == "pending" and "HTTP 429" in row.last_error
        assert row.next_attempt_at == clock() + timedelta(seconds=120)
        clock.advance(119)
        assert await worker.run_once() == 0
        clock.advance(1)
        assert await worker.run_once() == 1

    run(sessions, clock, scenario)
    with sessions() as db:
        assert rows(db)["n1"].status == "delivered"


def _metric(base_url: str, kind: str, result: str) -> float:
    body = httpx.get(f"{base_url}/metrics").text
    pattern = (
        rf'^watchkeeper_notifications_total\{{channel_type="{kind}",result="{result}"\}} (\S+)$'
    )
    found = re.search(pattern, body, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_client_error_fails_at_once_and_is_counted(ctx: AppContext) -> None:
    clock = Clock()
    with LiveServer(create_app(ctx)) as server:
        before = _metric(server.url, TEST_TYPE, "failed")

        async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
            receiver.default = Reply(400, body="invalid token")
            with ctx.sessions() as db:
                add_channel(db, "ops", receiver.hook("ops"))
                add_row(db, "n1", "ops", clock())
            await worker.run_once()
            clock.advance(3600)
            assert await worker.run_once() == 0  # never retried

        run(ctx.sessions, clock, scenario)
        assert _metric(server.url, TEST_TYPE, "failed") == before + 1
        body = httpx.get(f"{server.url}/metrics").text
    assert "watchkeeper_notification_attempt_seconds_bucket" in body
    assert "watchkeeper_notifications_queued 0.0" in body
    with ctx.sessions() as db:
        row = rows(db)["n1"]
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "outboxtest answered HTTP 400: invalid token"


def test_a_timeout_is_retried(sessions: sessionmaker[Session]) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        receiver.replies["ops"] = [Reply(delay=3)]
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"), timeout="300ms")
            add_row(db, "n1", "ops", clock())
        await worker.run_once()
        with sessions() as db:
            row = rows(db)["n1"]
        assert (row.status, row.attempts) == ("pending", 1)
        assert "no answer within" in row.last_error
        clock.advance(60)
        assert await worker.run_once() == 1

    run(sessions, clock, scenario)
    with sessions() as db:
        assert rows(db)["n1"].status == "delivered"


def test_a_notification_fails_after_give_up_after(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    with sessions() as db:
        set_settings(db, retry={"initial_backoff": "20s", "give_up_after": "1m"})

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        receiver.default = Reply(502)
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"))
            add_row(db, "n1", "ops", clock())
        deadline = clock() + timedelta(minutes=1)
        for _ in range(10):
            assert await worker.run_once() == 1
            with sessions() as db:
                row = rows(db)["n1"]
            if row.status == "failed":
                break
            assert row.next_attempt_at <= deadline  # the last try is at the deadline
            clock.now = row.next_attempt_at
        assert row.status == "failed"
        assert clock() == deadline and row.attempts == 3  # at 0 s, ~20 s and 60 s
        assert row.last_error.startswith("gave up after trying for 0:01:00: ")
        assert "HTTP 502" in row.last_error

    run(sessions, clock, scenario)


def test_a_rate_limit_delays_without_dropping(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    keys = [f"n{i}" for i in range(5)]

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"), rate_limit=2)
            for key in keys:
                add_row(db, key, "ops", clock(), group=key)
        assert await worker.run_once() == 5
        assert len(receiver.requests) == 2
        with sessions() as db:
            waiting = [r for r in rows(db).values() if r.status == "pending"]
        assert len(waiting) == 3
        assert all(r.attempts == 0 and r.next_attempt_at > clock() for r in waiting)
        for _ in range(20):
            clock.advance(30)
            await worker.run_once()
        assert sorted(receiver.keys()) == keys

    run(sessions, clock, scenario)
    with sessions() as db:
        assert {r.status for r in rows(db).values()} == {"delivered"}


def test_rows_of_one_group_go_out_in_order(sessions: sessionmaker[Session]) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        receiver.replies["ops"] = [Reply(500)]
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"))
            for key in ("a1", "a2", "a3"):
                add_row(db, key, "ops", clock(), group="A")
            add_channel(db, "other", receiver.hook("other"))
            add_row(db, "b1", "other", clock(), group="A")
        assert await worker.run_once() == 2  # a1 (fails) and b1; a2 waits for a1
        assert sorted(receiver.keys()) == ["a1", "b1"]
        assert await worker.run_once() == 0
        clock.advance(10)
        task = asyncio.create_task(worker.run())
        await until(delivered(sessions, "a1", "a2", "a3"))
        await worker.stop()
        await task
        assert receiver.keys("ops") == ["a1", "a1", "a2", "a3"]

    run(sessions, clock, scenario)


def _internal_alerts(db: Session) -> dict[str, str]:
    return {
        a.labels["channel"]: a.state
        for a in db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE))
        if a.labels.get("alertname") == FAILED_ALERT
    }


def test_the_fallback_is_used_once_when_every_channel_fails(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    with sessions() as db:
        set_settings(db, fallback="pager")

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        receiver.replies["a"] = [Reply(404)]
        receiver.replies["b"] = [Reply(500)] * 3
        with sessions() as db:
            for name in ("a", "b", "pager"):
                add_channel(db, name, receiver.hook(name))
            add_row(db, "x-a", "a", clock(), batch="x")
            add_row(db, "x-b", "b", clock(), batch="x")
        await worker.run_once()  # a fails for good, b is retried: not yet
        for _ in range(2):
            with sessions() as db:
                assert "x:fallback" not in rows(db)
            clock.advance(600)
            await worker.run_once()
        # b has now failed fallback_after (3) times: the copy goes to the pager.
        with sessions() as db:
            found = rows(db)
            assert found["x:fallback"].channel == "pager" and found["x:fallback"].fallback
            assert found["x-b"].status == "pending"
            assert _internal_alerts(db) == {"a": "firing", "b": "firing"}
        clock.advance(600)
        await worker.run_once()  # b delivered; a fallback exists already
        await worker.run_once()
        assert receiver.keys("pager") == ["x:fallback"]
        assert receiver.keys("b") == ["x-b"] * 4
        with sessions() as db:
            assert _internal_alerts(db) == {"a": "firing", "b": "resolved"}
            add_row(db, "y-a", "a", clock(), batch="y")
        await worker.run_once()
        with sessions() as db:
            assert _internal_alerts(db) == {"a": "resolved", "b": "resolved"}
            assert len(rows(db)) == 4

    run(sessions, clock, scenario)
    with sessions() as db:
        found = rows(db)
    assert found["x-a"].status == "failed" and "HTTP 404" in found["x-a"].last_error
    assert found["x:fallback"].status == "delivered"


def test_a_removed_channel_or_a_bad_configuration_fails_at_once(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        with sessions() as db:
            add_channel(db, "broken", receiver.hook("broken"), rate_limit="lots")
            add_channel(db, "odd", receiver.hook("odd"), type="carrier-pigeon")
            add_row(db, "n1", "gone", clock())
            add_row(db, "n2", "broken", clock())
            add_row(db, "n3", "odd", clock())
        assert await worker.run_once() == 3
        assert receiver.requests == []

    run(sessions, clock, scenario)
    with sessions() as db:
        found = rows(db)
    assert {r.status for r in found.values()} == {"failed"}
    assert {r.attempts for r in found.values()} == {0}
    assert found["n1"].last_error == 'no notification channel is named "gone"'
    assert found["n2"].last_error.startswith(
        "the stored configuration of channel broken is invalid: rate_limit: "
    )
    assert found["n3"].last_error == 'channel type "carrier-pigeon" is not available'


def test_resolved_notifications_are_skipped_when_send_resolved_is_off(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"), send_resolved=False)
            add_row(db, "fired", "ops", clock(), group="a")
            add_row(db, "resolved", "ops", clock(), group="b", status="resolved")
        await worker.run_once()
        assert receiver.keys() == ["fired"]

    run(sessions, clock, scenario)
    with sessions() as db:
        found = rows(db)
    assert found["resolved"].status == "delivered"
    assert (found["resolved"].attempts, found["resolved"].last_error) == (0, SKIPPED_RESOLVED)


def test_a_row_held_by_a_dead_worker_is_delivered_after_its_lease(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"))
            add_row(db, "n1", "ops", clock())
            (held,) = outbox.claim_due(db, now=clock(), limit=5, lease=timedelta(minutes=2))
            db.commit()
        assert await worker.run_once() == 0
        clock.advance(121)
        assert await worker.run_once() == 1
        with sessions() as db:  # the dead worker's late word no longer counts
            assert not outbox.retry_later(db, held, when=clock(), error="late")

    run(sessions, clock, scenario, lease=timedelta(minutes=2))
    with sessions() as db:
        assert rows(db)["n1"].status == "delivered"


def test_a_test_notification_goes_out_with_a_test_title(sessions: sessionmaker[Session]) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"))
            row_id = outbox.send_test(db, "ops", "alice")
            db.commit()
        assert row_id > 0
        clock.now = clock.now.replace(year=2099)  # send_test stamps rows with the real time
        await worker.run_once()
        ((_, _, body),) = receiver.requests
        assert body["test"] is True and body["title"].startswith("[TEST]")

    run(sessions, clock, scenario)


def test_two_workers_on_postgresql_never_deliver_a_row_twice(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL store; SQLite serves one process")
    from watchkeeper.store.engine import make_engine, session_factory

    keys = [f"n{i:02d}" for i in range(40)]
    other = make_engine(database_url)

    async def main() -> None:
        async with Receiver() as receiver:
            receiver.default = Reply(delay=0.02)
            with sessions() as db:
                add_channel(db, "ops", receiver.hook("ops"))
                for key in keys:
                    add_row(db, key, "ops", Clock()(), group=key)
            workers = [
                DeliveryWorker(sessions, concurrency=4, poll_interval=0.05),
                DeliveryWorker(session_factory(other), concurrency=4, poll_interval=0.05),
            ]
            tasks = [asyncio.create_task(w.run()) for w in workers]
            await until(delivered(sessions, *keys), timeout=30)
            for w in workers:
                await w.stop()
            await asyncio.gather(*tasks)
            assert sorted(receiver.keys()) == keys

    try:
        asyncio.run(main())
    finally:
        other.dispose()


def test_stopping_puts_an_unfinished_delivery_back(sessions: sessionmaker[Session]) -> None:
    clock = Clock()

    async def scenario(receiver: Receiver, worker: DeliveryWorker) -> None:
        receiver.hold = {"n1"}
        with sessions() as db:
            add_channel(db, "ops", receiver.hook("ops"))
            add_row(db, "n1", "ops", clock())
        task = asyncio.create_task(worker.run())
        await until(lambda: "n1" in receiver.holding)
        await worker.stop(grace=0.1)
        await task

    run(sessions, clock, scenario)
    with sessions() as db:
        row = rows(db)["n1"]
    assert (row.status, row.attempts, row.lease_until) == ("pending", 0, None)
    assert row.next_attempt_at == START
