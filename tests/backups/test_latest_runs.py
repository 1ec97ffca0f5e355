"""The newest runs of a policy as the alerts, the backups page and the compliance evidence
read them: newest started first (the higher id on a tie), of one kind, status and
repository; the first good backup; when a run ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from tests.backups.support import add_run
from watchkeeper.backups.latest_runs import (
    FINISHED,
    ended,
    first_good_backup,
    latest_run,
    latest_runs,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_latest_runs_by_kind_status_and_repository(db: Session) -> None:
    old = add_run(db, "orders-db", started=T0)
    offsite = add_run(db, "orders-db", started=T0 + timedelta(hours=1), repository="offsite")
    tie_a = add_run(db, "orders-db", started=T0 + timedelta(hours=2))
    tie_b = add_run(db, "orders-db", started=T0 + timedelta(hours=2))
    failed = add_run(db, "orders-db", started=T0 + timedelta(hours=3), status="failed")
    add_run(db, "orders-db", started=T0 + timedelta(hours=4), status="running")
    drill = add_run(db, "orders-db", started=T0 + timedelta(hours=5), kind="drill")
    add_run(db, "uploads", started=T0 + timedelta(hours=6))

    assert latest_runs(db, "orders-db", "backup", limit=3) == [tie_b, tie_a, offsite]
    assert latest_runs(db, "orders-db", "backup", repository="local", limit=9) == [
        tie_b,
        tie_a,
        old,
    ]
    assert latest_run(db, "orders-db", "backup", statuses=FINISHED) == failed
    assert latest_run(db, "orders-db", "backup", statuses=("failed",)) == failed
    assert latest_run(db, "orders-db", "drill", repository="local") == drill
    assert latest_run(db, "orders-db", "drill", repository="offsite") is None
    assert first_good_backup(db, "orders-db", "local") == old
    assert first_good_backup(db, "orders-db", "nowhere") is None


def test_a_run_ends_when_it_finished_or_else_when_it_started(db: Session) -> None:
    done = add_run(db, "uploads", started=T0, seconds=90)
    running = add_run(db, "uploads", started=T0, status="running")
    assert ended(done) == T0 + timedelta(seconds=90)
    assert ended(running) == T0
