"""The scheduler: claims due runs in the store, runs each as its own task, records the outcome.

Every test drives the scheduler with a controllable clock: the first ``run_once`` (or the
first loop of ``run``) seeds each job's next run after the clock's time; moving the clock
forward then makes the job due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.runtime.scheduler import JobFunc, Scheduler
from watchkeeper.runtime.schedules import Every
from watchkeeper.store.tables import ScheduledJob

T0 = datetime(2030, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


class Clock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def job_row(sessions: sessionmaker[Session], name: str) -> ScheduledJob | None:
    with sessions() as db:
        return db.get(ScheduledJob, name)


def the_row(sessions: sessionmaker[Session], name: str) -> ScheduledJob:
    row = job_row(sessions, name)
    assert row is not None, f"no scheduled_jobs row for {name}"
    return row


async def eventually(predicate: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    """Wait until ``predicate()`` holds (a safety net against hangs, not a timing check)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        await asyncio.sleep(0.01)


def finished(scheduler: Scheduler, name: str) -> bool:
    """True when ``name`` has no run in progress (its outcome is recorded)."""
    task = scheduler.jobs[name].task
    return task is not None and task.done()


async def seeded(sessions: sessionmaker[Session], *names: str) -> None:
    await eventually(
        lambda: all(job_row(sessions, n) is not None for n in names), f"rows for {names}"
    )


# -- registering ------------------------------------------------------------------------------


def test_registering_the_same_name_twice_raises_value_error(
    sessions: sessionmaker[Session],
) -> None:
    async def noop() -> None:
        return None

    scheduler = Scheduler(sessions)
    scheduler.register("backup", noop, Every(MINUTE))
    with pytest.raises(ValueError, match="'backup' is already registered"):
        scheduler.register("backup", noop, Every(HOUR))
    assert list(scheduler.jobs) == ["backup"]
    assert scheduler.jobs["backup"].schedule == Every(MINUTE)


def test_jobs_property_is_a_copy(sessions: sessionmaker[Session]) -> None:
    async def noop() -> None:
        return None

    scheduler = Scheduler(sessions)
    scheduler.register("a", noop, Every(MINUTE))
    scheduler.jobs.clear()
    assert list(scheduler.jobs) == ["a"]


# -- run_once ---------------------------------------------------------------------------------


