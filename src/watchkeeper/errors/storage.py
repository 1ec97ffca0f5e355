"""Store a batch of prepared events in one transaction: issues, events, releases, users and
the rate windows, with a few statements per batch rather than per event.

Safe with several replicas writing at once: issues are upserted (``ON CONFLICT DO UPDATE``
adds to their counters in place, nothing is read and written back), other rows inserted
with ``ON CONFLICT DO NOTHING``, and rows are locked in one order. An event whose
``event_id`` the project already has (an SDK's retry) is not counted twice while the first
copy is kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import BigInteger, Table, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from watchkeeper.errors.events import PreparedEvent, compress_payload
from watchkeeper.errors.ratelimit import Window
from watchkeeper.store.tables import (
    ErrorEvent,
    ErrorIssue,
    ErrorIssueRelease,
    ErrorIssueUser,
    ErrorRateWindow,
)

_I = cast(Table, ErrorIssue.__table__)
_E = cast(Table, ErrorEvent.__table__)
_R = cast(Table, ErrorIssueRelease.__table__)
_U = cast(Table, ErrorIssueUser.__table__)
_W = cast(Table, ErrorRateWindow.__table__)


@dataclass
class BatchResult:
    """What a batch did: new issues per project id, duplicates, the windows' totals."""

    stored: dict[int, int] = field(default_factory=dict)  # by project id
    duplicates: dict[int, int] = field(default_factory=dict)
    new_issues: dict[int, int] = field(default_factory=dict)
    totals: dict[Window, int] = field(default_factory=dict)


@cache
def _statements(dialect_name: str) -> dict[str, Any]:
    """The batch's INSERT statements for one dialect, built once: run with a list of rows
    (executemany, which SQLAlchemy sends as multi-row INSERTs) and compiled once."""
    dialect: Any = postgresql if dialect_name == "postgresql" else sqlite
    releases = dialect.insert(_R)
    windows = dialect.insert(_W)
    issues = dialect.insert(_I)
    new = issues.excluded
    newer = new.last_seen >= _I.c.last_seen

    def latest(column: Any, value: Any) -> Any:
        return case((newer, value), else_=column)

    return {
        # One statement makes new issues and adds to existing ones (atomic, so replicas
        # can run it at once); the SET expressions all see the row as it was, and title,
        # culprit, level and last release follow the latest event.
        "issues": issues.on_conflict_do_update(
            index_elements=["project_id", "fingerprint"],
            set_={
                "count": _I.c.count + new.count,
                "last_seen": latest(_I.c.last_seen, new.last_seen),
                "first_seen": case(
                    (new.first_seen < _I.c.first_seen, new.first_seen), else_=_I.c.first_seen
                ),
                "title": latest(_I.c.title, new.title),
                "culprit": latest(_I.c.culprit, new.culprit),
                "level": latest(_I.c.level, new.level),
                "last_release": case(
                    (newer & new.last_release.is_not(None), new.last_release),
                    else_=_I.c.last_release,
                ),
                "first_release": func.coalesce(_I.c.first_release, new.first_release),
            },
        ).returning(_I.c.project_id, _I.c.fingerprint, _I.c.id, _I.c.count),
        "events": dialect.insert(_E)
        .on_conflict_do_nothing(index_elements=["project_id", "event_id"])
        .returning(_E.c.project_id, _E.c.event_id),
        "users": dialect.insert(_U)
        .on_conflict_do_nothing(index_elements=["issue_id", "user_hash"])
        .returning(_U.c.issue_id),
        "releases": releases.on_conflict_do_update(
            index_elements=["issue_id", "release"],
            set_={
                "count": _R.c.count + releases.excluded.count,
                "last_seen": case(
                    (_R.c.last_seen < releases.excluded.last_seen, releases.excluded.last_seen),
                    else_=_R.c.last_seen,
                ),
                "first_seen": case(
                    (_R.c.first_seen > releases.excluded.first_seen, releases.excluded.first_seen),
                    else_=_R.c.first_seen,
                ),
            },
        ),
        "windows": windows.on_conflict_do_update(
            index_elements=["project_id", "minute"],
            set_={"count": _W.c.count + windows.excluded.count},
        ).returning(_W.c.project_id, _W.c.minute, _W.c.count),
    }


def _run(db: Session, name: str, rows: list[dict[str, Any]]) -> list[Any]:
    """Run the statement ``name`` for ``rows``; return the rows it returned."""
    if not rows:
        return []
    stmt = _statements(db.get_bind().dialect.name)[name]
    result = db.execute(stmt, rows)
    return list(result) if name != "releases" else []  # the only one without RETURNING


def _upsert_issues(
    db: Session, groups: dict[tuple[int, str], list[PreparedEvent]], teams: dict[int, str]
) -> dict[tuple[int, str], tuple[int, int]]:
    """Make or update the issues of ``groups``; return ``(project id, fingerprint) ->
    (issue id, count after)``. Rows go in one order (project, fingerprint), as with every
    replica: no deadlock between them."""
    rows = []
    for (project_id, print_), events in sorted(groups.items()):
        first = min(events, key=lambda e: e.occurred_at)
        last = max(events, key=lambda e: e.occurred_at)
        rows.append(
            {
                "project_id": project_id,
                "fingerprint": print_,
                "grouping": last.grouping.kind,
                "title": last.grouping.title,
                "culprit": last.grouping.culprit,
                "level": last.level,
                "status": "unresolved",
                "team": teams.get(project_id, ""),
                "first_seen": first.occurred_at,
                "last_seen": last.occurred_at,
                "count": len(events),
                "users": 0,
                "first_release": first.release,
                "last_release": last.release,
            }
        )
    return {(p, f): (i, n) for p, f, i, n in _run(db, "issues", rows)}


