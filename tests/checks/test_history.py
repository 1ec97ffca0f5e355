"""Hourly rollups, retention, and uptime over windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.checks.history import (
    RAW_RETENTION,
    Result,
    hourly,
    rollup_and_prune,
    uptime,
    write_batch,
)
from watchkeeper.checks.state import CheckState
from watchkeeper.store.tables import CheckResult, CheckRollup

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def add(db: Session, name: str, start: datetime, minutes: int, ok_every: int = 1) -> None:
    results = [
        Result(name, start + timedelta(minutes=i), i % ok_every == 0, 10.0 + i, "")
        for i in range(minutes)
    ]
    write_batch(db, results, {name: CheckState("up")}, [])
    db.commit()


def test_rollup_is_idempotent_and_uptime_is_unchanged_by_it(db: Session) -> None:
    add(db, "web", NOW - timedelta(hours=5), 5 * 60, ok_every=4)  # 75 % of runs fail
    before = uptime(db, ["web"], timedelta(hours=24), now=NOW)["web"]
    assert before is not None and abs(before - 0.25) < 0.01
    rollup_and_prune(db, now=NOW)
    rollup_and_prune(db, now=NOW)
    db.commit()
    assert db.scalar(select(func.sum(CheckRollup.runs))) == 4 * 60 + 30  # finished hours only
    after = uptime(db, ["web"], timedelta(hours=24), now=NOW)["web"]
    assert after == before


def test_raw_results_are_pruned_but_uptime_remains(db: Session) -> None:
    add(db, "api", NOW - RAW_RETENTION - timedelta(hours=3), 120)
    rollup_and_prune(db, now=NOW)
    db.commit()
    assert db.scalar(select(func.count()).select_from(CheckResult)) == 0
    assert uptime(db, ["api"], timedelta(days=30), now=NOW)["api"] == 1.0
    assert uptime(db, ["api"], timedelta(hours=24), now=NOW)["api"] is None


def test_uptime_is_none_without_runs(db: Session) -> None:
    assert uptime(db, ["nothing"], timedelta(days=7), now=NOW) == {"nothing": None}


def test_hourly_buckets_are_the_same_before_and_after_rollup(db: Session) -> None:
    add(db, "web", NOW - timedelta(hours=3), 3 * 60, ok_every=2)  # every other run fails
    add(db, "api", NOW - timedelta(minutes=20), 20)
    before = hourly(db, ["web", "api", "idle"], hours=4, now=NOW)
    rollup_and_prune(db, now=NOW)
    db.commit()
    after = hourly(db, ["web", "api", "idle"], hours=4, now=NOW)
    assert before == after
    web = after["web"]
    assert [b.hour.hour for b in web] == [9, 10, 11, 12]
    assert [(b.runs, b.ok_runs) for b in web] == [(30, 15), (60, 30), (60, 30), (30, 15)]
    assert web[1].mean_ms == 10.0 + (30 + 89) / 2  # runs 30..89 of the add() above
    assert [b.runs for b in after["api"]] == [0, 0, 0, 20]
    assert all(b.runs == 0 and b.mean_ms is None for b in after["idle"])
