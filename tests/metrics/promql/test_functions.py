"""Functions of instant vectors and scalars: histogram_quantile, absent, time, timestamp,
label_replace/label_join, sort, clamp, round and friends (cases adapted from Prometheus's
histograms.test and functions.test)."""

from __future__ import annotations

import math

import pytest

from tests.metrics.promql.loader import approx, instant, load, ms, scalar, show
from watchkeeper.metrics.promql import Engine, EvaluationError, PromQLError, Vector

HISTOGRAMS = {
    # Cumulative bucket counts, growing linearly: at 50m the +Inf bucket of "positive" holds
    # 120 observations, 50 of them <= 0.1, 70 <= 0.2, 110 <= 1.
    'h_bucket{le="0.1", start="positive"}': "0+5x10",
    'h_bucket{le=".2", start="positive"}': "0+7x10",
    'h_bucket{le="1e0", start="positive"}': "0+11x10",
    'h_bucket{le="+Inf", start="positive"}': "0+12x10",
    'h_bucket{le="-.2", start="negative"}': "0+1x10",
    'h_bucket{le="-0.1", start="negative"}': "0+2x10",
    'h_bucket{le="0.3", start="negative"}': "0+2x10",
    'h_bucket{le="+Inf", start="negative"}': "0+3x10",
    # Request durations of two jobs with two instances each.
    'd_bucket{job="job1", instance="ins1", le="0.1"}': "0+1x10",
    'd_bucket{job="job1", instance="ins1", le="0.2"}': "0+3x10",
    'd_bucket{job="job1", instance="ins1", le="+Inf"}': "0+4x10",
    'd_bucket{job="job1", instance="ins2", le="0.1"}': "0+2x10",
    'd_bucket{job="job1", instance="ins2", le="0.2"}': "0+5x10",
    'd_bucket{job="job1", instance="ins2", le="+Inf"}': "0+6x10",
    'd_bucket{job="job2", instance="ins1", le="0.1"}': "0+3x10",
    'd_bucket{job="job2", instance="ins1", le="0.2"}': "0+4x10",
    'd_bucket{job="job2", instance="ins1", le="+Inf"}': "0+6x10",
    'd_bucket{job="job2", instance="ins2", le="0.1"}': "0+4x10",
    'd_bucket{job="job2", instance="ins2", le="0.2"}': "0+7x10",
    'd_bucket{job="job2", instance="ins2", le="+Inf"}': "0+9x10",
    # One bound written three ways; "+inf" and "+Inf" are the same bucket too.
    'mixed_bucket{instance="ins1", le="0.1"}': "0+1x10",
    'mixed_bucket{instance="ins1", le="0.2"}': "0+1x10",
    'mixed_bucket{instance="ins1", le="2e-1"}': "0+1x10",
    'mixed_bucket{instance="ins1", le="2.0e-1"}': "0+1x10",
    'mixed_bucket{instance="ins1", le="+Inf"}': "0+4x10",
    'mixed_bucket{instance="ins2", le="+inf"}': "0+0x10",
    'mixed_bucket{instance="ins2", le="+Inf"}': "0+0x10",
    # Counts that decrease with the bound (inconsistent data), and no +Inf bucket.
    'broken_bucket{le="0.1"}': "10",
    'broken_bucket{le="0.2"}': "5",
    'broken_bucket{le="+Inf"}': "20",
    'no_inf_bucket{le="0.1"}': "10",
}


@pytest.fixture
def histograms() -> Engine:
    return Engine(load("5m", HISTOGRAMS))


@pytest.mark.parametrize(
    ("q", "positive", "negative"),
    [
        # positive, q=0.2: rank 24 falls in the first bucket, interpolated from 0: 0.1 x 24/50.
        (0.2, 0.048, -0.2),  # negative: the first bucket's bound is <= 0, so it is returned
        (0.5, 0.15, -0.15),
        # negative, q=0.8: rank 24 is past every finite bucket: the highest finite bound.
        (0.8, 0.72, 0.3),
        (0, 0, -0.2),
        (1, 1, 0.3),
        (-0.1, -math.inf, -math.inf),
        (1.01, math.inf, math.inf),
    ],
)
def test_histogram_quantile(histograms: Engine, q: float, positive: float, negative: float) -> None:
    assert instant(histograms, f"histogram_quantile({q}, h_bucket)", "50m") == approx(
        {'{start="positive"}': positive, '{start="negative"}': negative}
    )


def test_histogram_quantile_of_summed_rates(histograms: Engine) -> None:
    # All four histograms together: 10, 19 and 25 observations per 300 s; rank 7.5 of 25.
    query = "histogram_quantile(0.3, sum(rate(d_bucket[10m])) by (le))"
    assert instant(histograms, query, "50m") == approx({"{}": 0.075})
    query = "histogram_quantile(0.5, sum by (le, job) (rate(d_bucket[10m])))"
    assert instant(histograms, query, "50m") == approx(
        {'{job="job1"}': 0.14, '{job="job2"}': 0.1125}
    )
    query = "histogram_quantile(0.5, rate(d_bucket[10m]))"
    assert instant(histograms, query, "50m") == approx(
        {
            '{instance="ins1", job="job1"}': 0.15,
            '{instance="ins2", job="job1"}': 0.4 / 3,
            '{instance="ins1", job="job2"}': 0.1,
            '{instance="ins2", job="job2"}': 0.35 / 3,
        }
    )


