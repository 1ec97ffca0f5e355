"""Queries past the raw retention read the rollups: 5-minute buckets where the raw samples are
gone, 1-hour buckets where those are gone too; a rollup's sample is seen for its whole bucket.

The fixture: a counter ``c`` that grows by 1 every 15 s for six hours from T0, compacted, then
retention at T0 + 8 h with raw data kept 4 h and 5-minute rollups 6 h. Left: hours 0–1 as
1-hour rollups, hours 2–3 as 5-minute rollups, hours 4–5 raw.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from watchkeeper.metrics.chunks import CHUNK_MS
from watchkeeper.metrics.compaction import Retention, compact, enforce_retention
from watchkeeper.metrics.labels import Matcher, make_labels
from watchkeeper.metrics.promql import Engine, Matrix, Vector
from watchkeeper.metrics.store import MetricStore
from watchkeeper.runtime.context import AppContext

HOUR = CHUNK_MS
FIVE = 300_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
C = make_labels({"__name__": "c", "job": "a"})


@pytest.fixture
def store(ctx: AppContext) -> MetricStore:
    store = MetricStore(ctx.engine)
    stamps = range(T0, T0 + 6 * HOUR, 15_000)
    store.write([(C, [(t, float(i)) for i, t in enumerate(stamps)])])
    compact(store, T0 + 7 * HOUR)
    keep = Retention(raw=timedelta(hours=4), rollup_5m=timedelta(hours=6))
    enforce_retention(store, T0 + 8 * HOUR, keep)
    return store


def value_at(t_ms: int) -> float:
    """The counter's value at the last sample at or before ``t_ms``."""
    return float((t_ms - T0) // 15_000)


def test_select_reads_hourly_then_five_minute_rollups_then_raw(store: MetricStore) -> None:
    [series] = store.select([Matcher("__name__", "=", "c")], T0, T0 + 6 * HOUR)
    assert series.spans is not None
    hourly = [T0 + HOUR - 1, T0 + 2 * HOUR - 1]
    five = [T0 + 2 * HOUR + (k + 1) * FIVE - 1 for k in range(24)]
    raw = list(range(T0 + 4 * HOUR, T0 + 6 * HOUR, 15_000))
    assert series.ts.tolist() == hourly + five + raw
    assert series.spans.tolist() == [HOUR] * 2 + [FIVE] * 24 + [0] * len(raw)
    # A bucket's sample is its last value: the counter at the bucket's last 15 s step.
    assert series.values.tolist() == [value_at(t) for t in hourly + five + raw]


def test_a_range_the_raw_samples_cover_reads_no_rollup(store: MetricStore) -> None:
    [series] = store.select([Matcher("__name__", "=", "c")], T0 + 4 * HOUR, T0 + 5 * HOUR)
    assert series.spans is None
    assert len(series.ts) == 241


def test_the_bucket_in_force_at_the_range_start_is_included(store: MetricStore) -> None:
    [series] = store.select(
        [Matcher("__name__", "=", "c")], T0 + HOUR + 30 * 60_000, T0 + HOUR + 40 * 60_000
    )
    assert series.ts.tolist() == [T0 + HOUR - 1]  # hour 0's last value, in force until 2 h


def test_an_instant_selector_sees_an_hourly_rollup_for_the_whole_next_hour(
    store: MetricStore,
) -> None:
    engine = Engine(store)
    for t in (T0 + HOUR + 60_000, T0 + HOUR + 40 * 60_000, T0 + 2 * HOUR - 2):
        result = engine.instant("c", t)
        assert isinstance(result, Vector)
        assert [s.value for s in result.samples] == [value_at(T0 + HOUR - 1)]
    # Before hour 0 ended nothing is known yet (its value is dated at its end).
    assert isinstance(empty := engine.instant("c", T0 + 30 * 60_000), Vector)
    assert empty.samples == []


def test_a_chart_over_all_six_hours_has_no_gap(store: MetricStore) -> None:
    result = Engine(store).range("c", T0 + HOUR, T0 + 6 * HOUR - 15_000, FIVE)
    assert isinstance(result, Matrix)
    [series] = result.series
    assert len(series.ts) == 60  # every 5-minute step from 1 h to 6 h
    # At each step the value is the newest one known: in the 1-hour part the last value of
    # the hour before, in the 5-minute part that of the bucket that just ended, then raw.
    got = dict(zip(series.ts.tolist(), series.values.tolist(), strict=True))
    assert got[T0 + HOUR + 30 * 60_000] == value_at(T0 + HOUR - 1)
    assert got[T0 + 3 * HOUR] == value_at(T0 + 3 * HOUR - 1)
    assert got[T0 + 5 * HOUR] == value_at(T0 + 5 * HOUR)


def test_rate_over_five_minute_rollups_is_the_counter_slope(store: MetricStore) -> None:
    """20 increments per 5-minute bucket: 1/15 per second, as over the raw samples."""
    result = Engine(store).range("rate(c[1h])", T0 + 3 * HOUR, T0 + 4 * HOUR - FIVE, FIVE)
    assert isinstance(result, Matrix)
    [series] = result.series
    assert len(series.ts) == 12
    assert np.allclose(series.values, 1 / 15)
