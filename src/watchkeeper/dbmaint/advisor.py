"""The advisor: the findings of the latest health collections as one ranked list of
recommendations, each with its evidence and the exact fix, and dismissals.

Ranking: severity first (critical, warning, info), then the space a fix would win
(``impact_bytes``), then database and key, so the order is stable. A dismissal (with a
reason, who, and optionally ``until``) hides its recommendation until ``until`` passes or
the finding gets worse than it was when dismissed: more severe, or its impact more than
:data:`GROWTH` times larger. The health score counts only what is not hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.dbmaint.interface import SEVERITY_RANK
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.store.tables import DbDismissal, DbHealth, utcnow

GROWTH = 1.5
"""A dismissed finding shows again once its impact grows past this factor."""
PENALTY = {"critical": 25, "warning": 10, "info": 2}
MAX_REASON = 2000


@dataclass(frozen=True)
class Dismissal:
    reason: str
    actor: str
    at: datetime
    until: datetime | None


@dataclass(frozen=True)
class Recommendation:
    """One finding of one database, ready to show."""

    database: str
    key: str
    kind: str
    severity: str
    title: str
    evidence: str
    sql: str
    object: str
    impact_bytes: int
    dismissal: Dismissal | None  # set when dismissed and still hidden

    @property
    def dismissed(self) -> bool:
        return self.dismissal is not None


def _rank(finding: Mapping[str, Any]) -> int:
    return SEVERITY_RANK.get(str(finding.get("severity", "info")), len(SEVERITY_RANK))


def _impact(finding: Mapping[str, Any] | None) -> int:
    value = (finding or {}).get("impact_bytes", 0)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def hides(row: DbDismissal | None, finding: Mapping[str, Any], now: datetime) -> bool:
    """True when dismissal ``row`` still hides ``finding`` at ``now`` (not expired, and the
    finding is no worse than when it was dismissed)."""
    if row is None:
        return False
    if row.until is not None and row.until <= now:
        return False
    then = row.finding or {}
    if then and _rank(finding) < _rank(then):
        return False
    before = _impact(then)
    return not (then and _impact(finding) > max(before, 1) * GROWTH)


def score(
    findings: Iterable[Mapping[str, Any]],
    dismissals: Mapping[str, DbDismissal],
    now: datetime,
) -> int:
    """The health score: 100 − 25 per critical − 10 per warning − 2 per info finding that
    no dismissal hides, at least 0."""
    penalty = sum(
        PENALTY.get(str(f.get("severity")), 0)
        for f in findings
        if not hides(dismissals.get(str(f.get("key"))), f, now)
    )
    return max(0, 100 - penalty)


def dismissals_of(db: Session, database: str | None = None) -> dict[tuple[str, str], DbDismissal]:
    """The dismissals by (database, key), of one database or all."""
    query = select(DbDismissal)
    if database is not None:
        query = query.where(DbDismissal.database == database)
    return {(d.database, d.key): d for d in db.scalars(query)}


def rank(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    """Most urgent first: severity, then impact (largest first), then database and key."""
    return sorted(
        recommendations,
        key=lambda r: (
            SEVERITY_RANK.get(r.severity, len(SEVERITY_RANK)),
            -r.impact_bytes,
            r.database,
            r.key,
        ),
    )


def _recommendation(
    database: str, finding: Mapping[str, Any], hidden: DbDismissal | None
) -> Recommendation:
    return Recommendation(
        database=database,
        key=str(finding.get("key", "")),
        kind=str(finding.get("kind", "")),
        severity=str(finding.get("severity", "info")),
        title=str(finding.get("title", "")),
        evidence=str(finding.get("evidence", "")),
        sql=str(finding.get("sql", "")),
        object=str(finding.get("object", "")),
        impact_bytes=_impact(finding),
        dismissal=(
            Dismissal(hidden.reason, hidden.actor, hidden.at, hidden.until) if hidden else None
        ),
    )


def recommendations(
    db: Session,
    database: str | None = None,
    *,
    include_dismissed: bool = False,
    databases: Iterable[str] | None = None,
    now: datetime | None = None,
) -> list[Recommendation]:
    """The ranked recommendations of ``database`` (None: of every database, or of those in
    ``databases`` when given), without the dismissed ones unless ``include_dismissed``."""
    now = now or utcnow()
    query = select(DbHealth)
    if database is not None:
        query = query.where(DbHealth.database == database)
    elif databases is not None:
        query = query.where(DbHealth.database.in_(list(databases)))
    dismissed = dismissals_of(db, database)
    found = []
    for health in db.scalars(query):
        for finding in health.findings or []:
            row = dismissed.get((health.database, str(finding.get("key"))))
            hidden = row if hides(row, finding, now) else None
            if hidden is None or include_dismissed:
                found.append(_recommendation(health.database, finding, hidden))
    return rank(found)


def _finding(db: Session, database: str, key: str) -> tuple[DbHealth, dict[str, Any]]:
    health = db.get(DbHealth, database)
    if health is None:
        raise NotFoundError(f'database "{database}" has not been collected yet')
    for finding in health.findings or []:
        if finding.get("key") == key:
            return health, dict(finding)
    raise NotFoundError(f'database "{database}" has no current recommendation "{key}"')


def _rescore(db: Session, health: DbHealth, now: datetime) -> None:
    found = {d.key: d for d in dismissals_of(db, health.database).values()}
    health.score = score(health.findings or [], found, now)


def dismiss(
    db: Session,
    actor: Actor,
    database: str,
    key: str,
    reason: str,
    *,
    until: datetime | None = None,
    now: datetime | None = None,
) -> DbDismissal:
    """Dismiss recommendation ``key`` of ``database`` with ``reason`` (again: replace the
    reason); raise NotFoundError when the latest collection has no such finding and
    ValidationFailed for an empty reason or an ``until`` in the past. Caller commits."""
    now = now or utcnow()
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("a dismissal needs a reason", [("reason", "must not be empty")])
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            "the reason is too long", [("reason", f"at most {MAX_REASON} characters")]
        )
    if until is not None and until <= now:
        raise ValidationFailed(
            "a dismissal must last into the future", [("until", "must be in the future")]
        )
    health, finding = _finding(db, database, key)
    row = db.get(DbDismissal, (database, key))
    if row is None:
        row = DbDismissal(database=database, key=key)
        db.add(row)
    row.reason, row.actor, row.at, row.until = reason, actor.name[:128], now, until
    row.finding = finding
    db.flush()
    _rescore(db, health, now)
    audit.record(
        db,
        actor,
        "database.recommendation_dismiss",
        f"{database}/{key}",
        {"reason": reason, "until": until.isoformat() if until else None},
    )
    return row


def restore(
    db: Session, actor: Actor, database: str, key: str, *, now: datetime | None = None
) -> None:
    """Show a dismissed recommendation again; raise NotFoundError when it is not dismissed.
    Caller commits."""
    now = now or utcnow()
    row = db.get(DbDismissal, (database, key))
    if row is None:
        raise NotFoundError(f'recommendation "{key}" of database "{database}" is not dismissed')
    db.delete(row)
    db.flush()
    health = db.get(DbHealth, database)
    if health is not None:
        _rescore(db, health, now)
    audit.record(db, actor, "database.recommendation_restore", f"{database}/{key}")
