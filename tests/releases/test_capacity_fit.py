"""Capacity forecasts on synthetic series against answers computed by hand: a straight line,
a daily pattern on a trend, a limit reached from above, flat and declining series.

The series are exact (a line, or a line plus an hourly pattern, sampled on the hour), so the
fit recovers them and the only error left is the root finding: the line's crossing is
solved in closed form, a seasonal one on a grid of two points per hour then by bisection to
one second. A minute of tolerance covers both with room (the daily series carries a trace
of noise, 0.01 against a 0.2 margin at the crossing hour, which moves it by seconds); a
noisy line is checked against the slope's own uncertainty instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from watchkeeper.releases.capacity.projection import PROJECTION_POINTS, project

NOW = datetime(2026, 6, 1, tzinfo=UTC)  # midnight UTC
HOUR, DAY = 3600.0, 86_400.0
HORIZON = timedelta(days=90)
TOLERANCE = 60.0  # seconds; see the module docstring


def _hours(days: int) -> np.ndarray:
    """Hourly Unix times over the ``days`` before NOW (NOW included)."""
    end = NOW.timestamp()
    return np.arange(end - days * DAY, end + 1, HOUR)


def test_a_line_reaches_its_limit_on_the_day_computed_by_hand() -> None:
    ts = _hours(30)
    days = (ts - NOW.timestamp()) / DAY  # 0 now, negative before
    used = 0.50 + 0.01 * days  # 50% now, one point a day
    found = project(ts, used, limit=0.80, direction="up", now=NOW, horizon=HORIZON)
    assert found is not None
    assert found.fit == "linear"
    assert found.per_day == pytest.approx(0.01)
    # (0.80 - 0.50) / 0.01 = 30 days from now.
    assert found.reaches_at == pytest.approx((NOW + timedelta(days=30)).timestamp(), abs=TOLERANCE)
    # An exact line has σ = 0: the band collapses onto it.
    assert found.earliest == pytest.approx(found.reaches_at, abs=TOLERANCE)
    assert found.status(NOW, timedelta(days=14)) == "later"
    assert found.status(NOW, timedelta(days=31)) == "soon"
    assert found.days_left(NOW) == pytest.approx(30, abs=0.001)
    assert len(found.projection) <= PROJECTION_POINTS
    assert found.projection[0][0] == NOW.timestamp()


def test_a_noisy_line_brackets_the_true_date_with_its_band() -> None:
    ts = _hours(30)
    days = (ts - NOW.timestamp()) / DAY
    noise = np.random.default_rng(7).normal(0, 2.0, len(ts))  # GiB
    used = 400 + 5 * days + noise  # 400 GiB now, 5 GiB a day
    found = project(ts, used, limit=500, direction="up", now=NOW, horizon=HORIZON)
    assert found is not None and found.fit == "linear"
    truth = (NOW + timedelta(days=20)).timestamp()  # (500 - 400) / 5
    assert found.reaches_at is not None and found.earliest is not None
    assert found.latest is not None
    assert found.earliest <= truth <= found.latest
    # The slope's standard error over 721 hourly points spread over 30 days is ~0.012 GiB
    # a day: 100 GiB ahead that moves the date by well under half a day.
    assert abs(found.reaches_at - truth) < 0.5 * DAY
    assert found.sigma == pytest.approx(2.0, rel=0.1)


def test_a_daily_pattern_reaches_the_limit_at_its_peak_hour() -> None:
    ts = _hours(28)
    days = (ts - NOW.timestamp()) / DAY
    hour = (ts % DAY) // HOUR
    pattern = 10 * np.cos(2 * np.pi * (hour - 14) / 24)  # peak +10 at 14:00 UTC
    # A trace of noise keeps the weekly fit (exact too on exact data) from tying with it.
    noise = np.random.default_rng(3).normal(0, 0.01, len(ts))
    load = 70 + 1.0 * days + pattern + noise  # trend 70 now, +1 a day
    found = project(ts, load, limit=100, direction="up", now=NOW, horizon=HORIZON)
    assert found is not None
    assert found.fit == "daily"
    assert found.per_day == pytest.approx(1.0, abs=0.001)
    # By hand: within hour h of day d the fit is 70 + d + h/24 (+ up to 1/24 within the
    # hour) + 10·cos(2π(h − 14)/24). Day 19 peaks at 14:59 with 89.62 + 10 < 100; day 20 at
    # 12:xx gives at most 90.54 + 8.66 < 100, and at 13:00 90.54 + 9.66 = 100.2: the limit
    # is first reached when hour 13 of day 20 begins.
    expected = NOW + timedelta(days=20, hours=13)
    assert found.reaches_at == pytest.approx(expected.timestamp(), abs=TOLERANCE)
    # A straight line would have said 30 days: the pattern's peak comes ~10 days sooner.
    assert found.reaches_at < (NOW + timedelta(days=29)).timestamp()
    # The projected line follows the daily peaks toward the limit.
    peak = max(p[1] for p in found.projection)
    assert peak >= 100


def test_a_limit_reached_from_above() -> None:
    ts = _hours(10)
    days = (ts - NOW.timestamp()) / DAY
    free = 200 - 8 * days  # GiB free: 200 now, 8 fewer a day
    found = project(ts, free, limit=40, direction="down", now=NOW, horizon=HORIZON)
    assert found is not None
    assert found.per_day == pytest.approx(-8)
    assert found.reaches_at == pytest.approx((NOW + timedelta(days=20)).timestamp(), abs=60)
    # Projected downward, band below and above the line.
    t, mid, low, high = found.projection[-1]
    assert mid < 200 and low <= mid <= high


@pytest.mark.parametrize("slope", [0.0, -0.002])
def test_flat_or_declining_never_reaches_the_limit(slope: float) -> None:
    ts = _hours(14)
    days = (ts - NOW.timestamp()) / DAY
    used = 0.6 + slope * days
    found = project(ts, used, limit=0.9, direction="up", now=NOW, horizon=HORIZON)
    assert found is not None
    assert found.reaches_at is None
    assert found.status(NOW, timedelta(days=14)) == "never"
    assert found.days_left(NOW) == float("inf")


def test_already_past_the_limit_is_over_whatever_the_trend() -> None:
    ts = _hours(5)
    days = (ts - NOW.timestamp()) / DAY
    used = 0.95 - 0.001 * days  # 95%, slowly falling
    found = project(ts, used, limit=0.9, direction="up", now=NOW, horizon=HORIZON)
    assert found is not None
    assert found.status(NOW, timedelta(days=14)) == "over"
    assert found.days_left(NOW) == 0.0


def test_one_sample_is_no_forecast() -> None:
    ts = np.array([NOW.timestamp()])
    assert project(ts, [1.0], limit=2, direction="up", now=NOW, horizon=HORIZON) is None
