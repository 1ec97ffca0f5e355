"""The ``databases`` section's forecasts (:func:`watchkeeper.dbmaint.capacity.capacity`): each
database's size against its ``size_budget`` and the filesystem of its ``disk`` against its
size, read from the same hourly history as the rest of the report.

A database's disk is often a host filesystem the host forecasts already cover (against a
share of its size, e.g. 90%): it is then listed, naming the database, but only the host's
forecast alerts, so one filling disk raises one alert.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import cast

from watchkeeper import forecast
from watchkeeper.dbmaint import capacity
from watchkeeper.dbmaint.config import DatabaseConfig, DatabasesSection
from watchkeeper.releases.capacity.config import CapacitySection
from watchkeeper.releases.capacity.items import Item, judged
from watchkeeper.releases.capacity.projection import Projection
from watchkeeper.releases.capacity.window import Window


def _projection(found: capacity.Projection) -> Projection | None:
    if found.limit is None:
        return None
    return Projection(
        current=found.current,
        limit=found.limit,
        direction="up",
        fit=cast(forecast.FitKind, found.fit),
        per_day=found.growth_per_day,
        sigma=found.sigma,
        points=found.points,
        reaches_at=_seconds(found.reaches_at),
        earliest=_seconds(found.reaches_earliest),
        latest=_seconds(found.reaches_latest),
        history=[(at.timestamp(), v) for at, v in found.history],
        projection=[(at.timestamp(), m, lo, hi) for at, m, lo, hi in found.projection],
    )


def _seconds(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None


def _span(found: capacity.Projection) -> float:
    if len(found.history) < 2:
        return 0.0
    return (found.history[-1][0] - found.history[0][0]).total_seconds()


def database_items(
    window: Window,
    section: CapacitySection,
    databases: DatabasesSection,
    covered: set[tuple[str, str]],
) -> list[Item]:
    """The size and disk forecasts of every database with a ``size_budget`` or a ``disk``;
    ``covered``: the (host, mountpoint) pairs the host forecasts alert on."""
    out: list[Item] = []
    for target in databases.targets:
        if target.size_budget is None and target.disk is None:
            continue
        found = capacity.capacity(
            window.source,
            target,
            now=window.now,
            history=section.history,
            horizon=section.horizon,
            tables=0,
        )
        if target.size_budget is not None:
            out.append(_item(window, section, target, "size", found.size))
        if target.disk is not None:
            place = (target.disk.host, target.disk.mountpoint)
            item = _item(window, section, target, "disk", found.disk)
            out.append(item if place not in covered else replace(item, alerts=False))
    return out


def _item(
    window: Window,
    section: CapacitySection,
    target: DatabaseConfig,
    subject: str,
    found: capacity.Projection | None,
) -> Item:
    host = target.disk.host if subject == "disk" and target.disk is not None else ""
    labels = {"database": target.name, "resource": subject}
    if target.team:
        labels["team"] = target.team
    if host:
        labels["host"] = host
    base = Item(
        kind="database",
        host=host,
        resource=target.name,
        subject=subject,
        unit="bytes",
        alert_within=section.alert_within,
        severity=section.severity,
        labels=labels,
    )
    if found is None:
        return judged(base, None, now=window.now, min_history=section.min_history, span=0.0)
    return judged(
        base,
        _projection(found),
        now=window.now,
        min_history=section.min_history,
        span=_span(found),
    )
