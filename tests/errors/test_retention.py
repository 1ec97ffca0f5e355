"""Retention: events past event_retention, issues past issue_retention, old rate windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.errors.support import exception_event
from watchkeeper.errors.events import prepare_event
from watchkeeper.errors.retention import prune
from watchkeeper.errors.scrub import Scrubber
from watchkeeper.errors.storage import store_batch
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import (
    ErrorEvent,
    ErrorIssue,
    ErrorIssueRelease,
    ErrorIssueUser,
    ErrorRateWindow,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _store(db: Session, kind: str, received: datetime, windows: dict[tuple[int, int], int]) -> None:
    event = exception_event(kind, release="1.0", user={"id": "u"})
    prepared = prepare_event(
        event,
        project_id=1,
        event_id=event["event_id"],
        scrubber=Scrubber(),
        received=received,
        oldest=timedelta(days=365),
        client_ip="",
    )
    store_batch(db, [prepared], teams={}, windows=windows, keep_per_issue=100)
    db.commit()


def _count(db: Session, table: type) -> int:
    return db.scalar(select(func.count()).select_from(table)) or 0


def test_prune_by_age(db: Session) -> None:
    plan = "errors:\n  event_retention: 7d\n  issue_retention: 30d\n  projects:\n    - name: a\n"
    apply_plan(db, load_plan_text(plan, env={}))
    db.commit()
    minute = int(NOW.timestamp() // 60)
    _store(db, "Ancient", NOW - timedelta(days=40), {(1, minute - 600): 1})
    _store(db, "Old", NOW - timedelta(days=10), {(1, minute): 1})
    _store(db, "Old", NOW - timedelta(days=1), {})
    _store(db, "Fresh", NOW - timedelta(hours=1), {})
    gone = prune(db, now=NOW)
    assert (gone.events, gone.issues, gone.windows) == (2, 1, 1)
    titles = set(db.scalars(select(ErrorIssue.title)))
    assert titles == {"Old: bad value", "Fresh: bad value"}
    assert _count(db, ErrorEvent) == 2
    assert _count(db, ErrorIssueRelease) == 2 and _count(db, ErrorIssueUser) == 2
    assert list(db.scalars(select(ErrorRateWindow.minute))) == [minute]