@cache
def _adjust_statement() -> Any:
    """Correct an issue's counters after its events and users were inserted: events that
    were already stored (an SDK's retry) come off, users seen for the first time go on."""
    return (
        update(_I)
        .where(_I.c.id == bindparam("b_id", type_=_I.c.id.type))
        .values(
            count=_I.c.count - bindparam("b_again", type_=BigInteger),
            users=_I.c.users + bindparam("b_users", type_=BigInteger),
        )
    )


def _insert_events(
    db: Session, events: Sequence[PreparedEvent], issue_of: dict[tuple[int, str], int]
) -> set[tuple[int, str]]:
    """Insert the events; return ``(project id, event id)`` of those that were new."""
    new: set[tuple[int, str]] = set()
    rows = [
        {
            "issue_id": issue_of[(e.project_id, e.grouping.fingerprint)],
            "project_id": e.project_id,
            "event_id": e.event_id,
            "received_at": e.received_at,
            "occurred_at": e.occurred_at,
            "level": e.level,
            "release": e.release,
            "environment": e.environment,
            "user_hash": e.user_hash,
            "payload": compress_payload(e.payload),
        }
        for e in events
    ]
    new.update((p, e) for p, e in _run(db, "events", rows))
    return new


def _new_users(db: Session, users: dict[tuple[int, str], datetime]) -> dict[int, int]:
    """Insert the (issue, user hash) pairs not yet known; return new users per issue."""
    counts: dict[int, int] = defaultdict(int)
    rows = [
        {"issue_id": i, "user_hash": h, "first_seen": at} for (i, h), at in sorted(users.items())
    ]
    for (issue_id,) in _run(db, "users", rows):
        counts[issue_id] += 1
    return counts


def _count_releases(
    db: Session, releases: dict[tuple[int, str], tuple[int, datetime, datetime]]
) -> None:
    rows = [
        {"issue_id": i, "release": r, "first_seen": first, "last_seen": last, "count": n}
        for (i, r), (n, first, last) in sorted(releases.items())
    ]
    _run(db, "releases", rows)


def _count_windows(db: Session, windows: dict[Window, int]) -> dict[Window, int]:
    """Add the accepted events to their rate windows; return the windows' totals."""
    rows = [{"project_id": p, "minute": m, "count": n} for (p, m), n in sorted(windows.items())]
    return {(p, m): n for p, m, n in _run(db, "windows", rows)}


def prune_issue_events(db: Session, issue_ids: Iterable[int], keep: int) -> int:
    """Delete the events of each issue but its ``keep`` latest; return how many went."""
    removed = 0
    for issue_id in issue_ids:
        cutoff = (
            select(_E.c.id)
            .where(_E.c.issue_id == issue_id)
            .order_by(_E.c.id.desc())
            .offset(keep - 1)
            .limit(1)
            .scalar_subquery()
        )
        result = db.execute(delete(_E).where(_E.c.issue_id == issue_id, _E.c.id < cutoff))
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


def store_batch(
    db: Session,
    events: Sequence[PreparedEvent],
    *,
    teams: dict[int, str],
    windows: dict[Window, int],
    keep_per_issue: int,
) -> BatchResult:
    """Store ``events`` and count ``windows``; the caller commits."""
    result = BatchResult()
    groups: dict[tuple[int, str], list[PreparedEvent]] = defaultdict(list)
    for event in events:
        groups[(event.project_id, event.grouping.fingerprint)].append(event)
    issues = _upsert_issues(db, groups, teams)
    issue_of = {k: v[0] for k, v in issues.items()}
    new = _insert_events(db, events, issue_of)
    users: dict[tuple[int, str], datetime] = {}
    releases: dict[tuple[int, str], tuple[int, datetime, datetime]] = {}
    again: dict[int, int] = {}
    for key, group_events in groups.items():
        issue_id, count = issues[key]
        if count == len(group_events):  # the issue was made now
            result.new_issues[key[0]] = result.new_issues.get(key[0], 0) + 1
        for e in group_events:
            if (e.project_id, e.event_id) not in new:
                again[issue_id] = again.get(issue_id, 0) + 1
                result.duplicates[e.project_id] = result.duplicates.get(e.project_id, 0) + 1
                continue
            result.stored[e.project_id] = result.stored.get(e.project_id, 0) + 1
            if e.user_hash and (issue_id, e.user_hash) not in users:
                users[(issue_id, e.user_hash)] = e.occurred_at
            if e.release:
                n, first, last = releases.get(
                    (issue_id, e.release), (0, e.occurred_at, e.occurred_at)
                )
                releases[(issue_id, e.release)] = (
                    n + 1,
                    min(first, e.occurred_at),
                    max(last, e.occurred_at),
                )
    new_users = _new_users(db, users) if users else {}
    adjust = [
        {"b_id": i, "b_again": again.get(i, 0), "b_users": new_users.get(i, 0)}
        for i in sorted(again.keys() | new_users.keys())
    ]
    if adjust:
        db.execute(_adjust_statement(), adjust)
    if releases:
        _count_releases(db, releases)
    # An issue is trimmed back to its latest `keep` events each time its count passes
    # another tenth of `keep` beyond it: not a DELETE per issue in every batch.
    slack = max(1, keep_per_issue // 10)
    crowded = [
        issue_id
        for key, (issue_id, after) in issues.items()
        if after > keep_per_issue and after // slack != (after - len(groups[key])) // slack
    ]
    prune_issue_events(db, crowded, keep_per_issue)
    result.totals = _count_windows(db, windows)
    return result
