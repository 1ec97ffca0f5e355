"""The capacity report, read from the stored forecasts: what runs out first and when, each
item with its chart's columns. The API, the page and ``watchkeeper capacity report`` all
read it here, so they list the same items in the same order.

Order: past the limit first, then by the date the limit is reached (soonest first), then
those that do not reach it within the horizon, then those without a forecast (too little
history, errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper import globs
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.plan.types import parse_duration
from watchkeeper.releases.capacity import describe
from watchkeeper.releases.capacity.items import STATUSES
from watchkeeper.store.tables import CapacityForecast

KINDS = ("host", "target", "database")


@dataclass(frozen=True)
class ForecastView:
    """One stored forecast, with what it is about in words."""

    id: int
    kind: str
    host: str
    resource: str
    subject: str
    title: str
    unit: str
    direction: str
    status: str
    detail: str
    current: float | None
    limit: float | None
    fit: str
    per_day: float | None
    sigma: float | None
    points: int
    reaches_at: datetime | None
    reaches_earliest: datetime | None
    reaches_latest: datetime | None
    days_left: float | None  # None: not reached within the horizon, or no forecast
    alert_within_s: int
    severity: str
    labels: dict[str, str]
    computed_at: datetime


@dataclass(frozen=True)
class Report:
    items: list[ForecastView]
    counts: dict[str, int]  # every stored item by status (before any filter)
    refreshed_at: datetime | None


def _view(row: CapacityForecast, now: datetime) -> ForecastView:
    days: float | None = None
    if row.status == "over":
        days = 0.0
    elif row.reaches_at is not None:
        days = max((row.reaches_at - now).total_seconds(), 0.0) / 86_400
    return ForecastView(
        id=row.id,
        kind=row.kind,
        host=row.host,
        resource=row.resource,
        subject=row.subject,
        title=describe.title(row.kind, row.host, row.resource, row.subject),
        unit=row.unit,
        direction=row.direction,
        status=row.status,
        detail=row.detail,
        current=row.current,
        limit=row.limit_value,
        fit=row.fit,
        per_day=row.per_day,
        sigma=row.sigma,
        points=row.points,
        reaches_at=row.reaches_at,
        reaches_earliest=row.reaches_earliest,
        reaches_latest=row.reaches_latest,
        days_left=days,
        alert_within_s=row.alert_within_s,
        severity=row.severity,
        labels=dict(row.labels),
        computed_at=row.computed_at,
    )


def _order(view: ForecastView) -> tuple[int, float, str]:
    rank = STATUSES.index(view.status) if view.status in STATUSES else len(STATUSES)
    if view.status in ("over", "soon", "later"):
        rank = 0  # all by date: an item past its limit has 0 days left
    return (rank, view.days_left if view.days_left is not None else 0.0, view.title)


def parse_within(text: str, field: str = "within") -> timedelta:
    """``30d``, ``2w``, ``12h`` as a timedelta; raise ValidationFailed naming ``field``."""
    try:
        return parse_duration(text)
    except ValueError:
        raise ValidationFailed(
            f"invalid {field}", [(field, f'"{text}" is not a duration (use 12h, 30d, 2w)')]
        ) from None


def report(
    db: Session,
    now: datetime,
    *,
    within: timedelta | None = None,
    kind: str | None = None,
    host: str | None = None,
    status: str | None = None,
) -> Report:
    """The stored forecasts in report order; ``within``: only those reaching their limit
    within it (or past it already); ``host``: a host name glob."""
    rows = list(db.scalars(select(CapacityForecast)))
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    views = [_view(row, now) for row in rows]
    if within is not None:
        limit = within.total_seconds() / 86_400
        views = [v for v in views if v.days_left is not None and v.days_left <= limit]
    if kind is not None:
        views = [v for v in views if v.kind == kind]
    if host is not None:
        views = [v for v in views if globs.matches(v.host, host)]
    if status is not None:
        views = [v for v in views if v.status == status]
    refreshed = db.scalar(select(func.max(CapacityForecast.computed_at)))
    return Report(sorted(views, key=_order), counts, refreshed)


def get(db: Session, forecast_id: int, now: datetime) -> tuple[ForecastView, dict[str, Any]]:
    """One forecast and its chart's columns (:func:`chart`); raise NotFoundError if there
    is none with that id (it may have gone at the last refresh)."""
    row = db.get(CapacityForecast, forecast_id)
    if row is None:
        raise NotFoundError(f"there is no capacity forecast {forecast_id} (any more)")
    view = _view(row, now)
    return view, chart(view, row.chart or {})


def chart(view: ForecastView, stored: dict[str, Any]) -> dict[str, Any]:
    """uPlot's columns: ``t`` (Unix seconds), ``value`` (the history), ``fit``, ``low`` and
    ``high`` (the projection and its band), and the ``limit`` with the ``unit``."""
    history = stored.get("history") or []
    ahead = [p for p in stored.get("projection") or [] if not history or p[0] > history[-1][0]]
    gap: list[float | None] = [None] * len(history)
    return {
        "t": [h[0] for h in history] + [p[0] for p in ahead],
        "value": [h[1] for h in history] + [None] * len(ahead),
        "fit": gap + [p[1] for p in ahead],
        "low": gap + [p[2] for p in ahead],
        "high": gap + [p[3] for p in ahead],
        "limit": view.limit,
        "unit": view.unit,
        "title": view.title,
    }
