"""Hosts known from their agents, for the UI: the list with each host's current CPU,
memory and fullest disk, and one host with its inventory.

The list reads one page of ``hosts`` rows, then the few series it needs for all of those
hosts in one store read: never one read per host.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.metrics.labels import Matcher
from watchkeeper.metrics.source import SeriesData, SeriesSource
from watchkeeper.store.tables import Host, utcnow

STALE_AFTER_INTERVALS = 3
DEFAULT_INTERVAL = 10.0
LOOKBACK_MS = 5 * 60_000  # as PromQL: a value older than 5 minutes is no current value
CURRENT_METRICS = (
    "node_cpu_seconds_total",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_avail_bytes",
)


@dataclass(frozen=True)
class HostRow:
    """One host as the list shows it; percentages are fractions (0..1), None when the
    host sent no recent data for them."""

    name: str
    os: str
    agent_version: str
    first_seen: datetime
    last_seen: datetime
    interval: float
    stale: bool
    cpu: float | None = None
    memory: float | None = None
    disk: float | None = None
    disk_mount: str | None = None


@dataclass(frozen=True)
class HostList:
    rows: list[HostRow]
    total: int
    stale: int


def os_label(inventory: dict[str, Any]) -> str:
    """ "Debian GNU/Linux 12 (bookworm)" from the inventory's ``os``; "" when unknown."""
    found = inventory.get("os")
    if not isinstance(found, dict):
        return ""
    return " ".join(str(found.get(k) or "") for k in ("name", "version")).strip()


def _row(host: Host, now: datetime) -> HostRow:
    interval = host.inventory.get("interval_seconds")
    every = float(interval) if isinstance(interval, int | float) and interval > 0 else None
    every = every or DEFAULT_INTERVAL
    return HostRow(
        name=host.name,
        os=os_label(host.inventory),
        agent_version=host.agent_version,
        first_seen=host.first_seen,
        last_seen=host.last_seen,
        interval=every,
        stale=now - host.last_seen > timedelta(seconds=STALE_AFTER_INTERVALS * every),
    )


def list_hosts(
    db: Session,
    source: SeriesSource,
    *,
    query: str = "",
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
) -> HostList:
    """Return one page of hosts (by name; ``query``: name contains) with current values."""
    now = now or utcnow()
    where = [Host.name.contains(query, autoescape=True)] if query else []
    total = db.scalar(select(func.count()).select_from(Host).where(*where)) or 0
    hosts = db.scalars(
        select(Host).where(*where).order_by(Host.name).limit(per_page).offset((page - 1) * per_page)
    ).all()
    rows = [_row(h, now) for h in hosts]
    current = current_values(source, [r.name for r in rows], now)
    rows = [replace(r, **current.get(r.name, {})) for r in rows]
    return HostList(rows, total, sum(1 for r in rows if r.stale))


def current_values(
    source: SeriesSource, names: list[str], now: datetime
) -> dict[str, dict[str, Any]]:
    """Return per host name: ``cpu`` (busy fraction over the last minute or so), ``memory``
    (used fraction), ``disk`` and ``disk_mount`` (the fullest filesystem), from one read."""
    if not names:
        return {}
    end = int(now.timestamp() * 1000)
    matchers = [
        Matcher("__name__", "=~", "|".join(CURRENT_METRICS)),
        Matcher("instance", "=~", "|".join(re.escape(n) for n in names)),
        Matcher("job", "=", "agent"),
    ]
    by_host: dict[str, list[SeriesData]] = defaultdict(list)
    for series in source.select(matchers, end - LOOKBACK_MS, end):
        labels = dict(series.labels)
        if labels.get("__name__") == "node_cpu_seconds_total" and labels.get("mode") != "idle":
            continue  # busy = 1 - idle: the other modes are not needed
        by_host[labels["instance"]].append(series)
    return {name: _summarise(series) for name, series in by_host.items()}


def _last(series: SeriesData) -> float | None:
    """The newest real value (a staleness marker or NaN means: no current value)."""
    value = float(series.values[-1])
    return None if math.isnan(value) else value


def _idle_rate(series: SeriesData) -> float | None:
    """Idle seconds per second over the series' last minute (its last two samples at least),
    or None when there are fewer than two samples or the counter went back (a reboot)."""
    keep = ~np.isnan(series.values)
    ts, values = series.ts[keep], series.values[keep]
    if len(ts) < 2:
        return None
    first = max(0, int(np.searchsorted(ts, ts[-1] - 60_000)) - 1)
    first = min(first, len(ts) - 2)
    elapsed = (ts[-1] - ts[first]) / 1000
    delta = values[-1] - values[first]
    if elapsed <= 0 or delta < 0:
        return None
    return float(delta / elapsed)


def _summarise(series: list[SeriesData]) -> dict[str, Any]:
    named: dict[str, list[SeriesData]] = defaultdict(list)
    for one in series:
        named[dict(one.labels).get("__name__", "")].append(one)
    out: dict[str, Any] = {}
    idle = [r for s in named["node_cpu_seconds_total"] if (r := _idle_rate(s)) is not None]
    if idle:
        out["cpu"] = _fraction(1 - sum(idle) / len(idle))
    total = _only(named["node_memory_MemTotal_bytes"])
    available = _only(named["node_memory_MemAvailable_bytes"])
    if total and available is not None:
        out["memory"] = _fraction(1 - available / total)
    sizes = {_mount(s): v for s in named["node_filesystem_size_bytes"] if (v := _last(s))}
    avails = {
        _mount(s): v for s in named["node_filesystem_avail_bytes"] if (v := _last(s)) is not None
    }
    used = {m: 1 - avails[m] / size for m, size in sizes.items() if m in avails}
    if used:
        fullest = max(used, key=lambda m: used[m])
        out["disk"], out["disk_mount"] = _fraction(used[fullest]), fullest
    return out


def _only(series: list[SeriesData]) -> float | None:
    return _last(series[0]) if len(series) == 1 else None


def _mount(series: SeriesData) -> str:
    return dict(series.labels).get("mountpoint", "")


def _fraction(value: float) -> float:
    return min(1.0, max(0.0, value))


def get_host(
    db: Session, source: SeriesSource, name: str, now: datetime | None = None
) -> tuple[HostRow, Host] | None:
    """Return the host's row (with current values) and its stored row (with the
    inventory); None if no agent reported that name."""
    host = db.get(Host, name)
    if host is None:
        return None
    now = now or utcnow()
    current = current_values(source, [name], now).get(name, {})
    return replace(_row(host, now), **current), host
