"""Plan compliance: for every section of the plan, is it being followed right now, with the
evidence, the failing objects and the last time it was; an overall score and its trend.

:func:`evaluate_plan` runs the section evaluators (``plan_sections``) over the applied plan
and the live state tables; :func:`store` keeps the result as a ``plan_compliance``
snapshot, which the plan-compliance service does every minute; :func:`latest` and
:func:`history` read them back (the home page, the API, the CLI).

The overall score is the mean of the scores of the sections that could be judged (each
section counts the same, however many objects it has); sections not in the plan and
sections whose state cannot be read here do not count. A section's ``last_ok`` is carried
from snapshot to snapshot, so pruning old snapshots does not lose it.

Snapshots are kept bounded (:func:`prune`): every one for :data:`KEEP_ALL`, then the first
of each hour, and none older than ``compliance.plan_status.history`` (400 days).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.plan.stored import stored_section
from watchkeeper.security.compliance.config import ComplianceSection, PlanStatusSettings
from watchkeeper.security.compliance.plan_sections import EVALUATORS
from watchkeeper.security.compliance.plan_sections.base import (
    STATUSES,
    Live,
    SectionResult,
    Status,
    Unreadable,
    unknown,
)
from watchkeeper.store.tables import PlanComplianceSnapshot

log = logging.getLogger(__name__)
KEEP_ALL = timedelta(days=2)
"""Every snapshot is kept this long; older ones are thinned to one per hour."""


@dataclass(frozen=True)
class PlanStatus:
    """The whole plan at one moment."""

    evaluated_at: datetime
    score: float | None  # None: no section could be judged
    sections: tuple[SectionResult, ...]
    last_all_ok: datetime | None = None  # the last evaluation at which every section was
    stored: bool = False  # read from a snapshot (else evaluated for this answer only)

    @property
    def followed(self) -> bool:
        """Every section in the plan is followed (none failing, none unknown)."""
        return all(s.status in ("ok", "empty") for s in self.sections)

    def worst_first(self) -> list[SectionResult]:
        return sorted(self.sections, key=lambda s: STATUSES.index(s.status))


def overall_score(sections: list[SectionResult] | tuple[SectionResult, ...]) -> float | None:
    """The mean score of the sections that count (see the module docstring)."""
    scores = [s.score for s in sections if s.counted and s.score is not None]
    return round(sum(scores) / len(scores), 1) if scores else None


def plan_settings(db: Session) -> PlanStatusSettings:
    """The plan's ``compliance.plan_status`` (the defaults when absent or unreadable)."""
    try:
        return ComplianceSection.model_validate(stored_section(db, "compliance")).plan_status
    except ValidationError:
        return PlanStatusSettings()


def _evaluate_section(db: Session, name: str, live: Live) -> SectionResult:
    try:
        with db.begin_nested():  # read-only; a failing query must not spoil the session
            return EVALUATORS[name](db, live)
    except Unreadable as exc:
        return unknown(name, f"Cannot be judged: {exc}.")
    except SQLAlchemyError:
        raise
    except Exception as exc:  # a bug in one evaluator must not hide the other sections
        log.exception("plan compliance: the %s section could not be evaluated", name)
        return unknown(name, f"Cannot be judged: evaluating it failed ({type(exc).__name__}).")


def evaluate_plan(db: Session, live: Live) -> PlanStatus:
    """Judge every section at ``live.now``; ``last_ok`` comes from the latest snapshot."""
    previous = _latest_row(db)
    before = previous.sections if previous is not None else {}
    results = []
    for name in EVALUATORS:
        result = _evaluate_section(db, name, live)
        if result.status == "ok":
            last_ok: datetime | None = live.now
        elif result.status == "empty":
            last_ok = None
        else:
            carried = (before.get(name) or {}).get("last_ok")
            last_ok = datetime.fromisoformat(carried) if carried else None
        results.append(SectionResult(**{**result.__dict__, "last_ok": last_ok}))
    followed = all(r.status in ("ok", "empty") for r in results)
    if followed and any(r.status == "ok" for r in results):
        last_all_ok: datetime | None = live.now
    else:
        carried = (previous.summary or {}).get("last_all_ok") if previous is not None else None
        last_all_ok = datetime.fromisoformat(carried) if carried else None
    return PlanStatus(live.now, overall_score(results), tuple(results), last_all_ok)


def store(db: Session, status: PlanStatus) -> PlanComplianceSnapshot:
    """Keep ``status`` as a snapshot. The caller commits."""
    row = PlanComplianceSnapshot(
        evaluated_at=status.evaluated_at,
        score=status.score,
        sections={s.section: s.to_json() for s in status.sections},
        summary={
            "sections": {s.section: [s.status, s.score] for s in status.sections},
            "last_all_ok": status.last_all_ok.isoformat() if status.last_all_ok else None,
        },
    )
    db.add(row)
    db.flush()
    return row


