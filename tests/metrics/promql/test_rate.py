"""rate, increase, delta, irate and idelta: Prometheus's extrapolation, counter resets and the
zero-point clamp. Cases adapted from Prometheus's functions.test, re-derived by hand for the
left-open windows of Prometheus 3 (a sample on a window's left edge is outside it)."""

from __future__ import annotations

import math

from tests.metrics.promql.loader import approx, instant, load, range_query
from watchkeeper.metrics.promql import Engine


def test_increase_extrapolates_to_the_window_edges() -> None:
    engine = Engine(
        load(
            "5m",
            {
                'http_requests_total{path="/foo"}': "0+10x10",
                'http_requests_total{path="/bar"}': "0+18x5 0+18x5",
                'http_requests_total{path="/dings"}': "10+10x10",
                'http_requests_total{path="/bumms"}': "1+10x10",
            },
        )
    )
    # (0, 50m] holds the samples from 5m to 50m: 2700 s apart, 300 s on average. The first
    # sample is 300 s after the window starts (under 1.1 x 300 s), so the change is
    # extrapolated to both edges: x 3000/2700. /foo: 90 -> 100. /bar drops from 90 to 0 once,
    # which adds 90: (72 - 18 + 90) x 3000/2700 = 160.
    # The metric name is dropped, as by every function but a few.
    result = instant(engine, "increase(http_requests_total[50m])", "50m")
    assert result == approx(
        {'{path="/foo"}': 100, '{path="/bar"}': 160, '{path="/dings"}': 100, '{path="/bumms"}': 100}
    )


def test_counter_zero_point_limits_extrapolation() -> None:
    engine = Engine(
        load(
            "5m",
            {
                'c{path="/foo"}': "0+10x10",
                'c{path="/bar"}': "0+18x5 0+18x5",
                'c{path="/dings"}': "10+10x10",
                'c{path="/bumms"}': "1+10x10",
            },
        )
    )
    # (-50m, 50m] holds all samples from t=0; the window starts 3000 s before the first one,
    # more than 1.1 x the 300 s average, so extrapolation to the left would stop after half an
    # interval (150 s). /foo and /bar start at 0: a counter would be negative before that, so
    # nothing is added. /dings (10 at t=0, rising 100 over 3000 s) would reach 0 at -300 s:
    # 150 s it is, 105. /bumms (1 at t=0) would reach 0 after 30 s: only 30 s, 101.
    assert instant(engine, "increase(c[100m])", "50m") == approx(
        {'{path="/foo"}': 100, '{path="/bar"}': 162, '{path="/dings"}': 105, '{path="/bumms"}': 101}
    )


def test_increase_with_a_counter_reset() -> None:
    # 3 then 2 is a reset: the counter restarted from 0, so it counts as 3 -> 0 -> 2.
    # (0, 30m] holds 1 2 3 2 3 4: 3 + 3 = 6 over 1500 s; the zero point lies 250 s before
    # the first sample (1500 x 1/6), closer than the window edge (300 s): x 1750/1500 = 7.
    engine = Engine(load("5m", {'c{path="/foo"}': "0 1 2 3 2 3 4"}))
    assert instant(engine, "increase(c[30m])", "30m") == approx({'{path="/foo"}': 7})


def test_rate_handles_resets_in_the_middle_and_at_the_end() -> None:
    engine = Engine(load("5m", {"middle": "0+27x4 0+27x5", "end": "0+10x9 0 10"}))
    # (0, 50m]: 27 54 81 108 0 27 54 81 108 135 -> 108 + 108 = 216 over 2700 s, x 3000/2700,
    # per second over 3000 s.
    assert instant(engine, "rate(middle[50m])", "50m") == approx({"{}": 0.08})
    # A 5m window at 50m holds a single sample: no rate.
    assert instant(engine, "rate(end[5m])", "50m") == {}
    # (44m, 50m] holds 90 then 0: a reset, and no increase.
    assert instant(engine, "rate(end[6m])", "50m") == approx({"{}": 0})