def test_histogram_quantile_edge_cases(histograms: Engine) -> None:
    # Buckets with one bound written differently are added up; a histogram with a single
    # (+Inf) bucket has no quantile.
    result = instant(histograms, "histogram_quantile(0.5, rate(mixed_bucket[10m]))", "50m")
    assert result['{instance="ins1"}'] == approx(0.15)
    assert math.isnan(result['{instance="ins2"}'])
    # The decrease is flattened (0.2 counts 10), so rank 10 ends in the first bucket.
    assert instant(histograms, "histogram_quantile(0.5, broken_bucket)", 0) == approx({"{}": 0.1})
    [value] = instant(histograms, "histogram_quantile(0.5, no_inf_bucket)", 0).values()
    assert math.isnan(value)
    [value] = instant(histograms, "histogram_quantile(NaN, broken_bucket)", 0).values()
    assert math.isnan(value)
    # Series without an le label are not buckets.
    assert instant(histograms, "histogram_quantile(0.5, sum by (start) (h_bucket))", "50m") == {}


@pytest.fixture
def metrics() -> Engine:
    return Engine(
        load(
            "5m",
            {
                'http_requests{job="api", instance="0"}': "0+10x10",
                'http_requests{job="api", instance="1"}': "0+20x10",
                'testmetric{src="source-value-10", dst="original"}': "0",
                'testmetric{src="source-value-20", dst="original"}': "1",
                'joined{src="a", src1="b", src2="c", dst="original"}': "0",
                'joined{src="d", src1="e", src2="f", dst="original"}': "1",
                'clamped{src="a"}': "-50",
                'clamped{src="b"}': "0",
                'clamped{src="c"}': "100",
                'sorted{i="a"}': "3",
                'sorted{i="b"}': "NaN",
                'sorted{i="c"}': "1",
                'sorted{i="d"}': "2",
            },
        )
    )


def test_absent(metrics: Engine) -> None:
    assert instant(metrics, "absent(nonexistent)", "1m") == {"{}": 1}
    # Labels fixed by equality matchers are kept; matched twice or by regex, dropped.
    query = 'absent(nonexistent{job="testjob", instance="testinstance", method=~".x"})'
    assert instant(metrics, query, "1m") == {'{instance="testinstance", job="testjob"}': 1}
    query = 'absent(nonexistent{job="testjob", job="testjob2", foo="bar"})'
    assert instant(metrics, query, "1m") == {'{foo="bar"}': 1}
    query = 'absent(nonexistent{job="testjob", job=~"testjob2", foo="bar"})'
    assert instant(metrics, query, "1m") == {'{foo="bar"}': 1}
    assert instant(metrics, "absent(http_requests)", "1m") == {}
    # Of anything but a selector: no labels.
    assert instant(metrics, 'absent(sum(nonexistent{job="testjob"}))', "1m") == {"{}": 1}
    assert instant(metrics, "absent(http_requests > 1000)", "1m") == {"{}": 1}
    assert instant(metrics, 'absent_over_time(nonexistent{job="x"}[5m])', "1m") == {'{job="x"}': 1}
    assert instant(metrics, "absent_over_time(http_requests[5m])", "1m") == {}
    # The last samples are at 50m: (50m, 55m] holds none.
    assert instant(metrics, "absent_over_time(http_requests[5m])", "55m") == {"{}": 1}


def test_time_timestamp_vector_scalar(metrics: Engine) -> None:
    assert scalar(metrics, "time()", "17m") == 1020
    # timestamp() of a selector gives the sample's time, not the evaluation time ...
    assert instant(metrics, 'timestamp(http_requests{instance="0"})', "17m") == {
        '{instance="0", job="api"}': 900
    }
    # ... of anything else, the evaluation time.
    assert instant(metrics, 'timestamp(-http_requests{instance="0"})', "17m") == {
        '{instance="0", job="api"}': 1020
    }
    assert instant(metrics, "vector(3) * 2", 0) == {"{}": 6}
    assert scalar(metrics, 'scalar(http_requests{instance="1"})', "50m") == 200
    assert math.isnan(scalar(metrics, "scalar(http_requests)", "50m"))  # two series
    assert math.isnan(scalar(metrics, "scalar(nonexistent)", "50m"))
    assert scalar(metrics, "pi()", 0) == math.pi


