"""Heartbeat checks: judging pings (period, cron schedule, grace, start, fail), the push-URL
key in the store, pruning, and the runner binding the type to the store and its clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.checks.test_runner import declare, status_of, until
from watchkeeper.checks.heartbeat import HeartbeatCheck, HeartbeatCheckConfig, evaluate
from watchkeeper.checks.pings import (
    KEEP_PER_KIND,
    LastPings,
    ensure_key,
    heartbeat_of,
    prune_pings,
    record_ping,
)
from watchkeeper.checks.runner import CheckRunner
from watchkeeper.exceptions import ConflictError
from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.store.tables import CheckStatus, HeartbeatPing

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def config(**fields: Any) -> HeartbeatCheckConfig:
    if "schedule" not in fields:
        fields.setdefault("period", "1h")
    fields.setdefault("grace", "10m")
    fields.setdefault("name", "backup")
    return HeartbeatCheckConfig(type="heartbeat", **fields)


def judge(cfg: HeartbeatCheckConfig, now: datetime, **last: Any) -> tuple[bool, str]:
    outcome = evaluate(cfg, LastPings(**last), created_at=T0, now=now)
    return outcome.ok, outcome.message


# -- judging -----------------------------------------------------------------------------------


def test_up_until_period_plus_grace_after_the_last_success() -> None:
    cfg = config()
    success = T0 + timedelta(minutes=5)
    assert judge(cfg, T0 + timedelta(minutes=74), success=success) == (
        True,
        "last success at 2026-07-01 12:05:00 UTC; next due by 2026-07-01 13:05:00 UTC",
    )
    assert judge(cfg, T0 + timedelta(minutes=76), success=success) == (
        False,
        "late: last success at 2026-07-01 12:05:00 UTC, the next was due by "
        "2026-07-01 13:05:00 UTC (+10m)",
    )


def test_a_check_never_pinged_waits_from_its_creation() -> None:
    cfg = config()
    assert judge(cfg, T0 + timedelta(minutes=30)) == (
        True,
        "waiting for the first ping, due by 2026-07-01 13:00:00 UTC",
    )
    assert judge(cfg, T0 + timedelta(minutes=71)) == (
        False,
        "no ping yet; the first was due by 2026-07-01 13:00:00 UTC (+10m)",
    )


def test_a_failure_is_down_until_the_next_success() -> None:
    cfg = config()
    fail = T0 + timedelta(minutes=1)
    assert judge(cfg, fail, success=T0, fail=fail, fail_exit_status=3) == (
        False,
        "the job reported a failure (exit status 3) at 2026-07-01 12:01:00 UTC",
    )
    assert judge(cfg, fail, fail=fail)[1] == (
        "the job reported a failure at 2026-07-01 12:01:00 UTC"
    )
    assert judge(cfg, fail, success=fail + timedelta(seconds=1), fail=fail)[0]


def test_a_start_without_success_is_down_after_grace() -> None:
    cfg = config()
    start = T0 + timedelta(minutes=50)
    assert judge(cfg, start + timedelta(minutes=9), success=T0, start=start) == (
        True,
        "running since 2026-07-01 12:50:00 UTC",
    )
    assert judge(cfg, start + timedelta(minutes=11), success=T0, start=start) == (
        False,
        "started at 2026-07-01 12:50:00 UTC and not finished within grace (10m)",
    )
    # A start followed by its success: the run is over.
    done = start + timedelta(minutes=20)
    assert judge(cfg, done + timedelta(minutes=1), success=done, start=start)[0]


def test_a_failure_stays_down_while_the_job_retries() -> None:
    cfg = config()
    fail, retry = T0, T0 + timedelta(minutes=1)
    assert not judge(cfg, retry, fail=fail, start=retry)[0]


def test_cron_schedule_due_at_the_next_run_after_the_last_success() -> None:
    cfg = config(schedule="0 3 * * *", grace="30m")
    success = datetime(2026, 7, 1, 3, 0, 40, tzinfo=UTC)
    next_run = "2026-07-02 03:00:00 UTC"
    assert judge(cfg, datetime(2026, 7, 2, 3, 29, tzinfo=UTC), success=success) == (
        True,
        f"last success at 2026-07-01 03:00:40 UTC; next due by {next_run}",
    )
    late = judge(cfg, datetime(2026, 7, 2, 3, 31, tzinfo=UTC), success=success)
    assert late == (
        False,
        f"late: last success at 2026-07-01 03:00:40 UTC, the next was due by {next_run} (+30m)",
    )


def test_cron_schedule_in_a_time_zone() -> None:
    # 03:00 in Berlin is 01:00 UTC in summer (CEST) and 02:00 UTC in winter (CET).
    cfg = config(schedule="0 3 * * *", timezone="Europe/Berlin", grace="5m")
    summer = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
    assert "next due by 2026-07-02 01:00:00 UTC" in judge(cfg, summer, success=summer)[1]
    winter = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    assert "next due by 2026-01-11 02:00:00 UTC" in judge(cfg, winter, success=winter)[1]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("", "checks[0].schedule: set `period` (e.g. 1d) or `schedule` (a cron expression)"),
        (
            "period: 1d, schedule: '0 3 * * *'",
            "checks[0].schedule: set either `period` (e.g. 1d) or `schedule` (a cron "
            'expression), not both (got "0 3 * * *")',
        ),
        (
            "schedule: '0 3 * *'",
            "checks[0].schedule: not a cron expression: Exactly 5, 6 or 7 columns has to be "
            'specified for iterator expression (got "0 3 * *")',
        ),
        ("schedule: '0 0 31 2 *'", 'checks[0].schedule: never fires (got "0 0 31 2 *")'),
        (
            "schedule: '0 3 * * *', timezone: Mars/Olympus",
            "checks[0].timezone: not a time zone (use a name such as UTC or Europe/Berlin) "
            '(got "Mars/Olympus")',
        ),
        (
            "period: 1d, key: not-a-uuid",
            'checks[0].key: not a UUID (leave `key` out to have one generated) (got "not-a-uuid")',
        ),
        ("period: 0s", 'checks[0].period: must be longer than 0s (got "0s")'),
    ],
)
def test_bad_heartbeats_are_explained(fields: str, message: str) -> None:
    text = f"checks:\n  - {{name: a, type: heartbeat, {fields}}}\n".replace(", }", "}")
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(text)
    assert [str(p).split(" ", 1)[1] for p in info.value.problems] == [message]


def test_interval_is_short_by_default_and_key_is_normalised() -> None:
    cfg = config(key="A1B2C3D4-0000-4000-8000-00000000000F")
    assert cfg.interval == timedelta(seconds=10)
    assert cfg.key == "a1b2c3d4-0000-4000-8000-00000000000f"


# -- the store ---------------------------------------------------------------------------------


def test_a_generated_key_is_stored_once_and_kept(sessions: sessionmaker[Session]) -> None:
    declare(sessions, "  - {name: backup, type: heartbeat, period: 1d}\n")
    with sessions() as db:
        first = ensure_key(db, "backup", None)
    # The plan applied again with a change, and a new process (a fresh plugin): same key.
    declare(sessions, "  - {name: backup, type: heartbeat, period: 1d, grace: 5m}\n")
    with sessions() as db:
        assert ensure_key(db, "backup", None) == first
        assert heartbeat_of(db, first.key) == "backup"
        assert heartbeat_of(db, first.key.replace("-", "")) is None


def test_a_key_given_in_the_plan_replaces_the_generated_one(
    sessions: sessionmaker[Session],
) -> None:
    declare(sessions, "  - {name: backup, type: heartbeat, period: 1d}\n")
    given = "0b6c4bd4-7d5e-4b59-9c66-2f1c9c0d3d11"
    with sessions() as db:
        generated = ensure_key(db, "backup", None).key
        assert ensure_key(db, "backup", given).key == given
        assert heartbeat_of(db, generated) is None
        assert heartbeat_of(db, given) == "backup"


def test_a_key_used_by_another_heartbeat_is_refused(sessions: sessionmaker[Session]) -> None:
    given = "0b6c4bd4-7d5e-4b59-9c66-2f1c9c0d3d11"
    declare(
        sessions,
        f"  - {{name: one, type: heartbeat, period: 1d, key: {given}}}\n"
        f"  - {{name: two, type: heartbeat, period: 1d, key: {given}}}\n",
    )
    with sessions() as db:
        ensure_key(db, "one", given)
        with pytest.raises(ConflictError, match='already used by heartbeat "one"'):
            ensure_key(db, "two", given)
    check = HeartbeatCheck()
    check.bind(sessions, lambda: T0)
    two = config(name="two", key=given)
    outcome = asyncio.run(check.run(two))
    assert not outcome.ok and 'is already used by heartbeat "one"' in outcome.message


def test_pings_of_a_removed_or_retyped_check_are_refused(sessions: sessionmaker[Session]) -> None:
    declare(sessions, "  - {name: backup, type: heartbeat, period: 1d}\n")
    with sessions() as db:
        key = ensure_key(db, "backup", None).key
    declare(sessions, "  - {name: backup, type: tcp, host: 127.0.0.1, port: 5432}\n")
    with sessions() as db:
        assert heartbeat_of(db, key) is None


def test_late_detection_with_an_injected_clock(sessions: sessionmaker[Session]) -> None:
    declare(sessions, "  - {name: backup, type: heartbeat, period: 1h, grace: 10m}\n")
    now = [datetime.now(UTC)]
    check = HeartbeatCheck()
    check.bind(sessions, lambda: now[0])
    cfg = config(period="1h", grace="10m")
    with sessions() as db:
        record_ping(db, "backup", "success", at=now[0])
        db.commit()
    assert asyncio.run(check.run(cfg)).ok
    now[0] += timedelta(minutes=69)
    assert asyncio.run(check.run(cfg)).ok
    now[0] += timedelta(minutes=2)
    late = asyncio.run(check.run(cfg))
    assert not late.ok and late.message.startswith("late: last success at ")


def test_an_unbound_heartbeat_says_it_needs_the_store() -> None:
    outcome = asyncio.run(HeartbeatCheck().run(config()))
    assert (outcome.ok, outcome.message) == (
        False,
        "heartbeats are judged from the store: run them in a runner",
    )


def test_the_runner_binds_heartbeats_to_its_store_and_clock(
    sessions: sessionmaker[Session],
) -> None:
    declare(sessions, "  - {name: nightly, type: heartbeat, period: 1h, grace: 5m, interval: 1s}\n")
    start = datetime.now(UTC)
    now = [start]

    async def scenario() -> list[str]:
        runner = CheckRunner(sessions, flush_interval=0.1, clock=lambda: now[0])
        events = runner.bus.subscribe()
        task = asyncio.create_task(runner.run())
        seen = [(await asyncio.wait_for(events.get(), 15)).to_status]  # waiting: up
        now[0] = start + timedelta(hours=2)  # no ping for two hours
        seen.append((await asyncio.wait_for(events.get(), 15)).to_status)
        await runner.stop()
        await task
        return seen

    assert asyncio.run(scenario()) == ["up", "down"]
    assert status_of(sessions, "nightly") == "down"


def test_run_now_runs_a_check_outside_its_cadence(sessions: sessionmaker[Session]) -> None:
    declare(sessions, "  - {name: nightly, type: heartbeat, period: 1h}\n")

    async def scenario() -> None:
        runner = CheckRunner(sessions)
        await runner.reload()  # the runner knows the check; without run(), nothing is due
        assert not runner.run_now("no-such-check")
        with sessions() as db:
            record_ping(db, "nightly", "fail", exit_status=2)
            db.commit()
        assert runner.run_now("nightly")
        assert not runner.run_now("nightly")  # its run has not finished yet

        async def down() -> bool:
            await runner.flush()
            return await asyncio.to_thread(status_of, sessions, "nightly") == "down"

        await until(down)
        # a finished run is let go (ten thousand checks would keep ten thousand tasks)
        await until(lambda: _no_task(runner, "nightly"))
        assert runner.run_now("nightly")  # and the next one may start
        await runner.stop()

    asyncio.run(scenario())
    with sessions() as db:
        row = db.get(CheckStatus, "nightly")
        assert row is not None and row.last_message.startswith(
            "the job reported a failure (exit status 2) at "
        )


# -- pruning -----------------------------------------------------------------------------------


def test_prune_keeps_the_newest_pings_of_each_kind(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    with sessions() as db:
        for i in range(KEEP_PER_KIND + 5):
            record_ping(db, "busy", "success", at=now - timedelta(minutes=i))
        record_ping(db, "busy", "fail", at=now - timedelta(days=1))
        # Past 90 days: dropped, except the newest of its kind (a yearly job keeps its
        # last success).
        record_ping(db, "yearly", "success", at=now - timedelta(days=200))
        record_ping(db, "yearly", "success", at=now - timedelta(days=365))
        record_ping(db, "yearly", "log", at=now - timedelta(days=100))
        db.commit()
        assert prune_pings(db, now) == 5 + 1
        db.commit()
        rows = db.execute(
            select(HeartbeatPing.name, HeartbeatPing.kind, func.count(), func.max(HeartbeatPing.at))
            .group_by(HeartbeatPing.name, HeartbeatPing.kind)
            .order_by(HeartbeatPing.name, HeartbeatPing.kind)
        ).all()
    assert [(n, k, c) for n, k, c, _ in rows] == [
        ("busy", "fail", 1),
        ("busy", "success", KEEP_PER_KIND),
        ("yearly", "log", 1),
        ("yearly", "success", 1),
    ]
    assert rows[1][3] == now  # the newest success is among those kept
    assert rows[3][3] == now - timedelta(days=200)


async def _no_task(runner: CheckRunner, name: str) -> bool:
    return runner._checks[name].task is None
