"""One series' forecast: the fit (:func:`watchkeeper.forecast.best_fit`: a line, or a line
plus a daily/weekly pattern), when it reaches its limit, and the columns of its chart.

A limit reached from above (``direction: down``: free space, remaining quota) is the same
question asked of the negated series, so everything is computed in "toward the limit"
terms and turned back for display.

The chart's projection follows the fit at most one point per hour. Over longer spans a
seasonal fit's line would zig-zag between whichever hours the points fall on, so each
point there is the fit's peak (toward the limit) over the hours it stands for: the line the
limit is first reached on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from watchkeeper import forecast
from watchkeeper.releases.capacity.config import Direction

Status = Literal["over", "soon", "later", "never"]
CHART_POINTS = 360
PROJECTION_POINTS = 360
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Projection:
    """A series' trend and when it reaches ``limit`` (times are Unix seconds, UTC)."""

    current: float  # the latest value
    limit: float
    direction: Direction
    fit: forecast.FitKind
    per_day: float  # the trend's change per day (in the series' unit, signed)
    sigma: float
    points: int
    reaches_at: float | None  # by the fit; None: not within the horizon
    earliest: float | None  # by the band's edge nearer the limit
    latest: float | None  # by the band's far edge
    history: list[tuple[float, float]]  # thinned for the chart
    projection: list[tuple[float, float, float, float]]  # time, fit, low, high

    def status(self, now: datetime, within: timedelta) -> Status:
        """``over`` (at or past the limit now), ``soon`` (reached within ``within``),
        ``later`` (within the horizon) or ``never``."""
        if self.beyond(self.current):
            return "over"
        if self.reaches_at is None:
            return "never"
        if self.reaches_at <= now.timestamp():
            return "over"
        if self.reaches_at <= (now + within).timestamp():
            return "soon"
        return "later"

    def beyond(self, value: float) -> bool:
        """Whether ``value`` is at or past the limit."""
        return value >= self.limit if self.direction == "up" else value <= self.limit

    def days_left(self, now: datetime) -> float:
        """Days until the fit reaches the limit (0 when it has; inf when not within the
        horizon)."""
        if self.beyond(self.current):
            return 0.0
        if self.reaches_at is None:
            return float("inf")
        return max(self.reaches_at - now.timestamp(), 0.0) / 86_400


def _thin(ts: Array, values: Array, points: int) -> list[tuple[float, float]]:
    if len(ts) > points:
        pick = np.linspace(0, len(ts) - 1, points).round().astype(np.intp)
        ts, values = ts[pick], values[pick]
    return [(float(t), float(v)) for t, v in zip(ts, values, strict=True)]


def chart_span(span: float, crossing: forecast.Crossing, start: float, horizon: float) -> float:
    """How far the chart projects (seconds): as far as the history reaches back (at least a
    week), and past the latest date the limit may be reached; never past the horizon."""
    ahead = max(span, 7 * forecast.DAY)
    reached = [t for t in (crossing.at, crossing.latest, crossing.earliest) if t is not None]
    if reached:
        ahead = max(ahead, (max(reached) - start) * 1.1)
    return min(ahead, horizon)


def _projection(fit: forecast.Fit, start: float, span: float) -> tuple[Array, Array, Array, Array]:
    """Times, fit, lower and upper band edge ("toward the limit" terms) over ``span``."""
    hours = max(int(span // forecast.HOUR), 1)
    if fit.kind == "linear" or hours <= PROJECTION_POINTS:
        times = np.linspace(start, start + span, min(PROJECTION_POINTS, hours + 1))
        low, high = fit.band(times)
        return times, fit.predict(times), low, high
    # Hourly values, then the peak of each group of hours (see the module docstring).
    hourly = start + forecast.HOUR * np.arange(hours + 1, dtype=np.float64)
    low, high = fit.band(hourly)
    mid = fit.predict(hourly)
    groups = np.array_split(np.arange(len(hourly)), PROJECTION_POINTS)
    pick = np.array([g[np.argmax(mid[g])] for g in groups])
    return (
        hourly[pick],
        mid[pick],
        np.array([low[g].max() for g in groups]),
        np.array([high[g].max() for g in groups]),
    )


def project(
    ts: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    limit: float,
    direction: Direction,
    now: datetime,
    horizon: timedelta,
) -> Projection | None:
    """Fit ``values`` at Unix times ``ts`` and find when the fit reaches ``limit`` within
    ``horizon`` of ``now``; None with fewer than two distinct times."""
    times = np.asarray(ts, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    real = np.isfinite(times) & np.isfinite(vals)
    times, vals = times[real], vals[real]
    sign = 1.0 if direction == "up" else -1.0
    fit = forecast.best_fit(times, sign * vals)
    if fit is None:
        return None
    start, span = now.timestamp(), horizon.total_seconds()
    crossing = forecast.reaches(fit, sign * limit, start, span)
    ahead = chart_span(float(times[-1] - times[0]), crossing, start, span)
    at, mid, low, high = _projection(fit, start, ahead)
    if sign < 0:  # back from "toward the limit" terms: the edges swap
        mid, low, high = -mid, -high, -low
    return Projection(
        current=float(vals[-1]),
        limit=limit,
        direction=direction,
        fit=fit.kind,
        per_day=sign * fit.per_day,
        sigma=fit.sigma,
        points=fit.points,
        reaches_at=crossing.at,
        earliest=crossing.earliest,
        latest=crossing.latest,
        history=_thin(times, vals, CHART_POINTS),
        projection=[
            (float(t), float(m), float(lo), float(hi))
            for t, m, lo, hi in zip(at, mid, low, high, strict=True)
        ],
    )


def when(seconds: float | None) -> datetime | None:
    """Unix seconds as an aware UTC datetime (None stays None)."""
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None
