"""Trend fits over a metric's history, and when they reach a limit.

Two kinds of fit, both by least squares (numpy):

- **linear**: a straight line, ``value = a + b·t``.
- **seasonal**: the same line plus a repeating pattern, for series that swing with the day
  or the week (a table that fills during working hours and is purged at night): one offset
  per hour of the day (``daily``), and per day of the week as well (``weekly``), fitted
  together with the line. A pattern is only tried when the history spans at least two of
  its periods, and only kept when it explains clearly more than the line alone.

Each fit carries the residual standard deviation σ (degrees of freedom taken into account);
the band around a projection is ±2σ, widened with the distance from the fitted history as a
regression's prediction interval is. Times are Unix seconds (floats), UTC; used for database
capacity (:mod:`watchkeeper.dbmaint.capacity`) and, later, host capacity planning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
MIN_PERIODS = 2.0
"""A pattern is fitted only when the history spans at least this many of its periods."""
KEEP_SEASONAL = 0.8
"""A seasonal fit wins only when its σ is below this share of the linear fit's σ."""
Array = npt.NDArray[np.float64]
GRAM_RCOND = 1e-10
"""Singular values of the scaled Gram matrix below this share of the largest count as 0."""
FitKind = Literal["linear", "daily", "weekly"]


@dataclass(frozen=True)
class Fit:
    """A fitted trend (and pattern); see the module docstring."""

    kind: FitKind
    origin: float  # Unix seconds of t = 0 (the first sample)
    intercept: float  # the trend's value at ``origin``
    slope: float  # change per second
    sigma: float  # residual standard deviation
    points: int
    t_mean: float  # mean sample time - origin (the prediction interval widens away from it)
    t_ss: float  # sum of squared deviations of the sample times (seconds²)
    hourly: tuple[float, ...] = ()  # offset per hour of the day (UTC), mean 0
    weekday: tuple[float, ...] = ()  # offset per day of the week (Monday first), mean 0

    @property
    def per_day(self) -> float:
        """The trend's growth per day."""
        return self.slope * DAY

    def trend(self, t: npt.ArrayLike) -> Array:
        """The straight-line part at Unix times ``t``."""
        return self.intercept + self.slope * (np.asarray(t, dtype=np.float64) - self.origin)

    def predict(self, t: npt.ArrayLike) -> Array:
        """The fitted value at Unix times ``t`` (trend plus the pattern's offset)."""
        times = np.asarray(t, dtype=np.float64)
        out = self.trend(times)
        if self.hourly:
            out = out + np.asarray(self.hourly)[_hour_of_day(times)]
        if self.weekday:
            out = out + np.asarray(self.weekday)[_day_of_week(times)]
        return out

    def band(self, t: npt.ArrayLike) -> tuple[Array, Array]:
        """The lower and upper edge of the ±2σ band at Unix times ``t``."""
        times = np.asarray(t, dtype=np.float64)
        mid = self.predict(times)
        if self.t_ss > 0:
            far = (times - self.origin - self.t_mean) ** 2 / self.t_ss
        else:
            far = np.zeros_like(times)
        half = 2.0 * self.sigma * np.sqrt(1.0 + 1.0 / max(self.points, 1) + far)
        return mid - half, mid + half


@dataclass(frozen=True)
class Crossing:
    """When a fit reaches a limit: ``at`` by the fit itself, ``earliest`` by the upper edge
    of its band and ``latest`` by the lower edge (Unix seconds; None: not within the
    horizon)."""

    at: float | None
    earliest: float | None
    latest: float | None