def _latest_row(db: Session) -> PlanComplianceSnapshot | None:
    return db.scalar(
        select(PlanComplianceSnapshot)
        .order_by(PlanComplianceSnapshot.evaluated_at.desc(), PlanComplianceSnapshot.id.desc())
        .limit(1)
    )


def of_row(row: PlanComplianceSnapshot) -> PlanStatus:
    known = [n for n in EVALUATORS if n in row.sections]
    extra = [n for n in row.sections if n not in EVALUATORS]  # from another version
    sections = tuple(SectionResult.from_json(n, row.sections[n]) for n in known + extra)
    last = (row.summary or {}).get("last_all_ok")
    return PlanStatus(
        row.evaluated_at,
        row.score,
        sections,
        datetime.fromisoformat(last) if last else None,
        stored=True,
    )


def latest(db: Session) -> PlanStatus | None:
    """The latest stored snapshot, or None."""
    row = _latest_row(db)
    return of_row(row) if row is not None else None


@dataclass(frozen=True)
class HistoryPoint:
    """One point of the trend: the overall score and each section's status and score."""

    at: datetime
    score: float | None
    sections: dict[str, tuple[Status, float | None]]


def _worse(
    a: tuple[Status, float | None], b: tuple[Status, float | None]
) -> tuple[Status, float | None]:
    status = min(a[0], b[0], key=STATUSES.index)
    scores = [s for s in (a[1], b[1]) if s is not None]
    return status, min(scores) if scores else None


def history(
    db: Session, since: datetime, until: datetime | None = None, step: timedelta | None = None
) -> list[HistoryPoint]:
    """The snapshots from ``since`` (to ``until``), oldest first; with ``step``, one point
    per step-long bucket holding its worst (lowest score, worst status), so that a dip
    stays visible."""
    query = select(
        PlanComplianceSnapshot.evaluated_at,
        PlanComplianceSnapshot.score,
        PlanComplianceSnapshot.summary,
    ).where(PlanComplianceSnapshot.evaluated_at >= since)
    if until is not None:
        query = query.where(PlanComplianceSnapshot.evaluated_at <= until)
    points: list[HistoryPoint] = []
    for at, score, summary in db.execute(query.order_by(PlanComplianceSnapshot.evaluated_at)):
        sections = {
            name: (value[0], value[1])
            for name, value in ((summary or {}).get("sections") or {}).items()
        }
        point = HistoryPoint(at, score, sections)
        if step is None or not points:
            points.append(_bucketed(point, step))
            continue
        last = points[-1]
        if bucket_of(at, step) != last.at:
            points.append(_bucketed(point, step))
            continue
        scores = [s for s in (last.score, score) if s is not None]
        merged = dict(last.sections)
        for name, value in sections.items():
            merged[name] = _worse(merged[name], value) if name in merged else value
        points[-1] = HistoryPoint(last.at, min(scores) if scores else None, merged)
    return points


def bucket_of(at: datetime, step: timedelta) -> datetime:
    """The start of the ``step``-long bucket (counted from the epoch) ``at`` falls in."""
    seconds = step.total_seconds()
    return datetime.fromtimestamp(at.timestamp() // seconds * seconds, UTC)


def _bucketed(point: HistoryPoint, step: timedelta | None) -> HistoryPoint:
    if step is None:
        return point
    return HistoryPoint(bucket_of(point.at, step), point.score, dict(point.sections))


def prune(db: Session, now: datetime, keep: timedelta) -> int:
    """Delete snapshots older than ``keep``, and thin those older than :data:`KEEP_ALL` to
    the first of each hour; return how many were deleted. The caller commits."""
    removed = db.execute(
        delete(PlanComplianceSnapshot).where(PlanComplianceSnapshot.evaluated_at < now - keep)
    ).rowcount  # type: ignore[attr-defined]
    seen: set[datetime] = set()
    doomed: list[int] = []
    for row_id, at in db.execute(
        select(PlanComplianceSnapshot.id, PlanComplianceSnapshot.evaluated_at)
        .where(PlanComplianceSnapshot.evaluated_at < now - KEEP_ALL)
        .order_by(PlanComplianceSnapshot.evaluated_at, PlanComplianceSnapshot.id)
    ):
        hour = at.replace(minute=0, second=0, microsecond=0)
        if hour in seen:
            doomed.append(row_id)
        else:
            seen.add(hour)
    for i in range(0, len(doomed), 500):
        db.execute(
            delete(PlanComplianceSnapshot).where(PlanComplianceSnapshot.id.in_(doomed[i : i + 500]))
        )
    return int(removed or 0) + len(doomed)


def to_json(status: PlanStatus) -> dict[str, Any]:
    """``status`` as the API and ``--json`` show it."""
    return {
        "evaluated_at": status.evaluated_at.isoformat(),
        "score": status.score,
        "followed": status.followed,
        "last_all_ok": status.last_all_ok.isoformat() if status.last_all_ok else None,
        "stored": status.stored,
        "sections": {s.section: s.to_json() for s in status.sections},
    }
