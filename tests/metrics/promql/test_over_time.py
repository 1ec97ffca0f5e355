"""*_over_time, changes, resets, deriv and predict_linear (cases adapted from Prometheus's
functions.test; windows are (t - range, t])."""

from __future__ import annotations

import math

import pytest

from tests.metrics.promql.loader import approx, instant, load
from watchkeeper.metrics.promql import Engine


@pytest.fixture
def engine() -> Engine:
    return Engine(
        load(
            "10s",
            {
                "metric": "1 2 3 4 5",
                "spread": "0 8 8 2 3",
                "with_nan": "NaN 1 NaN",
                "huge": "9.988465674311579e+307 9.988465674311579e+307",
                "opposite": "-9.988465674311579e+307 9.988465674311579e+307",
                "with_inf": "1 2 3 Inf",
            },
        )
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("avg_over_time(metric[2m])", 3),
        ("sum_over_time(metric[2m])", 15),
        ("count_over_time(metric[2m])", 5),
        ("min_over_time(metric[2m])", 1),
        ("max_over_time(metric[2m])", 5),
        ("present_over_time(metric[2m])", 1),
        ("quantile_over_time(0.5, metric[2m])", 3),
        # 0 8 8 2 3: mean 4.2, squared deviations 52.8 in all, population variance 10.56.
        ("stdvar_over_time(spread[2m])", 10.56),
        ("stddev_over_time(spread[2m])", math.sqrt(10.56)),
        # min and max skip NaN unless every value is NaN.
        ("min_over_time(with_nan[2m])", 1),
        ("max_over_time(with_nan[2m])", 1),
        # The sum of two values near the largest float overflows; the mean does not.
        ("avg_over_time(huge[2m])", 9.988465674311579e307),
        ("avg_over_time(opposite[2m])", 0),
        ("avg_over_time(with_inf[2m])", math.inf),
        # (20s, 60s] holds only 4 and 5.
        ("avg_over_time(metric[40s])", 4.5),
    ],
)
def test_over_time(engine: Engine, query: str, expected: float) -> None:
    assert instant(engine, query, "1m") == approx({"{}": expected})


def test_sum_over_time_propagates_nan(engine: Engine) -> None:
    [value] = instant(engine, "sum_over_time(with_nan[2m])", "1m").values()
    assert math.isnan(value)


def test_last_over_time_keeps_the_metric_name(engine: Engine) -> None:
    assert instant(engine, "last_over_time(metric[2m])", "1m") == {"metric{}": 5}
    assert instant(engine, "last_over_time(metric[5s])", "1m") == {}


def test_quantile_over_time() -> None:
    engine = Engine(
        load(
            "10s",
            {
                'data{test="two"}': "0 1",
                'data{test="three"}': "0 1 2",
                'data{test="uneven"}': "0 1 4",
            },
        )
    )
    # Linear interpolation between the two nearest ranks: for 0 1 4 and q=0.75 the rank is
    # 1.5, halfway between 1 and 4.
    cases = {
        0: (0, 0, 0),
        0.5: (0.5, 1, 1),
        0.75: (0.75, 1.5, 2.5),
        0.8: (0.8, 1.6, 2.8),
        1: (1, 2, 4),
        -1: (-math.inf,) * 3,
        2: (math.inf,) * 3,
    }
    for q, (two, three, uneven) in cases.items():
        result = instant(engine, f"quantile_over_time({q}, data[2m])", "1m")
        assert result == approx(
            {'{test="two"}': two, '{test="three"}': three, '{test="uneven"}': uneven}
        )


def test_changes_and_resets() -> None:
    engine = Engine(
        load(
            "5m",
            {
                'r{path="/foo"}': "1 2 3 0 1 0 0 1 2 0",
                'r{path="/bar"}': "1 2 3 4 5 1 2 3 4 5",
                'r{path="/biz"}': "0 0 0 0 0 1 1 1 1 1",
            },
        )
    )
    # The samples run from 0 to 45m; (45m, 50m] is empty.
    assert instant(engine, "changes(r[5m])", "50m") == {}
    assert instant(engine, "changes(r[6m])", "50m") == {
        '{path="/foo"}': 0,
        '{path="/bar"}': 0,
        '{path="/biz"}': 0,
    }
    assert instant(engine, "changes(r[30m])", "50m") == {
        '{path="/foo"}': 3,  # 0 0 1 2 0
        '{path="/bar"}': 4,  # 1 2 3 4 5
        '{path="/biz"}': 0,
    }
    assert instant(engine, "changes(r[50m])", "50m") == {
        '{path="/foo"}': 7,
        '{path="/bar"}': 8,
        '{path="/biz"}': 1,
    }
    assert instant(engine, "resets(r[20m])", "50m") == {
        '{path="/foo"}': 1,  # 1 2 0
        '{path="/bar"}': 0,
        '{path="/biz"}': 0,
    }
    assert instant(engine, "resets(r[32m])", "50m") == {
        '{path="/foo"}': 2,  # 1 0 0 1 2 0
        '{path="/bar"}': 1,  # 5 1 2 3 4 5
        '{path="/biz"}': 0,
    }


def test_changes_treats_nan_as_equal_to_nan() -> None:
    engine = Engine(load("5m", {'x{a="b"}': "NaN NaN NaN", 'x{a="c"}': "0 NaN 0"}))
    assert instant(engine, "changes(x[20m])", "15m") == {'{a="b"}': 0, '{a="c"}': 2}


@pytest.fixture
def trend() -> Engine:
    return Engine(
        load(
            "5m",
            {
                "reset_middle": "0+10x4 0+10x5",
                "steady": "0+80x10",
                "with_inf": "-Inf 0+80x10 Inf",
            },
        )
    )


def test_deriv(trend: Engine) -> None:
    assert instant(trend, "deriv(steady[50m])", "50m") == approx({"{}": 80 / 300})
    # All eleven samples 0 10 20 30 40 0 10 20 30 40 50 at 0..50m: with x in seconds,
    # covariance 105000 / variance 9900000.
    assert instant(trend, "deriv(reset_middle[100m])", "50m") == approx({"{}": 105000 / 9900000})
    [value] = instant(trend, "deriv(with_inf[100m])", "100m").values()
    assert math.isnan(value)


def test_predict_linear(trend: Engine) -> None:
    # (0, 50m] holds 10 20 30 40 0 10 20 30 40 50: slope 67500 / 7425000 per second, fitted
    # value 37.27 at 50m, so 70 an hour later.
    assert instant(trend, "predict_linear(reset_middle[50m], 3600)", "50m") == approx({"{}": 70})
    assert instant(trend, "predict_linear(reset_middle[50m], 1h)", "50m") == approx({"{}": 70})
    # With @ the window is fixed (all eleven samples) but the prediction still starts from
    # the evaluation time: fitted line 6.818 + 0.010606 x t, at t + 3600.
    slope, intercept = 105000 / 9900000, 6.818181818181818
    for at, seconds in (("50m", 3000), ("10m", 600), ("70m", 4200)):
        result = instant(trend, "predict_linear(reset_middle[55m] @ 3000, 3600)", at)
        assert result == approx({"{}": intercept + slope * (seconds + 3600)})


def test_constant_series_has_zero_slope() -> None:
    engine = Engine(load("1m", {"flat": "5x10", "flat_inf": "Infx10"}))
    assert instant(engine, "deriv(flat[10m])", "10m") == {"{}": 0}
    assert instant(engine, "predict_linear(flat[10m], 600)", "10m") == {"{}": 5}
    [value] = instant(engine, "deriv(flat_inf[10m])", "10m").values()
    assert math.isnan(value)
