"""Instant and range selectors: the 5-minute lookback, left-open windows, staleness markers,
matchers, offset and @ (cases adapted from Prometheus's staleness.test and selectors.test)."""

from __future__ import annotations

from tests.metrics.promql.loader import instant, load, ms, range_query
from watchkeeper.metrics.promql import Engine, Matrix


def test_lookback_window_is_open_on_the_left() -> None:
    # One sample at t=0, looked up in (t - 5m, t]: visible up to 299.999s, gone at 300s
    # (Prometheus 2 included the left edge; Prometheus 3 does not).
    engine = Engine(load("10s", {"metric": "0"}))
    assert instant(engine, "metric", "0s") == {"metric{}": 0}
    assert instant(engine, "metric", 299_999) == {"metric{}": 0}
    assert instant(engine, "metric", "300s") == {}
    assert instant(engine, "metric", -1) == {}  # nothing before the first sample


def test_lookback_is_configurable() -> None:
    engine = Engine(load("10s", {"metric": "0"}), lookback_ms=60_000)
    assert instant(engine, "metric", "59s") == {"metric{}": 0}
    assert instant(engine, "metric", "60s") == {}


def test_staleness_marker_ends_the_series() -> None:
    # Samples 0, 1, stale, 2 at 0s, 10s, 20s, 30s.
    engine = Engine(load("10s", {"metric": "0 1 stale 2"}))
    assert instant(engine, "metric", "10s") == {"metric{}": 1}
    assert instant(engine, "metric", "20s") == {}  # the newest sample is the marker
    assert instant(engine, "metric", "25s") == {}
    assert instant(engine, "metric", "30s") == {"metric{}": 2}
    assert instant(engine, "metric", "329s") == {"metric{}": 2}
    assert instant(engine, "metric", "330s") == {}  # 5 minutes after the last sample


def test_range_selectors_skip_staleness_markers() -> None:
    engine = Engine(load("10s", {"metric": "0 1 stale 2"}))
    assert instant(engine, "count_over_time(metric[1m])", "30s") == {"{}": 3}
    assert instant(engine, "count_over_time(metric[1s])", "10s") == {"{}": 1}
    # At 20s the only sample in (19s, 20s] or (10s, 20s] is the marker: no result.
    assert instant(engine, "count_over_time(metric[1s])", "20s") == {}
    assert instant(engine, "count_over_time(metric[10s])", "20s") == {}
    # (0s, 20s] holds the sample at 10s but not the one at 0s: the window is left-open.
    assert instant(engine, "count_over_time(metric[20s])", "20s") == {"{}": 1}


def test_range_selector_returns_a_matrix_of_raw_samples() -> None:
    engine = Engine(load("1m", {'m{a="x"}': "1 2 3 4 5 6"}))
    result = engine.instant('m{a="x"}[3m]', ms("5m"))
    assert isinstance(result, Matrix)
    [series] = result.series
    # (2m, 5m]: the samples at 3m, 4m and 5m, not the one at 2m.
    assert series.ts.tolist() == [180_000, 240_000, 300_000]
    assert series.values.tolist() == [4, 5, 6]
    assert dict(series.labels) == {"__name__": "m", "a": "x"}


def test_label_matchers() -> None:
    engine = Engine(
        load(
            "1m",
            {
                'http{job="api", code="200"}': "1",
                'http{job="api", code="503"}': "2",
                'http{job="web", code="500"}': "3",
                'other{job="api"}': "4",
            },
        )
    )
    assert instant(engine, 'http{job="api"}', 0) == {
        'http{code="200", job="api"}': 1,
        'http{code="503", job="api"}': 2,
    }
    assert set(instant(engine, 'http{job!="api"}', 0)) == {'http{code="500", job="web"}'}
    # Regular expressions are anchored at both ends: "5.." matches 503 and 500, "0" nothing.
    assert set(instant(engine, 'http{code=~"5.."}', 0)) == {
        'http{code="503", job="api"}',
        'http{code="500", job="web"}',
    }
    assert instant(engine, 'http{code=~"0"}', 0) == {}
    assert set(instant(engine, 'http{code!~"5.*"}', 0)) == {'http{code="200", job="api"}'}
    assert set(instant(engine, '{job="api"}', 0)) == {
        'http{code="200", job="api"}',
        'http{code="503", job="api"}',
        'other{job="api"}',
    }
    # A matcher on a missing label compares against "".
    assert set(instant(engine, '{__name__=~"http|other", code=""}', 0)) == {'other{job="api"}'}


def test_offset_moves_the_window_back() -> None:
    engine = Engine(load("1m", {"m": "0+1x10"}))
    assert instant(engine, "m offset 3m", "10m") == {"m{}": 7}
    assert instant(engine, "m offset -3m", "5m") == {"m{}": 8}  # negative offsets look ahead
    assert instant(engine, "sum_over_time(m[2m] offset 5m)", "10m") == {"{}": 5 + 4}


def test_at_modifier_pins_the_time() -> None:
    engine = Engine(load("1m", {"m": "0+1x10"}))
    assert instant(engine, "m @ 120", "10m") == {"m{}": 2}
    assert instant(engine, "m @ 300 offset 1m", "0s") == {"m{}": 4}
    series = range_query(engine, "m @ end()", "1m", "4m", "1m")
    assert series == {"m{}": [4, 4, 4, 4]}
    series = range_query(engine, "m - m @ start()", "1m", "4m", "1m")
    assert series == {"{}": [0, 1, 2, 3]}
