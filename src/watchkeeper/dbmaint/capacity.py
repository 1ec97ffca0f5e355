"""Capacity: how fast a database and its largest tables grow, when the database reaches
its ``size_budget``, and when the filesystem holding it (``disk``) fills.

The history is what the service kept in the metrics store (``watchkeeper_db_size_bytes``
and ``watchkeeper_db_table_size_bytes{table}``); the fit is :func:`watchkeeper.forecast.
best_fit` (a straight line, or a line plus a daily/weekly pattern when that explains the
history clearly better), with a ±2σ band. The filesystem's forecast fits its used bytes
(``node_filesystem_size_bytes`` − ``node_filesystem_avail_bytes`` of the host agent, so
what only root may use counts as used) against its latest size. Each projection carries
its history (thinned for a chart) and the projected line with its band.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from watchkeeper import forecast
from watchkeeper.dbmaint.collection import PREFIX
from watchkeeper.dbmaint.config import DatabaseConfig
from watchkeeper.metrics.labels import METRIC_NAME, STALE_NAN_BITS, Matcher
from watchkeeper.metrics.source import SeriesData, SeriesSource

HISTORY = timedelta(days=90)
HORIZON = timedelta(days=365)
TABLES = 5
CHART_POINTS = 300
PROJECTION_POINTS = 60


@dataclass(frozen=True)
class Projection:
    """One series' trend and forecast (times are UTC)."""

    subject: str  # "database", "disk" or the table's name
    current: float  # latest value
    growth_per_day: float
    fit: str  # linear, daily or weekly
    sigma: float
    points: int
    limit: float | None  # the size budget (only for the database)
    reaches_at: datetime | None
    reaches_earliest: datetime | None  # by the upper edge of the band
    reaches_latest: datetime | None  # by the lower edge
    history: list[tuple[datetime, float]]
    projection: list[tuple[datetime, float, float, float]]  # time, fit, low, high


@dataclass(frozen=True)
class Capacity:
    database: str
    size: Projection | None  # None until there are two samples
    tables: list[Projection]
    horizon_days: float
    disk: Projection | None = None  # the filesystem's used bytes against its size
    disk_at: str = ""  # "host:mountpoint" of the plan's ``disk``, when it names one


