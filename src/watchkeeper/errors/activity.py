"""What new events do to error issues, run every half minute (``errors.activity``) from what
the ingest stored: count them per five minutes, reopen resolved issues that regressed, end
ignores, and settle "resolved in next release".

Safe to run on several replicas at once: counts move from an issue's counter into its
five-minute buckets by a conditional UPDATE of what was counted, and status changes are
conditional UPDATEs of the status they change.

- **Counts**: the events and new users an issue gained since the last run go into the bucket
  of the run's time (so a bucket holds what arrived during it, give or take one run).
- **Regression**: a ``resolved`` issue seen after it was resolved becomes ``unresolved``,
  "regressed in" the release of its latest event.
- **Resolved in next release**: releases are ordered by when the project first saw them. An
  event of the issue from a release newer than the one it was resolved in is a regression in
  that release; otherwise, once the project shows a newer release, the issue is ``resolved``
  in it (and from then on, as above, any later event reopens it).
- **Ignored**: until ``ignore_until_count`` events in all, or until ``ignore_until``; then
  ``unresolved`` again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from watchkeeper.store.tables import (
    ErrorIssue,
    ErrorIssueCount,
    ErrorIssueRelease,
    ErrorIssueTriage,
)

BUCKET_SECONDS = 300
COUNTS_KEPT = timedelta(days=14)
"""Five-minute counts older than this are removed (the longest chart shows 14 days)."""

_C = cast(Table, ErrorIssueCount.__table__)
_T = cast(Table, ErrorIssueTriage.__table__)


@dataclass
class Activity:
    """What one run did (issue ids)."""

    counted: int = 0
    regressed: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    unignored: list[int] = field(default_factory=list)


def bucket_of(at: datetime) -> int:
    """The five-minute bucket holding ``at``."""
    return int(at.timestamp()) // BUCKET_SECONDS


def _insert(db: Session, table: Any) -> Any:
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _add_triage_rows(db: Session) -> None:
    missing = select(ErrorIssue.id).where(
        ~select(ErrorIssueTriage.issue_id)
        .where(ErrorIssueTriage.issue_id == ErrorIssue.id)
        .exists()
    )
    ids = list(db.scalars(missing.limit(5000)))
    if ids:
        rows = [
            {
                "issue_id": i,
                "counted_events": 0,
                "counted_users": 0,
                "changed_by": "",
                "tracker": "",
                "tracker_external_id": "",
                "tracker_url": "",
            }
            for i in ids
        ]
        db.execute(_insert(db, _T).values(rows).on_conflict_do_nothing(index_elements=["issue_id"]))


def _count(db: Session, now: datetime) -> int:
    """Move what issues gained since the last run into the bucket of ``now``."""
    rows = db.execute(
        select(
            ErrorIssue.id,
            ErrorIssue.project_id,
            ErrorIssue.count,
            ErrorIssue.users,
            ErrorIssueTriage.counted_events,
            ErrorIssueTriage.counted_users,
        )
        .join(ErrorIssueTriage, ErrorIssueTriage.issue_id == ErrorIssue.id)
        .where(
            or_(
                ErrorIssue.count != ErrorIssueTriage.counted_events,
                ErrorIssue.users != ErrorIssueTriage.counted_users,
            )
        )
        .order_by(ErrorIssue.id)
    ).all()
    bucket = bucket_of(now)
    moved = 0
    for issue_id, project_id, count, users, counted, counted_users in rows:
        claimed = db.execute(
            update(ErrorIssueTriage)
            .where(
                ErrorIssueTriage.issue_id == issue_id,
                ErrorIssueTriage.counted_events == counted,
                ErrorIssueTriage.counted_users == counted_users,
            )
            .values(counted_events=count, counted_users=users)
        )
        if not getattr(claimed, "rowcount", 0):
            continue  # another replica counted it meanwhile
        events, new_users = max(0, count - counted), max(0, users - counted_users)
        stmt = _insert(db, _C).values(
            issue_id=issue_id,
            bucket=bucket,
            project_id=project_id,
            events=events,
            users=new_users,
        )
        db.execute(
            stmt.on_conflict_do_update(
                index_elements=["issue_id", "bucket"],
                set_={"events": _C.c.events + events, "users": _C.c.users + new_users},
            )
        )
        moved += events
    return moved


def _regress(db: Session, issue: ErrorIssue, release: str | None, now: datetime) -> bool:
    """Reopen ``issue`` (still in the status it was read in) as regressed in ``release``."""
    done = db.execute(
        update(ErrorIssue)
        .where(ErrorIssue.id == issue.id, ErrorIssue.status == issue.status)
        .values(status="unresolved", resolved_at=None, resolved_in_release=None)
    )
    if not getattr(done, "rowcount", 0):
        return False
    db.execute(
        update(ErrorIssueTriage)
        .where(ErrorIssueTriage.issue_id == issue.id)
        .values(regressed_at=now, regressed_in_release=release)
    )
    return True


def _resolved(db: Session, now: datetime, done: Activity) -> None:
    issues = db.scalars(
        select(ErrorIssue).where(
            ErrorIssue.status == "resolved",
            ErrorIssue.resolved_at.is_not(None),
            ErrorIssue.last_seen > ErrorIssue.resolved_at,
        )
    ).all()
    for issue in issues:
        if _regress(db, issue, issue.last_release, now):
            done.regressed.append(issue.id)


def release_firsts(db: Session, project_ids: set[int]) -> dict[int, dict[str, datetime]]:
    """When each project first saw each of its releases."""
    rows = db.execute(
        select(
            ErrorIssue.project_id, ErrorIssueRelease.release, func.min(ErrorIssueRelease.first_seen)
        )
        .join(ErrorIssue, ErrorIssue.id == ErrorIssueRelease.issue_id)
        .where(ErrorIssue.project_id.in_(project_ids))
        .group_by(ErrorIssue.project_id, ErrorIssueRelease.release)
    )
    order: dict[int, dict[str, datetime]] = defaultdict(dict)
    for project_id, release, first in rows:
        order[project_id][release] = first
    return order


def _next_release(db: Session, now: datetime, done: Activity) -> None:
    pending = db.scalars(
        select(ErrorIssue).where(ErrorIssue.status == "resolved_next_release")
    ).all()
    if not pending:
        return
    order = release_firsts(db, {i.project_id for i in pending})
    for issue in pending:
        releases = order.get(issue.project_id, {})
        marked = issue.resolved_at or now
        base = releases.get(issue.resolved_in_release or "")
        newer = sorted(
            ((first, name) for name, first in releases.items() if base is None or first > base),
            key=lambda pair: pair[0],
        )
        if base is None or not newer:
            continue
        names = {name for _, name in newer}
        own = db.execute(
            select(ErrorIssueRelease.release, ErrorIssueRelease.last_seen).where(
                ErrorIssueRelease.issue_id == issue.id,
                ErrorIssueRelease.release.in_(names),
                ErrorIssueRelease.last_seen > marked,
            )
        ).all()
        if own:
            latest = max(own, key=lambda row: (releases[row[0]], row[1]))[0]
            if _regress(db, issue, latest, now):
                done.regressed.append(issue.id)
            continue
        first_seen, name = newer[0]
        changed = db.execute(
            update(ErrorIssue)
            .where(ErrorIssue.id == issue.id, ErrorIssue.status == "resolved_next_release")
            .values(
                status="resolved", resolved_in_release=name, resolved_at=max(first_seen, marked)
            )
        )
        if getattr(changed, "rowcount", 0):
            done.resolved.append(issue.id)


def _ignored(db: Session, now: datetime, done: Activity) -> None:
    rows = db.execute(
        select(ErrorIssue.id)
        .outerjoin(ErrorIssueTriage, ErrorIssueTriage.issue_id == ErrorIssue.id)
        .where(
            ErrorIssue.status == "ignored",
            or_(
                and_(
                    ErrorIssue.ignore_until_count.is_not(None),
                    ErrorIssue.count >= ErrorIssue.ignore_until_count,
                ),
                and_(
                    ErrorIssueTriage.ignore_until.is_not(None),
                    ErrorIssueTriage.ignore_until <= now,
                ),
            ),
        )
    ).all()
    for (issue_id,) in rows:
        changed = db.execute(
            update(ErrorIssue)
            .where(ErrorIssue.id == issue_id, ErrorIssue.status == "ignored")
            .values(status="unresolved", ignore_until_count=None)
        )
        if getattr(changed, "rowcount", 0):
            db.execute(
                update(ErrorIssueTriage)
                .where(ErrorIssueTriage.issue_id == issue_id)
                .values(ignore_until=None)
            )
            done.unignored.append(issue_id)


def _tidy(db: Session, now: datetime) -> None:
    """Remove counts past ``COUNTS_KEPT`` and the rows of issues retention removed (SQLite
    connections made elsewhere may have foreign keys off)."""
    db.execute(delete(ErrorIssueCount).where(ErrorIssueCount.bucket < bucket_of(now - COUNTS_KEPT)))
    gone = ~select(ErrorIssue.id).where(ErrorIssue.id == ErrorIssueTriage.issue_id).exists()
    db.execute(delete(ErrorIssueTriage).where(gone))
    gone_counts = ~select(ErrorIssue.id).where(ErrorIssue.id == ErrorIssueCount.issue_id).exists()
    db.execute(delete(ErrorIssueCount).where(gone_counts))


def advance(db: Session, now: datetime) -> Activity:
    """Count new events and move statuses as of ``now``; commits."""
    done = Activity()
    _add_triage_rows(db)
    done.counted = _count(db, now)
    db.commit()
    _resolved(db, now, done)
    _next_release(db, now, done)
    _ignored(db, now, done)
    _tidy(db, now)
    db.commit()
    return done