def test_label_replace(metrics: Engine) -> None:
    def replace(args: str) -> set[str]:
        return set(instant(metrics, f"label_replace(testmetric, {args})", 0))

    assert replace('"dst", "destination-value-$1", "src", "source-value-(.*)"') == {
        'testmetric{dst="destination-value-10", src="source-value-10"}',
        'testmetric{dst="destination-value-20", src="source-value-20"}',
    }
    unchanged = {
        'testmetric{dst="original", src="source-value-10"}',
        'testmetric{dst="original", src="source-value-20"}',
    }
    # The regex must match the whole value; a missing source label is "", which only an
    # expression matching "" matches.
    assert replace('"dst", "destination-value-$1", "src", "value-(.*)"') == unchanged
    assert replace('"dst", "value-$1", "nonexistent", "source-value-(.*)"') == unchanged
    assert replace('"dst", "value-$1", "nonexistent", "(.*)"') == {
        'testmetric{dst="value-", src="source-value-10"}',
        'testmetric{dst="value-", src="source-value-20"}',
    }
    assert replace('"dst", "${2}_$1$$", "src", "(.*)-value-(?P<n>.*)"') == {
        'testmetric{dst="10_source$", src="source-value-10"}',
        'testmetric{dst="20_source$", src="source-value-20"}',
    }
    assert replace('"dst", "$n", "src", "source-value-(?P<n>.*)"') == {
        'testmetric{dst="10", src="source-value-10"}',
        'testmetric{dst="20", src="source-value-20"}',
    }
    # An empty result removes the label.
    assert replace('"dst", "", "dst", ".*"') == {
        'testmetric{src="source-value-10"}',
        'testmetric{src="source-value-20"}',
    }
    with pytest.raises(EvaluationError, match="same labelset"):
        metrics.instant('label_replace(testmetric, "src", "", "", "")', 0)
    with pytest.raises(PromQLError, match="invalid regular expression"):
        metrics.instant('label_replace(testmetric, "dst", "$1", "src", "(.*")', 0)


def test_label_join(metrics: Engine) -> None:
    assert instant(metrics, 'label_join(joined, "dst", "-", "src", "src1", "src2")', 0) == {
        'joined{dst="a-b-c", src="a", src1="b", src2="c"}': 0,
        'joined{dst="d-e-f", src="d", src1="e", src2="f"}': 1,
    }
    result = instant(metrics, 'label_join(joined, "dst", "", "empty1", "empty2")', 0)
    assert result == {
        'joined{src="a", src1="b", src2="c"}': 0,
        'joined{src="d", src1="e", src2="f"}': 1,
    }


def test_clamp_and_rounding(metrics: Engine) -> None:
    assert instant(metrics, "clamp(clamped, -25, 75)", 0) == {
        '{src="a"}': -25,
        '{src="b"}': 0,
        '{src="c"}': 75,
    }
    assert instant(metrics, "clamp_min(clamped, -25)", 0) == {
        '{src="a"}': -25,
        '{src="b"}': 0,
        '{src="c"}': 100,
    }
    assert instant(metrics, "clamp_max(clamped, 75)", 0) == {
        '{src="a"}': -50,
        '{src="b"}': 0,
        '{src="c"}': 75,
    }
    assert instant(metrics, "clamp(clamped, 5, -5)", 0) == {}  # max < min: nothing
    x = 'http_requests{instance="0"}'  # 100 at 50m
    assert list(instant(metrics, f"round(0.005 * {x})", "50m").values()) == [1]  # ties go up
    assert list(instant(metrics, f"round(-0.005 * {x})", "50m").values()) == [0]
    assert list(instant(metrics, f"round(5.2 + 0.0005 * {x}, 0.1)", "50m").values()) == [5.3]
    assert list(instant(metrics, f"round(0.045 * {x}, 5)", "50m").values()) == [5]
    assert list(instant(metrics, f"abs(-1 * {x})", "50m").values()) == [100]
    assert list(instant(metrics, f"sqrt({x})", "50m").values()) == [10]
    assert list(instant(metrics, f"ln(exp(2 + 0 * {x}))", "50m").values()) == approx([2])
    assert list(instant(metrics, f"log10({x})", "50m").values()) == [2]
    assert list(instant(metrics, f"sgn(-{x})", "50m").values()) == [-1]


def test_sort_orders_an_instant_query(metrics: Engine) -> None:
    def order(query: str) -> list[str]:
        result = metrics.instant(query, 0)
        assert isinstance(result, Vector)
        return [show(s.labels) for s in result.samples]

    # NaN goes last either way; sort keeps the metric name.
    assert order("sort(sorted)") == [f'sorted{{i="{i}"}}' for i in "cdab"]
    assert order("sort_desc(sorted)") == [f'sorted{{i="{i}"}}' for i in "adcb"]


def test_date_functions() -> None:
    engine = Engine(load("1m", {}))
    t = 1136239445  # 2006-01-02 22:04:05 UTC, a Monday
    expected = {
        "year": 2006,
        "month": 1,
        "day_of_month": 2,
        "day_of_year": 2,
        "day_of_week": 1,
        "days_in_month": 31,
        "hour": 22,
        "minute": 4,
    }
    for name, value in expected.items():
        assert instant(engine, f"{name}(vector({t}))", 0) == {"{}": value}
    # Without an argument: the evaluation time.
    assert instant(engine, "year()", 0) == {"{}": 1970}
    assert instant(engine, "days_in_month()", ms("31d") + ms("28d")) == {"{}": 31}  # March
    assert instant(engine, "day_of_week(vector(-1))", 0) == {"{}": 3}  # 1969-12-31, Wednesday