def test_first_run_once_seeds_the_next_run_and_runs_nothing(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock(T0 + timedelta(seconds=20))
    calls: list[datetime] = []

    async def job() -> None:
        calls.append(clock())

    async def main() -> int:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register("tick", job, Every(MINUTE))
        return await scheduler.run_once()

    assert asyncio.run(main()) == 0
    assert calls == []
    row = the_row(sessions, "tick")
    assert row.next_run_at == T0 + MINUTE
    assert (row.run_count, row.last_status, row.last_started_at) == (0, "", None)


def test_a_due_job_runs_once_per_run_once_and_its_row_records_the_run(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    calls: list[datetime] = []
    status_while_running: list[str] = []

    async def job() -> None:
        calls.append(clock())
        row = await asyncio.to_thread(the_row, sessions, "tick")
        status_while_running.append(row.last_status)
        await asyncio.sleep(0.05)

    async def main() -> list[int]:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register("tick", job, Every(MINUTE))
        ran = [await scheduler.run_once()]  # seeds
        clock.advance(HOUR)
        ran.append(await scheduler.run_once())  # due: runs
        ran.append(await scheduler.run_once())  # same moment: already claimed, not due
        clock.advance(MINUTE)
        ran.append(await scheduler.run_once())  # due again
        return ran

    assert asyncio.run(main()) == [0, 1, 0, 1]
    assert calls == [T0 + HOUR, T0 + HOUR + MINUTE]
    assert status_while_running == ["running", "running"]
    row = the_row(sessions, "tick")
    assert row.last_status == "ok"
    assert row.last_error == ""
    assert row.run_count == 2
    assert row.last_duration_ms >= 40  # the job slept 50 ms
    assert row.last_started_at == T0 + HOUR + MINUTE
    assert row.last_finished_at == T0 + HOUR + MINUTE
    assert row.next_run_at == T0 + HOUR + 2 * MINUTE


def test_a_scheduler_only_claims_jobs_it_has_registered(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    ran: list[str] = []

    def job(name: str) -> JobFunc:
        async def run() -> None:
            ran.append(name)

        return run

    async def main() -> tuple[int, int]:
        a = Scheduler(sessions, clock=clock)
        b = Scheduler(sessions, clock=clock)
        a.register("only-a", job("only-a"), Every(MINUTE))
        b.register("only-b", job("only-b"), Every(MINUTE))
        await a.run_once()
        await b.run_once()
        clock.advance(HOUR)
        return await a.run_once(), len(ran)

    assert asyncio.run(main()) == (1, 1)
    assert ran == ["only-a"]
    assert the_row(sessions, "only-b").run_count == 0


def test_jitter_delays_the_next_run_by_at_most_the_jitter(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()

    async def noop() -> None:
        return None

    async def main() -> None:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register("jittery", noop, Every(MINUTE), jitter=timedelta(seconds=30))
        await scheduler.run_once()

    asyncio.run(main())
    next_run = the_row(sessions, "jittery").next_run_at
    assert T0 + MINUTE <= next_run <= T0 + MINUTE + timedelta(seconds=30)


def test_two_schedulers_on_one_store_run_a_due_job_only_once_in_total(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    runs: list[tuple[str, datetime]] = []

    def job(replica: str) -> JobFunc:
        async def run() -> None:
            runs.append((replica, clock()))
            await asyncio.sleep(0.01)

        return run

    async def main() -> list[list[int]]:
        a = Scheduler(sessions, clock=clock)
        b = Scheduler(sessions, clock=clock)
        a.register("shared", job("a"), Every(MINUTE))
        b.register("shared", job("b"), Every(MINUTE))
        rounds = [list(await asyncio.gather(a.run_once(), b.run_once()))]  # both seed
        for _ in range(6):
            clock.advance(HOUR)
            rounds.append(list(await asyncio.gather(a.run_once(), b.run_once())))
        return rounds

    rounds = asyncio.run(main())
    assert rounds[0] == [0, 0]
    assert all(sorted(r) == [0, 1] for r in rounds[1:]), rounds
    assert [at for _, at in runs] == [T0 + HOUR * i for i in range(1, 7)]
    row = the_row(sessions, "shared")
    assert row.run_count == 6
    assert row.last_status == "ok"


def test_max_concurrency_limits_how_many_jobs_run_at_once(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    state = {"now": 0, "peak": 0}

    async def job() -> None:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.02)  # overlap with the others if the limit allows it
        state["now"] -= 1

    async def main(limit: int) -> int:
        scheduler = Scheduler(sessions, clock=clock, max_concurrency=limit)
        for i in range(3):
            scheduler.register(f"job-{i}", job, Every(MINUTE))
        await scheduler.run_once()
        clock.advance(HOUR)
        return await scheduler.run_once()

    assert asyncio.run(main(1)) == 3
    assert state["peak"] == 1
    state["peak"] = 0
    assert asyncio.run(main(3)) == 3
    assert state["peak"] == 3


# -- failures ---------------------------------------------------------------------------------


def test_a_failing_job_records_the_error_and_backs_off_exponentially(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    attempts: list[datetime] = []
    fail = {"on": True}

    async def flaky() -> None:
        attempts.append(clock())
        if fail["on"]:
            raise RuntimeError("disk full")

    async def main() -> None:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register("flaky", flaky, Every(timedelta(seconds=1)))
        await scheduler.run_once()
        t1 = clock.advance(HOUR)
        assert await scheduler.run_once() == 1
        row = the_row(sessions, "flaky")
        assert (row.last_status, row.last_error) == ("error", "RuntimeError: disk full")
        # 1 s period, but the first failure backs off 2 s.
        assert row.next_run_at == t1 + timedelta(seconds=2)
        assert scheduler.jobs["flaky"].failures == 1

        clock.advance(timedelta(seconds=1))
        assert await scheduler.run_once() == 0  # still backing off
        t2 = clock.advance(timedelta(seconds=1))
        assert await scheduler.run_once() == 1
        row = the_row(sessions, "flaky")
        assert row.last_status == "error"
        assert row.next_run_at == t2 + timedelta(seconds=4)  # second failure: 4 s
        assert scheduler.jobs["flaky"].failures == 2

        fail["on"] = False
        t3 = clock.advance(timedelta(seconds=4))
        assert await scheduler.run_once() == 1
        row = the_row(sessions, "flaky")
        assert (row.last_status, row.last_error) == ("ok", "")
        assert row.next_run_at == t3 + timedelta(seconds=1)  # back on its schedule
        assert row.run_count == 3
        assert scheduler.jobs["flaky"].failures == 0

    asyncio.run(main())
    assert len(attempts) == 3


def test_a_failing_job_does_not_stop_other_jobs_in_the_same_turn(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    healthy_runs: list[datetime] = []

    async def broken() -> None:
        raise ValueError("bad input")

    async def healthy() -> None:
        healthy_runs.append(clock())

    async def main() -> int:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register("broken", broken, Every(MINUTE))
        scheduler.register("healthy", healthy, Every(MINUTE))
        await scheduler.run_once()
        clock.advance(HOUR)
        return await scheduler.run_once()

    assert asyncio.run(main()) == 2
    assert healthy_runs == [T0 + HOUR]
    assert the_row(sessions, "broken").last_status == "error"
    assert the_row(sessions, "healthy").last_status == "ok"


def test_a_job_error_message_is_redacted_before_it_is_stored(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()

    async def leaky() -> None:
        raise RuntimeError("login to postgresql://wk:hunter2@db/wk failed, password=hunter2")

    async def main() -> None:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register("leaky", leaky, Every(MINUTE))
        await scheduler.run_once()
        clock.advance(HOUR)
        await scheduler.run_once()

    asyncio.run(main())
    row = the_row(sessions, "leaky")
    assert row.last_status == "error"
    assert "hunter2" not in row.last_error
    assert row.last_error.startswith("RuntimeError: login to postgresql://wk:********@db/wk")


def test_the_run_loop_keeps_going_after_a_job_fails(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    healthy_runs: list[datetime] = []
    broken_runs: list[datetime] = []

    async def broken() -> None:
        broken_runs.append(clock())
        raise RuntimeError("always fails")

    async def healthy() -> None:
        healthy_runs.append(clock())

    async def main() -> None:
        scheduler = Scheduler(sessions, clock=clock, tick=0.01)
        scheduler.register("broken", broken, Every(MINUTE))
        scheduler.register("healthy", healthy, Every(MINUTE))
        runner = asyncio.create_task(scheduler.run())
        await seeded(sessions, "broken", "healthy")
        for turn in (1, 2):
            clock.advance(HOUR)
            # Wait until both runs are recorded: a job still recording counts as running
            # and would (rightly) skip the next turn.
            await eventually(
                lambda turn=turn: all(
                    the_row(sessions, name).run_count == turn for name in ("broken", "healthy")
                ),
                f"turn {turn} recorded",
            )
            await eventually(
                lambda: finished(scheduler, "broken") and finished(scheduler, "healthy"),
                "both runs finished",
            )
            assert not runner.done()
        assert len(broken_runs) == 2
        await scheduler.stop()
        await asyncio.wait_for(runner, 15)

    asyncio.run(main())
    assert healthy_runs == [T0 + HOUR, T0 + 2 * HOUR]
    assert the_row(sessions, "broken").last_status == "error"
    assert the_row(sessions, "healthy").run_count == 2


def test_a_job_exceeding_its_timeout_records_timeout_and_is_cancelled(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    cancelled: list[bool] = []

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> int:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register(
            "hangs", hangs, Every(timedelta(seconds=1)), timeout=timedelta(milliseconds=50)
        )
        await scheduler.run_once()
        clock.advance(HOUR)
        return await scheduler.run_once()

    assert asyncio.run(main()) == 1
    assert cancelled == [True]
    row = the_row(sessions, "hangs")
    assert row.last_status == "timeout"
    assert row.last_error == "did not finish within 0:00:00.050000"
    assert row.run_count == 1
    assert row.next_run_at == T0 + HOUR + timedelta(seconds=2)  # backs off like an error


def test_a_job_finishing_within_its_timeout_is_ok(sessions: sessionmaker[Session]) -> None:
    clock = Clock()

    async def quick() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register("quick", quick, Every(MINUTE), timeout=timedelta(seconds=30))
        await scheduler.run_once()
        clock.advance(HOUR)
        await scheduler.run_once()

    asyncio.run(main())
    assert the_row(sessions, "quick").last_status == "ok"


def test_a_timeout_error_raised_by_the_job_itself_is_recorded_as_its_error(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()

    async def connect() -> None:
        raise TimeoutError("connect to 10.0.0.5:5432 timed out")

    async def main() -> None:
        scheduler = Scheduler(sessions, clock=clock)
        scheduler.register("connect", connect, Every(MINUTE))  # no scheduler timeout
        await scheduler.run_once()
        clock.advance(HOUR)
        await scheduler.run_once()

    asyncio.run(main())
    row = the_row(sessions, "connect")
    assert "timed out" in row.last_error
    assert "None" not in row.last_error


# -- run() and stop() -------------------------------------------------------------------------


def test_a_slow_job_does_not_hold_up_other_jobs_and_skips_its_turn_while_running(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    fast_runs: list[datetime] = []

    async def main() -> None:
        gate = asyncio.Event()
        slow_started = asyncio.Event()
        slow_runs: list[datetime] = []

        async def slow() -> None:
            slow_runs.append(clock())
            slow_started.set()
            await gate.wait()

        async def fast() -> None:
            fast_runs.append(clock())

        scheduler = Scheduler(sessions, clock=clock, tick=0.01)
        scheduler.register("slow", slow, Every(MINUTE))
        scheduler.register("fast", fast, Every(MINUTE))
        runner = asyncio.create_task(scheduler.run())
        await seeded(sessions, "slow", "fast")

        clock.advance(HOUR)  # both due
        await asyncio.wait_for(slow_started.wait(), 15)
        await eventually(lambda: len(fast_runs) == 1, "fast job's first run")
        await eventually(lambda: finished(scheduler, "fast"), "fast job's first run recorded")

        clock.advance(HOUR)  # both due again; slow is still running
        await eventually(lambda: len(fast_runs) == 2, "fast job's second run")
        await eventually(lambda: finished(scheduler, "fast"), "fast job's second run recorded")
        assert the_row(sessions, "fast").run_count == 2

        slow_task = scheduler.jobs["slow"].task
        assert slow_task is not None and not slow_task.done()
        assert slow_runs == [T0 + HOUR]  # its second turn was skipped, not queued
        slow_row = the_row(sessions, "slow")
        assert (slow_row.last_status, slow_row.run_count) == ("running", 0)
        assert slow_row.next_run_at == T0 + 2 * HOUR + MINUTE  # the skipped turn moved on

        gate.set()
        await scheduler.stop()
        await asyncio.wait_for(runner, 15)
        assert slow_runs == [T0 + HOUR]

    asyncio.run(main())
    assert fast_runs == [T0 + HOUR, T0 + 2 * HOUR]
    slow_row = the_row(sessions, "slow")
    assert (slow_row.last_status, slow_row.run_count) == ("ok", 1)


def test_stop_waits_for_a_running_job_that_finishes_within_the_grace(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    finished: list[bool] = []

    async def main() -> None:
        gate = asyncio.Event()
        started = asyncio.Event()

        async def job() -> None:
            started.set()
            await gate.wait()
            finished.append(True)

        scheduler = Scheduler(sessions, clock=clock, tick=0.01)
        scheduler.register("job", job, Every(MINUTE))
        runner = asyncio.create_task(scheduler.run())
        await seeded(sessions, "job")
        clock.advance(HOUR)
        await asyncio.wait_for(started.wait(), 15)

        stopping = asyncio.create_task(scheduler.stop(grace=60))
        await asyncio.sleep(0.05)  # stop() must still be waiting for the job
        assert not stopping.done()
        await asyncio.wait_for(runner, 15)  # but the loop itself has stopped claiming
        gate.set()
        await asyncio.wait_for(stopping, 15)
        task = scheduler.jobs["job"].task
        assert task is not None and task.done() and not task.cancelled()

    asyncio.run(main())
    assert finished == [True]
    row = the_row(sessions, "job")
    assert (row.last_status, row.run_count) == ("ok", 1)


def test_stop_cancels_a_job_that_does_not_finish_within_the_grace(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    cancelled: list[bool] = []

    async def main() -> None:
        started = asyncio.Event()

        async def stuck() -> None:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        scheduler = Scheduler(sessions, clock=clock, tick=0.01)
        scheduler.register("stuck", stuck, Every(MINUTE))
        runner = asyncio.create_task(scheduler.run())
        await seeded(sessions, "stuck")
        clock.advance(HOUR)
        await asyncio.wait_for(started.wait(), 15)

        await asyncio.wait_for(scheduler.stop(grace=0.05), 15)
        await asyncio.wait_for(runner, 15)
        task = scheduler.jobs["stuck"].task
        assert task is not None and task.cancelled()

    asyncio.run(main())
    assert cancelled == [True]
    row = the_row(sessions, "stuck")
    assert (row.last_status, row.last_error) == ("cancelled", "stopped by shutdown")
    assert row.run_count == 1


def test_stop_with_nothing_running_ends_the_run_loop(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    calls: list[datetime] = []

    async def job() -> None:
        calls.append(clock())

    async def main() -> None:
        scheduler = Scheduler(sessions, clock=clock, tick=0.01)
        scheduler.register("idle", job, Every(MINUTE))
        runner = asyncio.create_task(scheduler.run())
        await seeded(sessions, "idle")
        await scheduler.stop()
        await asyncio.wait_for(runner, 15)
        clock.advance(HOUR)  # due now, but nobody is claiming any more
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert calls == []
    assert the_row(sessions, "idle").run_count == 0