def _hour_of_day(t: Array) -> npt.NDArray[np.intp]:
    return ((t % DAY) // HOUR).astype(np.intp)


def _day_of_week(t: Array) -> npt.NDArray[np.intp]:
    # 1970-01-01 was a Thursday: shift so that Monday is 0.
    return (((t // DAY) + 3) % 7).astype(np.intp)


def _clean(ts: npt.ArrayLike, values: npt.ArrayLike) -> tuple[Array, Array]:
    times = np.asarray(ts, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    if times.shape != vals.shape:
        raise ValueError("times and values differ in length")
    keep = np.isfinite(times) & np.isfinite(vals)
    times, vals = times[keep], vals[keep]
    order = np.argsort(times, kind="stable")
    return times[order], vals[order]


def _one_hot(index: npt.NDArray[np.intp], width: int) -> Array:
    out = np.zeros((len(index), width))
    out[np.arange(len(index)), index] = 1.0
    return out


def _solve(
    kind: FitKind, times: Array, values: Array, parts: list[tuple[npt.NDArray[np.intp], int]]
) -> Fit:
    """Least squares of ``values`` on [1, t, one-hot of each part]; the parts' offsets are
    centred on the buckets seen (buckets never seen get offset 0)."""
    origin = float(times[0])
    rel = (times - origin) / DAY  # days: keeps the matrix well conditioned
    columns = [np.ones_like(rel), rel]
    columns += [c for index, width in parts for c in _one_hot(index, width).T]
    matrix = np.column_stack(columns)
    coef, rank = _least_squares(matrix, values)
    residual = values - matrix @ coef
    dof = len(values) - int(rank)
    sigma = float(np.sqrt(residual @ residual / dof)) if dof > 0 else 0.0
    intercept = float(coef[0])
    offsets: list[tuple[float, ...]] = []
    at = 2
    for index, width in parts:
        raw = coef[at : at + width].copy()
        seen = np.bincount(index, minlength=width) > 0
        centre = float(raw[seen].mean())
        raw[seen] -= centre
        raw[~seen] = 0.0
        intercept += centre
        offsets.append(tuple(float(v) for v in raw))
        at += width
    deviations = times - times.mean()
    return Fit(
        kind=kind,
        origin=origin,
        intercept=intercept,
        slope=float(coef[1]) / DAY,
        sigma=sigma,
        points=len(values),
        t_mean=float(times.mean() - origin),
        t_ss=float(deviations @ deviations),
        hourly=offsets[0] if offsets else (),
        weekday=offsets[1] if len(offsets) > 1 else (),
    )


def _least_squares(matrix: Array, values: Array) -> tuple[Array, int]:
    """The minimum-norm least-squares coefficients and the rank of ``matrix``, solved on its
    small Gram matrix (columns scaled to unit norm, so a bucket never seen or the one-hot
    columns' dependence on the intercept show as singular values near 0, far below
    ``GRAM_RCOND``). The tall matrix is never handed to LAPACK or BLAS: OpenBLAS threads
    the SVD and the product of a 721 × 33 matrix, and on a busy machine they then took 35
    and 11 ms instead of 0.4 and 0.7 (the Gram matrix by einsum, the 33 × 33 solve)."""
    norms = np.sqrt((matrix * matrix).sum(axis=0))
    norms[norms == 0] = 1.0
    scaled = matrix / norms
    gram = np.einsum("ij,ik->jk", scaled, scaled)  # not BLAS: see above
    coef, _, rank, _ = np.linalg.lstsq(gram, scaled.T @ values, rcond=GRAM_RCOND)
    # One step of refinement on the residual wins back the digits the Gram matrix loses
    # (an exact line of 10 GiB values keeps σ under a thousandth of a byte).
    fix = np.linalg.lstsq(gram, scaled.T @ (values - scaled @ coef), rcond=GRAM_RCOND)[0]
    return (coef + fix) / norms, int(rank)


def fit_linear(ts: npt.ArrayLike, values: npt.ArrayLike) -> Fit | None:
    """Return the least-squares straight line through the samples; None when they hold
    fewer than two distinct times (non-finite samples are ignored)."""
    times, vals = _clean(ts, values)
    if len(np.unique(times)) < 2:
        return None
    return _solve("linear", times, vals, [])


def fit_seasonal(ts: npt.ArrayLike, values: npt.ArrayLike, kind: FitKind) -> Fit | None:
    """Return the line plus the ``daily`` (hour of day) or ``weekly`` (hour of day and day
    of week) pattern; None when the history spans fewer than two periods or has too few
    samples for the pattern's offsets."""
    times, vals = _clean(ts, values)
    if len(times) < 2:
        return None
    period = DAY if kind == "daily" else WEEK
    if times[-1] - times[0] < MIN_PERIODS * period:
        return None
    parts = [(_hour_of_day(times), 24)]
    if kind == "weekly":
        parts.append((_day_of_week(times), 7))
    params = 2 + sum(width for _, width in parts)
    if len(times) < 2 * params:
        return None
    return _solve(kind, times, vals, parts)


def best_fit(ts: npt.ArrayLike, values: npt.ArrayLike) -> Fit | None:
    """Return the linear fit, or a seasonal one when the history allows it and it cuts σ
    below ``KEEP_SEASONAL`` of the linear σ; None without two distinct times."""
    linear = fit_linear(ts, values)
    if linear is None:
        return None
    _, clean = _clean(ts, values)
    scale = max(float(np.abs(clean).max()), 1.0)
    if linear.sigma <= 1e-9 * scale:  # an exact line: nothing left for a pattern to explain
        return linear
    best = linear
    kinds: tuple[FitKind, ...] = ("daily", "weekly")
    for kind in kinds:
        candidate = fit_seasonal(ts, values, kind)
        if candidate is not None and candidate.sigma < KEEP_SEASONAL * best.sigma:
            best = candidate
    return best


def _first_at_or_above(
    f: Callable[[Array], Array], limit: float, start: float, end: float, steps: int = 2048
) -> float | None:
    """The first time in [start, end] at which ``f`` reaches ``limit``: found on a grid,
    then narrowed by bisection (to a second)."""
    grid = np.linspace(start, end, steps + 1)
    above = np.flatnonzero(f(grid) >= limit)
    if len(above) == 0:
        return None
    i = int(above[0])
    if i == 0:
        return start
    lo, hi = float(grid[i - 1]), float(grid[i])
    while hi - lo > 1.0:
        mid = (lo + hi) / 2
        if float(f(np.array([mid]))[0]) >= limit:
            hi = mid
        else:
            lo = mid
    return hi


def _line_crossing(fit: Fit, limit: float, start: float, end: float) -> float | None:
    now = float(fit.trend(np.array([start]))[0])
    if now >= limit:
        return start
    if fit.slope <= 0:
        return None
    at = fit.origin + (limit - fit.intercept) / fit.slope
    return at if at <= end else None


def reaches(fit: Fit, limit: float, start: float, horizon: float) -> Crossing:
    """When ``fit`` first reaches ``limit`` between ``start`` and ``start + horizon``
    (seconds): by the fit, and by the upper and lower edges of its band."""
    end = start + horizon
    # A seasonal fit jumps at every hour: a grid point in each hour, so none is stepped over.
    steps = 2048 if fit.kind == "linear" else max(int(2 * horizon // HOUR), 1)
    if fit.kind == "linear":
        at = _line_crossing(fit, limit, start, end)
    else:
        at = _first_at_or_above(fit.predict, limit, start, end, steps)
    earliest = _first_at_or_above(lambda t: fit.band(t)[1], limit, start, end, steps)
    latest = _first_at_or_above(lambda t: fit.band(t)[0], limit, start, end, steps)
    return Crossing(at, earliest, latest)
