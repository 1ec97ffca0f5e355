"""Helpers of the triage and error-alert tests: events stored straight through the ingest's
storage at fixed times (no HTTP, no wall clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.errors.support import exception_event, new_id
from watchkeeper.errors.events import prepare_event
from watchkeeper.errors.scrub import Scrubber
from watchkeeper.errors.storage import store_batch
from watchkeeper.store.tables import ErrorEvent, ErrorIssue

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BUG = [("shop.views", "checkout", 10), ("shop.cart", "total", 42)]
OTHER_BUG = [("shop.views", "login", 5)]


def store(
    db: Session,
    project_id: int,
    at: datetime,
    *,
    release: str | None = None,
    frames: list[tuple[str, str, int]] | None = None,
    user: str | None = None,
) -> ErrorIssue:
    """Store one event of the bug in ``frames`` that happened at ``at``; return its issue."""
    event = exception_event(frames=frames or BUG, timestamp=at.timestamp())
    if release:
        event["release"] = release
    if user:
        event["user"] = {"id": user}
    event_id = new_id()
    prepared = prepare_event(
        event,
        project_id=project_id,
        event_id=event_id,
        scrubber=Scrubber([]),
        received=at,
        oldest=timedelta(days=30),
        client_ip="",
    )
    store_batch(db, [prepared], teams={}, windows={}, keep_per_issue=100)
    db.commit()
    issue_id = db.scalar(select(ErrorEvent.issue_id).where(ErrorEvent.event_id == event_id))
    issue = db.get(ErrorIssue, issue_id)
    assert issue is not None
    db.refresh(issue)
    return issue


def issue(db: Session, issue_id: int) -> ErrorIssue:
    db.expire_all()
    found = db.get(ErrorIssue, issue_id)
    assert found is not None
    return found
