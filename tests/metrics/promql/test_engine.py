"""The engine: result types, range queries evaluated for all steps at once (checked against
one instant query per step), subqueries, limits and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.metrics.promql.loader import Steps, instant, load, ms, range_query, show
from watchkeeper.metrics.labels import make_labels
from watchkeeper.metrics.promql import (
    Engine,
    EvaluationError,
    Matrix,
    PromQLError,
    Scalar,
    String,
    Vector,
)
from watchkeeper.metrics.source import MemorySource


def mixed_source() -> MemorySource:
    """Counters with resets and gaps, gauges with NaN, histogram buckets, at uneven times."""
    rng = np.random.default_rng(7)
    source = MemorySource()
    for job in ("a", "b"):
        for instance in range(3):
            ts = np.cumsum(rng.integers(10_000, 20_000, 400))
            counter = np.cumsum(rng.integers(0, 50, 400)).astype(float)
            counter[200:] -= counter[200]  # a counter reset
            keep = rng.random(400) > 0.1  # scrapes that failed
            labels = {"job": job, "instance": str(instance)}
            source.add(make_labels({"__name__": "c", **labels}), ts[keep], counter[keep])
            gauge = rng.normal(50, 20, 400)
            gauge[rng.random(400) < 0.02] = math.nan
            source.add(make_labels({"__name__": "g", **labels}), ts, gauge)
            for le, share in (("0.1", 0.3), ("0.5", 0.7), ("+Inf", 1.0)):
                bucket = {"__name__": "h_bucket", "le": le, **labels}
                source.add(make_labels(bucket), ts, np.floor(counter * share))
    return source


CONSISTENCY_QUERIES = [
    "c",
    "g offset 2m",
    "rate(c[1m])",
    "increase(c[5m])",
    "delta(g[3m])",
    "irate(c[2m])",
    "idelta(g[2m])",
    "sum by (job) (rate(c[5m]))",
    "avg without (instance) (g)",
    "max(g) - min(g)",
    "count(g > 50)",
    "stddev(g)",
    "topk(2, g)",
    "bottomk by (job) (1, g)",
    "quantile(0.9, g)",
    'count_values("v", round(g / 10))',
    "avg_over_time(g[4m])",
    "min_over_time(g[4m])",
    "stddev_over_time(g[4m])",
    "quantile_over_time(0.25, g[4m])",
    "last_over_time(g[1m])",
    "changes(g[5m])",
    "resets(c[10m])",
    "deriv(g[5m])",
    "predict_linear(c[10m], 600)",
    "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
    "g / on (job, instance) group_left c",
    "g > bool 60",
    'g and on (instance) c{job="a"}',
    'c{job="b"} or g',
    'g unless on (instance) g{instance="1"}',
    "max_over_time(rate(c[1m])[5m:30s])",
    "absent(g > 1000)",
    "timestamp(g)",
    "time() - timestamp(c)",
    "clamp(g, 20, 80)",
    'label_replace(g, "i", "x$1", "instance", "(.*)")',
]


@pytest.mark.parametrize("query", CONSISTENCY_QUERIES)
def test_range_query_matches_an_instant_query_at_each_step(query: str) -> None:
    engine = Engine(mixed_source())
    start, end, step = ms("10m"), ms("60m"), 47_000
    by_range = engine.range(query, start, end, step)
    assert isinstance(by_range, Matrix)
    expected: dict[str, dict[int, float]] = {}
    for t in range(start, end + 1, step):
        result = engine.instant(query, t)
        assert isinstance(result, Vector)
        for sample in result.samples:
            expected.setdefault(show(sample.labels), {})[t] = sample.value
    actual = {
        show(s.labels): dict(zip(s.ts.tolist(), s.values.tolist(), strict=True))
        for s in by_range.series
    }
    assert actual.keys() == expected.keys()
    for key, points in expected.items():
        assert actual[key].keys() == points.keys(), key
        for t, value in points.items():
            got = actual[key][t]
            assert got == value or (math.isnan(got) and math.isnan(value)), (key, t)
    # A range result lists its series by label set.
    assert [s.labels for s in by_range.series] == sorted(s.labels for s in by_range.series)


def test_result_types() -> None:
    engine = Engine(load("1m", {'m{a="x"}': "1 2 3"}))
    assert engine.instant("1 + 1", 5_000) == Scalar(5_000, 2.0)
    assert engine.instant('"hello"', 5_000) == String(5_000, "hello")
    result = engine.instant("m", ms("1m"))
    assert isinstance(result, Vector)
    assert [(s.labels, s.t_ms, s.value) for s in result.samples] == [
        (make_labels({"__name__": "m", "a": "x"}), 60_000, 2.0)
    ]
    # A scalar over a range is one series without labels.
    matrix = engine.range("time() * 2", 0, ms("2m"), ms("1m"))
    assert isinstance(matrix, Matrix)
    [series] = matrix.series
    assert series.labels == () and series.values.tolist() == [0, 120, 240]


def test_subquery_steps_are_aligned_to_multiples_of_the_step() -> None:
    engine = Engine(load("10s", {"metric": "1 2 3 4 5 6 7 8 9"}))
    # At 75s, [1m:20s] takes the inner points at multiples of 20s in (15s, 75s]: 20s, 40s,
    # 60s, where metric (sampled every 10s) is 3, 5 and 7.
    result = engine.instant("metric[1m:20s]", 75_000)
    assert isinstance(result, Matrix)
    [series] = result.series
    assert series.ts.tolist() == [20_000, 40_000, 60_000]
    assert series.values.tolist() == [3, 5, 7]
    assert instant(engine, "sum_over_time(metric[1m:20s])", 75_000) == {"{}": 15}
    # The default step is one minute: (15s, 75s] holds only 60s.
    assert instant(engine, "count_over_time(metric[1m:])", 75_000) == {"{}": 1}
    assert instant(engine, "sum_over_time(metric[50s:10s])", 10_000) == {"{}": 3}
    # offset moves the whole subquery.
    assert instant(engine, "last_over_time(metric[30s:10s] offset 30s)", 80_000) == {"metric{}": 6}


def test_subquery_of_a_rate() -> None:
    engine = Engine(load("15s", {"c": "0+1x100 0+2x100"}))
    # The rate is 1/15 s until the counter restarts at 1515 s, 2/15 s after.
    result = range_query(engine, "max_over_time(rate(c[1m])[10m:1m])", "20m", "40m", "10m")
    assert result == Steps({"{}": [1 / 15, 2 / 15, 2 / 15]})


def test_range_query_limits() -> None:
    engine = Engine(load("1m", {"m": "1"}), max_points=100)
    with pytest.raises(PromQLError) as caught:
        engine.range("m", 0, 101_000, 1_000)
    assert str(caught.value) == (
        "exceeded maximum resolution of 100 points per timeseries. Try decreasing the query "
        "resolution (?step=XX)"
    )
    engine.range("m", 0, 100_000, 1_000)  # 101 steps: start plus 100 more is allowed
    with pytest.raises(PromQLError, match="zero or negative query resolution step"):
        engine.range("m", 0, 1_000, 0)
    with pytest.raises(PromQLError, match="end timestamp must not be before start time"):
        engine.range("m", 1_000, 0, 1_000)
    with pytest.raises(PromQLError) as caught:
        engine.range("m[5m]", 0, 1_000, 1_000)
    assert str(caught.value) == (
        'invalid expression type "range vector" for range query, must be Scalar or instant Vector'
    )


def test_default_resolution_limit_message() -> None:
    engine = Engine(load("1m", {"m": "1"}))
    with pytest.raises(PromQLError, match=r"exceeded maximum resolution of 11,000 points"):
        engine.range("m", 0, 11_001_000, 1_000)


def test_too_many_samples() -> None:
    engine = Engine(load("1m", {'m{i="1"}': "1x100", 'm{i="2"}': "1x100"}), max_samples=150)
    with pytest.raises(EvaluationError, match="too many samples"):
        engine.instant("sum_over_time(m[2h])", ms("100m"))
    assert instant(engine, "sum_over_time(m[1h])", ms("100m")) == {'{i="1"}': 60, '{i="2"}': 60}


def test_empty_results() -> None:
    engine = Engine(load("1m", {}))
    assert engine.instant("nothing", 0) == Vector([])
    assert engine.range("sum(rate(nothing[5m]))", 0, 600_000, 60_000) == Matrix([])
    assert instant(engine, "nothing or vector(1)", 0) == {"{}": 1}
