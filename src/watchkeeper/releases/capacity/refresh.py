"""Redo every capacity forecast: the hosts', the targets' and the databases', stored in
``capacity_forecasts`` (one row per item, kept by its key so its id stays while the item
exists; rows of items gone are deleted), then the ``CapacityForecast`` alerts.

The history is read outside any transaction of the store's (the queries use their own
connections); the rows and the alerts are written in one transaction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.dbmaint.config import DatabasesSection
from watchkeeper.dbmaint.section import load_section as load_databases
from watchkeeper.metrics.store import MetricStore
from watchkeeper.releases.capacity import alerting
from watchkeeper.releases.capacity.config import CapacitySection
from watchkeeper.releases.capacity.databases import database_items
from watchkeeper.releases.capacity.hosts import host_items
from watchkeeper.releases.capacity.items import Item
from watchkeeper.releases.capacity.projection import when
from watchkeeper.releases.capacity.section import load_section
from watchkeeper.releases.capacity.targets import target_items
from watchkeeper.releases.capacity.window import Window
from watchkeeper.store.tables import CapacityForecast


@dataclass(frozen=True)
class Refresh:
    """What one refresh found."""

    items: list[Item]
    firing: list[dict[str, str]]  # labels of the CapacityForecast alerts firing
    seconds: float  # how long it took


def compute(
    store: MetricStore, section: CapacitySection, databases: DatabasesSection, now: datetime
) -> list[Item]:
    """Every item's forecast at ``now`` (one per key: the first wins)."""
    window = Window(store, now, section.history)
    hosts = host_items(window, section)
    covered = {(i.host, i.subject) for i in hosts if i.resource == "disk" and i.alerts}
    found = hosts + target_items(window, section)
    if section.databases:
        found += database_items(window, section, databases, covered)
    unique: dict[str, Item] = {}
    for item in found:
        unique.setdefault(item.key, item)
    return list(unique.values())


def _finite(v: float | None) -> float | None:
    """``v``, or None for NaN and infinities (JSON and the API have no such numbers)."""
    return v if v is not None and math.isfinite(v) else None


def _short(v: float) -> float:
    """Six significant digits: the chart needs no more, and the rows stay small."""
    return float(f"{v:.6g}")


def _chart(item: Item) -> dict[str, list[list[float]]]:
    p = item.projection
    if p is None:
        return {"history": [], "projection": []}
    return {
        "history": [[t, _short(v)] for t, v in p.history],
        "projection": [[t, _short(m), _short(lo), _short(hi)] for t, m, lo, hi in p.projection],
    }


def _fill(row: CapacityForecast, item: Item, now: datetime) -> None:
    p = item.projection
    row.kind = item.kind
    # The key hashes the whole names; the columns keep what fits.
    row.host, row.resource, row.subject = item.host[:200], item.resource[:128], item.subject[:400]
    row.unit, row.direction = item.unit, item.direction
    row.status, row.detail = item.status, item.detail
    row.current, row.limit_value = _finite(item.current), _finite(item.limit)
    row.fit = p.fit if p else ""
    row.per_day, row.sigma, row.points = (p.per_day, p.sigma, p.points) if p else (None, None, 0)
    row.reaches_at = when(p.reaches_at) if p else None
    row.reaches_earliest = when(p.earliest) if p else None
    row.reaches_latest = when(p.latest) if p else None
    row.alert_within_s = int(item.alert_within.total_seconds()) if item.alerts else 0
    row.severity, row.labels = item.severity, dict(item.labels)
    row.chart = _chart(item)
    row.computed_at = now


def save(db: Session, items: list[Item], now: datetime) -> None:
    """Store ``items`` as the current forecasts (see the module docstring). Caller
    commits."""
    existing = {row.key: row for row in db.scalars(select(CapacityForecast))}
    for item in items:
        row = existing.pop(item.key, None)
        if row is None:
            row = CapacityForecast(key=item.key)
            db.add(row)
        _fill(row, item, now)
    for row in existing.values():
        db.delete(row)


def refresh(sessions: Callable[[], Session], store: MetricStore, now: datetime) -> Refresh:
    """Redo, store and alert on every forecast; raise SectionUnreadable when the stored
    ``capacity`` section does not validate."""
    started = time.perf_counter()
    with sessions() as db:
        section, databases = load_section(db), load_databases(db)
    items = compute(store, section, databases, now)
    with sessions() as db:
        save(db, items, now)
        firing = alerting.evaluate(db, items, now)
        db.commit()
    return Refresh(items, firing, time.perf_counter() - started)
