"""Aggregation operators with by/without, topk/bottomk, quantile and count_values (cases
adapted from Prometheus's aggregators.test)."""

from __future__ import annotations

import math

import pytest

from tests.metrics.promql.loader import approx, instant, load, ms, range_query, show
from watchkeeper.metrics.promql import Engine, EvaluationError, Vector

REQUESTS = {
    'http_requests{job="api-server", instance="0", group="production"}': "0+10x10",
    'http_requests{job="api-server", instance="1", group="production"}': "0+20x10",
    'http_requests{job="api-server", instance="0", group="canary"}': "0+30x10",
    'http_requests{job="api-server", instance="1", group="canary"}': "0+40x10",
    'http_requests{job="app-server", instance="0", group="production"}': "0+50x10",
    'http_requests{job="app-server", instance="1", group="production"}': "0+60x10",
    'http_requests{job="app-server", instance="0", group="canary"}': "0+70x10",
    'http_requests{job="app-server", instance="1", group="canary"}': "0+80x10",
    'foo{job="api-server", instance="0", region="europe"}': "0+90x10",
    'foo{job="api-server"}': "0+100x10",
}


@pytest.fixture
def engine() -> Engine:
    return Engine(load("5m", REQUESTS))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            'sum by (group) (http_requests{job="api-server"})',
            {'{group="canary"}': 700, '{group="production"}': 300},
        ),
        (
            'SUM(http_requests{job="api-server"}) BY (group)',
            {'{group="canary"}': 700, '{group="production"}': 300},
        ),
        (
            'avg by (group) (http_requests{job="api-server"})',
            {'{group="canary"}': 350, '{group="production"}': 150},
        ),
        (
            'count by (group) (http_requests{job="api-server"})',
            {'{group="canary"}': 2, '{group="production"}': 2},
        ),
        (
            'sum without (instance) (http_requests{job="api-server"})',
            {
                '{group="canary", job="api-server"}': 700,
                '{group="production", job="api-server"}': 300,
            },
        ),
        ('sum by () (http_requests{job="api-server"})', {"{}": 1000}),
        ('sum(http_requests{job="api-server"})', {"{}": 1000}),
        (
            'sum without () (http_requests{job="api-server", group="production"})',
            {
                '{group="production", instance="0", job="api-server"}': 100,
                '{group="production", instance="1", job="api-server"}': 200,
            },
        ),
        (
            # Series without the grouping labels form their own groups.
            'sum without (instance) (http_requests{job="api-server"} or foo)',
            {
                '{group="canary", job="api-server"}': 700,
                '{group="production", job="api-server"}': 300,
                '{job="api-server", region="europe"}': 900,
                '{job="api-server"}': 1000,
            },
        ),
        (
            # Labels that no series has do not show up in the result.
            "sum(http_requests) by (job, nonexistent)",
            {'{job="api-server"}': 1000, '{job="app-server"}': 2600},
        ),
        ("min(http_requests) by (job)", {'{job="api-server"}': 100, '{job="app-server"}': 500}),
        ("max(http_requests) by (job)", {'{job="api-server"}': 400, '{job="app-server"}': 800}),
        ("group(http_requests) by (job)", {'{job="api-server"}': 1, '{job="app-server"}': 1}),
        # 100 .. 800: mean 450, population variance 52500.
        ("stdvar(http_requests)", {"{}": 52500}),
        ("stddev(http_requests)", {"{}": math.sqrt(52500)}),
        (
            "stdvar by (instance) (http_requests)",
            {'{instance="0"}': 50000, '{instance="1"}': 50000},
        ),
    ],
)
def test_aggregations(engine: Engine, query: str, expected: dict[str, float]) -> None:
    assert instant(engine, query, "50m") == approx(expected)


def test_stddev_of_equal_values_is_exactly_zero() -> None:
    engine = Engine(load("5m", {'m{i="0"}': "13.3", 'm{i="1"}': "13.3", 'm{i="2"}': "13.3"}))
    assert instant(engine, "stddev(m)", 0) == {"{}": 0.0}
    assert instant(engine, "stddev_over_time(m[1m])", 0) == {
        '{i="0"}': 0.0,
        '{i="1"}': 0.0,
        '{i="2"}': 0.0,
    }


def test_min_and_max_skip_nan() -> None:
    engine = Engine(
        load(
            "5m",
            {
                'r{instance="0", group="production"}': "1",
                'r{instance="1", group="production"}': "2",
                'r{instance="0", group="canary"}': "NaN",
                'r{instance="1", group="canary"}': "3",
                'r{instance="2", group="canary"}': "4",
            },
        )
    )
    assert instant(engine, "max(r)", 0) == {"{}": 4}
    assert instant(engine, "min by (group) (r)", 0) == {
        '{group="production"}': 1,
        '{group="canary"}': 3,
    }
    [total] = instant(engine, "sum(r)", 0).values()
    assert math.isnan(total)


def top_series(engine: Engine, query: str) -> list[tuple[str, float]]:
    """An instant query's samples in the order returned."""
    result = engine.instant(query, ms("50m"))
    assert isinstance(result, Vector)
    return [(show(s.labels), s.value) for s in result.samples]


@pytest.fixture
def ranked() -> Engine:
    series = {k: v for k, v in REQUESTS.items() if k.startswith("http")}
    series['http_requests{job="api-server", instance="2", group="production"}'] = "NaNx10"
    series["k"] = "3+0x10"
    return Engine(load("5m", series))