def _when(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _clean(series: SeriesData) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    keep = series.values.view(np.uint64) != STALE_NAN_BITS
    return series.ts[keep].astype(np.float64) / 1000.0, series.values[keep]


def _thin(
    ts: npt.NDArray[np.float64], values: npt.NDArray[np.float64]
) -> list[tuple[datetime, float]]:
    if len(ts) > CHART_POINTS:
        pick = np.linspace(0, len(ts) - 1, CHART_POINTS).round().astype(np.intp)
        ts, values = ts[pick], values[pick]
    return [
        (datetime.fromtimestamp(float(t), UTC), float(v)) for t, v in zip(ts, values, strict=True)
    ]


def project(
    subject: str,
    ts: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    *,
    now: datetime,
    limit: float | None = None,
    horizon: timedelta = HORIZON,
) -> Projection | None:
    """The trend of one series (Unix seconds, values) and, with ``limit``, when it reaches
    it within ``horizon`` of ``now``; None with fewer than two distinct times."""
    fit = forecast.best_fit(ts, values)
    if fit is None:
        return None
    start, span = now.timestamp(), horizon.total_seconds()
    crossing = forecast.reaches(fit, limit, start, span) if limit is not None else None
    times = np.linspace(start, start + span, PROJECTION_POINTS)
    low, high = fit.band(times)
    mid = fit.predict(times)
    return Projection(
        subject=subject,
        current=float(values[-1]),
        growth_per_day=fit.per_day,
        fit=fit.kind,
        sigma=fit.sigma,
        points=fit.points,
        limit=limit,
        reaches_at=_when(crossing.at) if crossing else None,
        reaches_earliest=_when(crossing.earliest) if crossing else None,
        reaches_latest=_when(crossing.latest) if crossing else None,
        history=_thin(ts, values),
        projection=[
            (datetime.fromtimestamp(float(t), UTC), float(m), float(lo), float(hi))
            for t, m, lo, hi in zip(times, mid, low, high, strict=True)
        ],
    )


def _select(
    source: SeriesSource, name: str, database: str, start: datetime, end: datetime
) -> list[SeriesData]:
    matchers = [Matcher(METRIC_NAME, "=", PREFIX + name), Matcher("database", "=", database)]
    return source.select(matchers, int(start.timestamp() * 1000), int(end.timestamp() * 1000))


def disk_projection(
    source: SeriesSource,
    host: str,
    mountpoint: str,
    *,
    start: datetime,
    now: datetime,
    horizon: timedelta = HORIZON,
) -> Projection | None:
    """When the filesystem at ``mountpoint`` on ``host`` fills: its used bytes (size −
    avail, at the times both were sampled) fitted against its latest size."""
    bounds = int(start.timestamp() * 1000), int(now.timestamp() * 1000)

    def read(name: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        matchers = [
            Matcher(METRIC_NAME, "=", name),
            Matcher("instance", "=", host),
            Matcher("mountpoint", "=", mountpoint),
        ]
        found = source.select(matchers, *bounds)
        return _clean(found[0]) if found else (np.empty(0), np.empty(0))

    size_ts, size = read("node_filesystem_size_bytes")
    avail_ts, avail = read("node_filesystem_avail_bytes")
    common, at_size, at_avail = np.intersect1d(size_ts, avail_ts, return_indices=True)
    if len(common) < 2:
        return None
    used = size[at_size] - avail[at_avail]
    return project("disk", common, used, now=now, limit=float(size[at_size][-1]), horizon=horizon)


def capacity(
    source: SeriesSource,
    target: DatabaseConfig,
    *,
    now: datetime,
    history: timedelta = HISTORY,
    horizon: timedelta = HORIZON,
    tables: int = TABLES,
) -> Capacity:
    """The capacity of ``target``: its size trend against ``size_budget`` and the trends of
    its ``tables`` largest tables, fitted over ``history`` before ``now``."""
    start = now - history
    size = None
    for series in _select(source, "size_bytes", target.name, start, now)[:1]:
        ts, values = _clean(series)
        budget = float(target.size_budget) if target.size_budget is not None else None
        size = project("database", ts, values, now=now, limit=budget, horizon=horizon)
    largest: list[tuple[float, str, npt.NDArray[np.float64], npt.NDArray[np.float64]]] = []
    for series in _select(source, "table_size_bytes", target.name, start, now):
        ts, values = _clean(series)
        if len(ts):
            table = dict(series.labels).get("table", "")
            largest.append((float(values[-1]), table, ts, values))
    largest.sort(key=lambda item: (-item[0], item[1]))
    found = [
        project(table, ts, values, now=now, horizon=horizon)
        for _, table, ts, values in largest[:tables]
    ]
    disk = (
        disk_projection(
            source,
            target.disk.host,
            target.disk.mountpoint,
            start=start,
            now=now,
            horizon=horizon,
        )
        if target.disk is not None
        else None
    )
    return Capacity(
        database=target.name,
        size=size,
        tables=[p for p in found if p is not None],
        horizon_days=horizon.total_seconds() / 86_400,
        disk=disk,
        disk_at=f"{target.disk.host}:{target.disk.mountpoint}" if target.disk else "",
    )


def growth_per_day(
    source: SeriesSource, database: str, *, now: datetime, window: timedelta
) -> float | None:
    """The database's growth per day over the last ``window`` by a straight line (None
    without two samples): the figure the database list shows."""
    for series in _select(source, "size_bytes", database, now - window, now)[:1]:
        ts, values = _clean(series)
        fit = forecast.fit_linear(ts, values)
        return fit.per_day if fit is not None else None
    return None
