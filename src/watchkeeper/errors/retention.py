"""Keep error tracking's tables bounded: events past ``event_retention``, issues not seen
for ``issue_retention`` (their events, releases and users with them), and old rate windows.

The ingest already keeps at most ``events_per_issue`` events per issue; this hourly job
removes by age, in slices, so that no transaction grows with the size of the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper.errors.config import section_settings
from watchkeeper.plan.stored import stored_section
from watchkeeper.store.tables import (
    ErrorEvent,
    ErrorIssue,
    ErrorIssueRelease,
    ErrorIssueUser,
    ErrorRateWindow,
    utcnow,
)

SLICE = 5000
WINDOWS_KEPT = timedelta(hours=1)


@dataclass(frozen=True)
class Pruned:
    events: int
    issues: int
    windows: int


def _delete_ids(db: Session, table: type[ErrorEvent] | type[ErrorIssue], ids: list[int]) -> int:
    result = db.execute(delete(table).where(table.id.in_(ids)))
    return int(getattr(result, "rowcount", 0) or 0)


def prune(db: Session, now: datetime | None = None) -> Pruned:
    """Remove what is past retention (committing each slice); return how much went."""
    now = now or utcnow()
    section = section_settings(stored_section(db, "errors"))
    events = issues = 0
    event_cutoff = now - section.event_retention
    while ids := list(
        db.scalars(select(ErrorEvent.id).where(ErrorEvent.received_at < event_cutoff).limit(SLICE))
    ):
        events += _delete_ids(db, ErrorEvent, ids)
        db.commit()
    issue_cutoff = now - section.issue_retention
    while ids := list(
        db.scalars(select(ErrorIssue.id).where(ErrorIssue.last_seen < issue_cutoff).limit(SLICE))
    ):
        # Explicitly, not only by the foreign keys' cascade: SQLite connections made
        # elsewhere may have foreign keys off.
        for table in (ErrorEvent, ErrorIssueRelease, ErrorIssueUser):
            db.execute(delete(table).where(table.issue_id.in_(ids)))
        issues += _delete_ids(db, ErrorIssue, ids)
        db.commit()
    minute = int((now - WINDOWS_KEPT).timestamp() // 60)
    result = db.execute(delete(ErrorRateWindow).where(ErrorRateWindow.minute < minute))
    db.commit()
    return Pruned(events, issues, int(getattr(result, "rowcount", 0) or 0))