def test_topk_and_bottomk_order_and_keep_labels(ranked: Engine) -> None:
    assert top_series(ranked, "topk(3, http_requests)") == [
        ('http_requests{group="canary", instance="1", job="app-server"}', 800),
        ('http_requests{group="canary", instance="0", job="app-server"}', 700),
        ('http_requests{group="production", instance="1", job="app-server"}', 600),
    ]
    assert top_series(ranked, "bottomk(3, http_requests)") == [
        ('http_requests{group="production", instance="0", job="api-server"}', 100),
        ('http_requests{group="production", instance="1", job="api-server"}', 200),
        ('http_requests{group="canary", instance="0", job="api-server"}', 300),
    ]
    # k from a scalar expression; k larger than the group.
    assert top_series(ranked, "topk(scalar(k), http_requests)") == top_series(
        ranked, "topk(3, http_requests)"
    )
    assert len(top_series(ranked, 'topk(99999, http_requests{group="canary"})')) == 4
    assert top_series(ranked, "topk(0, http_requests)") == []


def test_topk_by_group(ranked: Engine) -> None:
    assert dict(top_series(ranked, "topk by (group) (1, http_requests)")) == {
        'http_requests{group="production", instance="1", job="app-server"}': 600,
        'http_requests{group="canary", instance="1", job="app-server"}': 800,
    }


def test_nan_ranks_last_in_topk_and_bottomk(ranked: Engine) -> None:
    for query, first, second in (
        ('topk(3, http_requests{job="api-server", group="production"})', 200, 100),
        ('bottomk(3, http_requests{job="api-server", group="production"})', 100, 200),
    ):
        values = [value for _, value in top_series(ranked, query)]
        assert values[:2] == [first, second] and math.isnan(values[2])


def test_topk_in_a_range_query_picks_per_step() -> None:
    # a leads until 2m, b from 3m on: each series appears only at the steps it is in the top.
    engine = Engine(load("1m", {'m{s="a"}': "10 10 10 0 0", 'm{s="b"}': "5 5 5 20 20"}))
    assert range_query(engine, "topk(1, m)", 0, "4m", "1m") == {
        'm{s="a"}': [10, 10, 10, None, None],
        'm{s="b"}': [None, None, None, 20, 20],
    }


def test_topk_needs_an_integer_k(ranked: Engine) -> None:
    with pytest.raises(EvaluationError, match="overflows int64"):
        ranked.instant("topk(NaN, http_requests)", 0)


def test_quantile() -> None:
    engine = Engine(
        load(
            "10s",
            {
                'data{test="two", point="a"}': "0",
                'data{test="two", point="b"}': "1",
                'data{test="three", point="a"}': "0",
                'data{test="three", point="b"}': "1",
                'data{test="three", point="c"}': "2",
                'data{test="uneven", point="a"}': "0",
                'data{test="uneven", point="b"}': "1",
                'data{test="uneven", point="c"}': "4",
            },
        )
    )
    assert instant(engine, "quantile without (point) (0.8, data)", "1m") == approx(
        {'{test="two"}': 0.8, '{test="three"}': 1.6, '{test="uneven"}': 2.8}
    )
    result = instant(engine, "quantile without (point) (NaN, data)", "1m")
    assert all(math.isnan(v) for v in result.values()) and len(result) == 3


def test_count_values() -> None:
    series = {
        'version{job="api", instance="0", group="production"}': "6",
        'version{job="api", instance="1", group="production"}': "6",
        'version{job="api", instance="2", group="production"}': "6",
        'version{job="api", instance="0", group="canary"}': "8",
        'version{job="api", instance="1", group="canary"}': "8",
        'version{job="app", instance="0", group="production"}': "6",
        'version{job="app", instance="1", group="production"}': "6",
        'version{job="app", instance="0", group="canary"}': "7",
        'version{job="app", instance="1", group="canary"}': "7.5",
    }
    engine = Engine(load("5m", series))
    assert instant(engine, 'count_values("version", version)', "4m") == {
        '{version="6"}': 5,
        '{version="7"}': 1,
        '{version="7.5"}': 1,
        '{version="8"}': 2,
    }
    assert instant(engine, 'count_values without (instance) ("version", version)', "4m") == {
        '{group="production", job="api", version="6"}': 3,
        '{group="canary", job="api", version="8"}': 2,
        '{group="production", job="app", version="6"}': 2,
        '{group="canary", job="app", version="7"}': 1,
        '{group="canary", job="app", version="7.5"}': 1,
    }
    # The value label replaces a label of the same name.
    assert instant(engine, 'count_values by (job, group) ("job", version)', "4m") == {
        '{group="production", job="6"}': 5,
        '{group="canary", job="8"}': 2,
        '{group="canary", job="7"}': 1,
        '{group="canary", job="7.5"}': 1,
    }


def test_sum_by_over_a_range_query_follows_series_coming_and_going() -> None:
    engine = Engine(
        load("1m", {'m{job="a", i="1"}': "1 1 1 _ _", 'm{job="a", i="2"}': "_ _ 2 2 2"})
    )
    # The lookback keeps i="1" visible for 5 minutes after its last sample at 2m.
    assert range_query(engine, "sum by (job) (m)", 0, "4m", "1m") == {'{job="a"}': [1, 1, 3, 3, 3]}
    assert range_query(engine, "count(m)", 0, "4m", "1m") == {"{}": [1, 1, 2, 2, 2]}
