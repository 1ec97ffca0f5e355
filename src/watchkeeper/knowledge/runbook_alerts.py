"""``RunbookReviewDue``: Watchkeeper's own alert about a runbook nobody has confirmed correct
within its review period, routed like any other alert.

One alert per runbook, labelled ``runbook`` (its slug), ``owner`` (when the front matter
names one, for routing) and ``severity`` (``runbooks.alert_severity``). It resolves when the
runbook is reviewed, deleted, or its period is lengthened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.internal import INTERNAL_RULE, raise_internal, resolve_internal
from watchkeeper.plan.types import format_duration
from watchkeeper.store.tables import Alert

REVIEW_DUE = "RunbookReviewDue"


@dataclass(frozen=True)
class DueRunbook:
    """What the alert says about one runbook past its review period."""

    slug: str
    title: str
    owner: str
    last_reviewed_at: datetime
    last_reviewed_by: str
    review_period: timedelta
    due_at: datetime


def _labels(item: DueRunbook, severity: str) -> dict[str, str]:
    labels = {"runbook": item.slug, "severity": severity}
    if item.owner:
        labels["owner"] = item.owner
    return labels


def _annotations(item: DueRunbook) -> dict[str, str]:
    who = f" by {item.last_reviewed_by}" if item.last_reviewed_by else ""
    return {
        "summary": f'Runbook "{item.title}" is due for review: last confirmed correct on '
        f"{item.last_reviewed_at:%Y-%m-%d}{who}, review period "
        f"{format_duration(item.review_period)}",
        "description": f"Due since {item.due_at:%Y-%m-%d %H:%M} UTC. Read it, fix what is "
        "wrong, then mark it reviewed (still correct).",
        "fix": f"/runbooks/{item.slug}",
    }


def _firing(db: Session) -> dict[str, Alert]:
    return {
        alert.labels.get("runbook", ""): alert
        for alert in db.scalars(
            select(Alert).where(Alert.rule == INTERNAL_RULE, Alert.state == "firing")
        )
        if alert.labels.get("alertname") == REVIEW_DUE
    }


def _resolve(db: Session, alert: Alert, now: datetime) -> None:
    bare = {k: v for k, v in alert.labels.items() if k != "alertname"}
    resolve_internal(db, REVIEW_DUE, bare, now)


def evaluate(db: Session, due: Iterable[DueRunbook], severity: str, now: datetime) -> list[str]:
    """Raise ``RunbookReviewDue`` for each runbook of ``due``, keep the annotations of those
    firing current, resolve it for every other runbook; return the slugs it fires for.
    Caller commits."""
    wanted = {item.slug: item for item in due}
    firing = _firing(db)
    for slug, item in sorted(wanted.items()):
        labels = _labels(item, severity)
        annotations = _annotations(item)
        alert = firing.get(slug)
        if alert is not None and {k: v for k, v in alert.labels.items() if k != "alertname"} != (
            labels
        ):
            _resolve(db, alert, now)  # owner or severity changed: a new alert replaces it
            alert = None
        if alert is None:
            raise_internal(db, REVIEW_DUE, labels, annotations, now)
        elif alert.annotations != annotations:
            alert.annotations = annotations
    for slug, alert in firing.items():
        if slug not in wanted:
            _resolve(db, alert, now)
    return sorted(wanted)


def resolve_for(db: Session, slug: str, now: datetime) -> None:
    """Resolve ``RunbookReviewDue`` for ``slug`` if it fires (reviewed or deleted). Caller
    commits."""
    alert = _firing(db).get(slug)
    if alert is not None:
        _resolve(db, alert, now)
