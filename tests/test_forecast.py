"""Trend fits and their crossings (watchkeeper.forecast) on synthetic histories."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from watchkeeper import forecast
from watchkeeper.forecast import DAY, HOUR

T0 = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
GIB = 1024**3


def _every(seconds: float, days: float) -> np.ndarray:
    return T0 + np.arange(0, days * DAY, seconds)


def test_exact_linear_growth_gives_the_exact_date() -> None:
    ts = _every(300, 30)
    values = 10 * GIB + 0.5 * GIB * (ts - T0) / DAY  # +0.5 GiB a day
    fit = forecast.best_fit(ts, values)
    assert fit is not None and fit.kind == "linear"
    assert fit.per_day == pytest.approx(0.5 * GIB, rel=1e-9)
    assert fit.sigma == pytest.approx(0, abs=1e-3)
    # 10 GiB + 0.5 GiB/day reaches 100 GiB after exactly 180 days
    crossing = forecast.reaches(fit, 100 * GIB, float(ts[-1]), 365 * DAY)
    assert crossing.at == pytest.approx(T0 + 180 * DAY, abs=1.0)
    # no spread to speak of: the band's edges cross within a minute of the line
    assert crossing.earliest == pytest.approx(T0 + 180 * DAY, abs=60)
    assert crossing.latest == pytest.approx(T0 + 180 * DAY, abs=60)


def test_a_limit_beyond_the_horizon_or_a_shrinking_series_is_never_reached() -> None:
    ts = _every(3600, 10)
    growing = forecast.fit_linear(ts, 100.0 + (ts - T0) / DAY)
    assert growing is not None
    assert forecast.reaches(growing, 1e6, float(ts[-1]), 30 * DAY).at is None
    shrinking = forecast.fit_linear(ts, 1000.0 - (ts - T0) / DAY)
    assert shrinking is not None and shrinking.per_day == pytest.approx(-1.0)
    assert forecast.reaches(shrinking, 2000.0, float(ts[-1]), 365 * DAY).at is None
    # already over the limit: reached now
    assert forecast.reaches(growing, 50.0, float(ts[-1]), DAY).at == float(ts[-1])


def _sawtooth(ts: np.ndarray) -> np.ndarray:
    """Fills up through the day (0..23 GiB by the hour) and is purged at midnight."""
    return ((ts % DAY) // HOUR) * GIB


def test_daily_sawtooth_on_a_trend_is_fitted_seasonally_and_beats_the_line() -> None:
    ts = _every(600, 21)
    noise = np.random.default_rng(7).normal(0, 0.05 * GIB, len(ts))
    trend = 50 * GIB + 2 * GIB * (ts - T0) / DAY
    values = trend + _sawtooth(ts) + noise
    linear = forecast.fit_linear(ts, values)
    best = forecast.best_fit(ts, values)
    assert linear is not None and best is not None
    assert best.kind == "daily"
    assert best.sigma < 0.1 * linear.sigma  # the pattern explains nearly everything
    assert best.per_day == pytest.approx(2 * GIB, rel=0.01)
    # the hour-of-day offsets recover the sawtooth's shape (23 GiB from 00:00 to 23:00)
    assert best.hourly[23] - best.hourly[0] == pytest.approx(23 * GIB, rel=0.01)
    # When does it first reach 200 GiB? The truth: the daily peak (trend + 23 GiB at 23:xx)
    start, limit = float(ts[-1]), 200 * GIB
    grid = np.arange(start, start + 200 * DAY, 60.0)
    truth = grid[np.argmax(50 * GIB + 2 * GIB * (grid - T0) / DAY + _sawtooth(grid) >= limit)]
    seasonal_at = forecast.reaches(best, limit, start, 200 * DAY).at
    linear_at = forecast.reaches(linear, limit, start, 200 * DAY).at
    assert seasonal_at is not None and linear_at is not None
    assert abs(seasonal_at - truth) < HOUR
    assert abs(seasonal_at - truth) < abs(linear_at - truth)


def test_weekly_pattern_is_found_when_the_history_spans_two_weeks() -> None:
    ts = _every(1800, 28)
    weekend = ((((ts // DAY) + 3) % 7) >= 5) * 5.0 * GIB  # Saturday and Sunday: +5 GiB
    values = 20 * GIB + 0.1 * GIB * (ts - T0) / DAY + weekend
    best = forecast.best_fit(ts, values)
    assert best is not None and best.kind == "weekly"
    assert best.weekday[5] - best.weekday[0] == pytest.approx(5 * GIB, rel=0.01)
    assert best.per_day == pytest.approx(0.1 * GIB, rel=0.01)


def test_a_pattern_needs_two_periods_of_history() -> None:
    ts = _every(600, 1.5)
    values = 10 * GIB + _sawtooth(ts)
    assert forecast.fit_seasonal(ts, values, "daily") is None
    assert (
        forecast.fit_seasonal(_every(600, 10), 10 * GIB + _sawtooth(_every(600, 10)), "weekly")
        is None
    )
    best = forecast.best_fit(ts, values)
    assert best is not None and best.kind == "linear"


def test_too_little_history_has_no_fit_and_nan_samples_are_ignored() -> None:
    assert forecast.fit_linear([T0], [1.0]) is None
    assert forecast.best_fit([T0, T0], [1.0, 2.0]) is None
    ts = _every(3600, 2)
    values = 5.0 + (ts - T0) / DAY
    values[3] = np.nan
    fit = forecast.fit_linear(ts, values)
    assert fit is not None and fit.points == len(ts) - 1
    assert fit.per_day == pytest.approx(1.0)


def test_the_band_is_two_sigma_and_widens_away_from_the_history() -> None:
    ts = _every(3600, 10)
    noise = np.random.default_rng(3).normal(0, 10.0, len(ts))
    fit = forecast.fit_linear(ts, 1000.0 + 5 * (ts - T0) / DAY + noise)
    assert fit is not None
    assert fit.sigma == pytest.approx(10.0, rel=0.15)
    middle = T0 + 5 * DAY
    low, high = fit.band([middle, ts[-1] + 300 * DAY])
    assert (high - low)[0] == pytest.approx(4 * fit.sigma, rel=0.02)
    assert (high - low)[1] > 2 * (high - low)[0]
    crossing = forecast.reaches(fit, 3000.0, float(ts[-1]), 3 * 365 * DAY)
    assert crossing.earliest is not None and crossing.at is not None
    assert crossing.latest is not None
    assert crossing.earliest < crossing.at < crossing.latest