def test_rate_is_per_second_over_the_range() -> None:
    engine = Engine(load("5m", {"w": "0+80x10", 'o{x="a"}': "0+10x10", 'o{x="b"}': "0+20x10"}))
    # 720 x (3000/2700) / 3000, in the same float operations as Prometheus.
    assert instant(engine, "rate(w[50m])", "50m") == {"{}": 720 * ((2700 + 300) / 2700 / 3000)}
    # offset 5m: the window is (35m, 45m], holding 80 and 90 for x="a".
    assert instant(engine, "rate(o[10m] offset 5m)", "50m") == approx(
        {'{x="a"}': 10 / 300, '{x="b"}': 20 / 300}
    )


def test_zero_cutoff_by_half_an_interval() -> None:
    series = {
        f'z{{start="{m}m"}}': f"{60 * m}+240x10" for m in range(6)
    }  # one sample every 4m, each series starting higher
    engine = Engine(load("4m", series))
    # At 10m the window (-10m, 10m] holds the samples at 0, 4m and 8m. The left extension
    # is at most half an interval (120 s) and stops where the counter would reach 0: after
    # 0 s for start=0m, 60 s for 1m, the full 120 s from 2m on. The right extension to 10m
    # is 120 s. Rate = 480 x (480 + left + 120) / 480 / 1200.
    assert instant(engine, "rate(z[20m])", "10m") == approx(
        {
            '{start="0m"}': 0.5,
            '{start="1m"}': 0.55,
            '{start="2m"}': 0.6,
            '{start="3m"}': 0.6,
            '{start="4m"}': 0.6,
            '{start="5m"}': 0.6,
        }
    )
    # Later on the counters are far from 0 and every series gets the same half intervals.
    assert list(instant(engine, "rate(z[20m])", "50m").values()) == approx([0.6] * 6)


def test_delta_is_not_a_counter() -> None:
    engine = Engine(
        load("5m", {'g{path="/foo"}': "0 50 100 150 200", 'g{path="/bar"}': "200 150 100 50 0"})
    )
    # (0, 20m]: 50 -> 200 over 900 s, extrapolated to the full 1200 s; no reset handling.
    assert instant(engine, "delta(g[20m])", "20m") == approx(
        {'{path="/foo"}': 200, '{path="/bar"}': -200}
    )


def test_irate_uses_the_last_two_samples() -> None:
    engine = Engine(
        load(
            "5m",
            {
                'r{path="/foo"}': "0+10x10",
                'r{path="/bar"}': "0+10x5 0+10x5",
                "with_nan": "1 NaN NaN 5 11",
            },
        )
    )
    assert instant(engine, "irate(r[50m])", "50m") == approx(
        {'{path="/foo"}': 10 / 300, '{path="/bar"}': 10 / 300}
    )
    # At 30m /bar's last two samples are 50 then 0: a reset, so the rate is 0 / 300 s.
    assert instant(engine, "irate(r[50m])", "30m") == approx(
        {'{path="/foo"}': 10 / 300, '{path="/bar"}': 0}
    )
    # With NaN among the last two samples the result is NaN; 5 -> 11 gives 6 / 300 s.
    steps = range_query(engine, "irate(with_nan[15m1s])", 0, "20m", "5m")
    assert steps["{}"][0] is None
    assert all(math.isnan(v) for v in steps["{}"][1:4] if v is not None)
    assert steps["{}"][4] == approx(0.02)


def test_idelta() -> None:
    engine = Engine(load("5m", {'d{path="/foo"}': "0 50 100 150", 'd{path="/bar"}': "0 50 100 50"}))
    assert instant(engine, "idelta(d[20m])", "20m") == {'{path="/foo"}': 50, '{path="/bar"}': -50}


def test_rate_needs_two_samples() -> None:
    engine = Engine(load("1m", {"c": "1"}))
    assert instant(engine, "rate(c[5m])", "1m") == {}
    assert instant(engine, "irate(c[5m])", "1m") == {}


def test_rate_over_a_range_query() -> None:
    # A counter scraped every 15 s that grows by 3 per scrape: 0.2 per second, also at
    # every step of a range query, whatever the window's phase relative to the samples.
    engine = Engine(load("15s", {"c": "0+3x400"}))
    steps = range_query(engine, "rate(c[1m])", "5m", "60m", "50s")
    assert steps["{}"] == approx([0.2] * len(steps["{}"]))
