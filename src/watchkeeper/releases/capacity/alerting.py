"""Watchkeeper's own ``CapacityForecast`` alert, routed like any other alert: one per item
whose fitted trend reaches its limit within its ``alert_within`` (or is past it already),
labelled with what it is about (``host`` and ``resource`` with ``mountpoint`` or
``direction``; ``target`` with ``series``; ``database``), the plan's extra labels and the
severity; its annotations say "full within N d" and when.

It resolves when the forecast no longer reaches the limit within ``alert_within`` plus
:data:`RESOLVE_MARGIN` (so a date hovering at the boundary does not make it flap), when the
trend turns away from the limit, or when the item is gone. While it fires, its annotations
follow the latest forecast. Derived from the forecasts just computed, so whichever replica
runs the capacity service reaches the same alerts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.internal import INTERNAL_RULE, raise_internal, resolve_internal
from watchkeeper.releases.capacity import describe
from watchkeeper.releases.capacity.items import Item
from watchkeeper.releases.capacity.projection import when
from watchkeeper.store.tables import Alert

ALERTNAME = "CapacityForecast"
RESOLVE_MARGIN = 1.1
"""A firing alert resolves only once the date is beyond ``alert_within`` × this."""


def _labels(item: Item) -> dict[str, str]:
    # Empty values are dropped, as raise_internal stores them.
    return {k: v for k, v in {**item.labels, "severity": item.severity}.items() if v != ""}


def _key(labels: dict[str, str]) -> frozenset[tuple[str, str]]:
    return frozenset((k, v) for k, v in labels.items() if k != "alertname")


def describe_alert(item: Item, now: datetime) -> dict[str, str]:
    """Summary, description, ``full_within_days`` and ``reaches_at`` of ``item``'s alert."""
    p = item.projection
    assert p is not None  # only forecasts alert
    what = describe.title(item.kind, item.host, item.resource, item.subject)
    limit = describe.value(p.limit, item.unit)
    at, early, late = when(p.reaches_at), when(p.earliest), when(p.latest)
    days = describe.whole_days(p.days_left(now))
    if item.status == "over":
        summary = f"{what}: at or past its limit of {limit}"
    else:
        summary = f"{what}: reaches its limit of {limit} within {days} d"
    lines = [
        f"{describe.value(p.current, item.unit)} now, {describe.growth(p.per_day, item.unit)} "
        f"({p.fit} fit over {p.points} hourly values, ±2σ band).",
    ]
    if at is not None and item.status != "over":
        spread = ""
        if early is not None:
            spread = f", as early as {describe.day(early)}"
            if late is not None:
                spread = f", between {describe.day(early)} and {describe.day(late)}"
        lines.append(f"Reaches {limit} around {describe.day(at)}{spread}.")
    return {
        "summary": summary,
        "description": " ".join(lines),
        "full_within_days": str(max(days, 0)),
        "reaches_at": at.isoformat() if at is not None else "",
        "fix": "See the capacity report: /capacity",
    }


def _still(item: Item, now: datetime) -> bool:
    """Whether a firing alert for ``item`` keeps firing (within the resolve margin)."""
    p = item.projection
    if p is None or p.reaches_at is None:
        return False
    margin = item.alert_within.total_seconds() * RESOLVE_MARGIN
    return p.reaches_at <= now.timestamp() + margin


def evaluate(db: Session, items: list[Item], now: datetime) -> list[dict[str, str]]:
    """Raise ``CapacityForecast`` for the items due (see the module docstring), bring the
    annotations of those firing up to date, resolve the rest; return the labels of the
    alerts firing. Caller commits."""
    firing = {
        _key(alert.labels): alert
        for alert in db.scalars(
            select(Alert).where(Alert.rule == INTERNAL_RULE, Alert.state == "firing")
        )
        if alert.labels.get("alertname") == ALERTNAME
    }
    kept: list[dict[str, str]] = []
    for item in items:
        if not item.alerts or item.alert_within.total_seconds() <= 0:
            continue
        labels = _labels(item)
        alert = firing.pop(_key(labels), None)
        due = item.status in ("over", "soon")
        if not due and not (alert is not None and _still(item, now)):
            if alert is not None:  # resolved below, with the others
                firing[_key(labels)] = alert
            continue
        notes = describe_alert(item, now)
        if alert is None:
            raise_internal(db, ALERTNAME, labels, notes, now)
        elif alert.annotations != notes:
            alert.annotations = notes
        kept.append(labels)
    for alert in firing.values():
        bare = {k: v for k, v in alert.labels.items() if k != "alertname"}
        resolve_internal(db, ALERTNAME, bare, now)
    return kept
