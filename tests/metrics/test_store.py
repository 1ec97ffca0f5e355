"""The metric store on SQLite and PostgreSQL: writes, reads, compaction, rollups, retention."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
from sqlalchemy import func, select

from watchkeeper.metrics.chunks import CHUNK_MS
from watchkeeper.metrics.compaction import GRACE_MS, Retention, compact, enforce_retention
from watchkeeper.metrics.labels import STALE_NAN, Matcher, fingerprint, is_stale, make_labels
from watchkeeper.metrics.source import SeriesData
from watchkeeper.metrics.store import MetricStore
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import MetricChunk, MetricRollup, MetricSample, MetricSeries

T0 = 1_700_000_000_000 - 1_700_000_000_000 % CHUNK_MS  # an hour boundary
UP_A = make_labels({"__name__": "up", "job": "a", "instance": "h1"})
UP_B = make_labels({"__name__": "up", "job": "b", "instance": "h1"})
REQS = make_labels({"__name__": "requests_total", "job": "a"})


def every_15s(hours: float, start: int = T0) -> list[int]:
    return list(range(start, start + int(hours * CHUNK_MS), 15_000))


def by_job(data: list[SeriesData]) -> dict[str, tuple[list[int], list[float]]]:
    return {dict(s.labels)["job"]: (s.ts.tolist(), s.values.tolist()) for s in data}


def test_write_then_select_by_matchers(ctx: AppContext) -> None:
    store = MetricStore(ctx.engine)
    report = store.write(
        [
            (UP_A, [(T0, 1.0), (T0 + 15_000, 0.0)]),
            (UP_B, [(T0, 1.0)]),
            (REQS, [(T0, 10.0)]),
        ]
    )
    assert (report.accepted, report.duplicates, report.series_created) == (4, 0, 3)
    up = store.select([Matcher("__name__", "=", "up")], T0, T0 + 60_000)
    assert by_job(up) == {"a": ([T0, T0 + 15_000], [1.0, 0.0]), "b": ([T0], [1.0])}
    only_b = store.select([Matcher("__name__", "=", "up"), Matcher("job", "!~", "a")], 0, T0)
    assert [dict(s.labels)["job"] for s in only_b] == ["b"]
    assert store.select([Matcher("job", "=", "a")], T0 + 1, T0 + 15_000)[0].ts.tolist() == [
        T0 + 15_000
    ]
    assert store.label_values("job") == ["a", "b"]
    assert store.label_names([Matcher("__name__", "=", "requests_total")]) == ["__name__", "job"]


def test_resending_a_batch_counts_duplicates_and_keeps_the_first_value(ctx: AppContext) -> None:
    store = MetricStore(ctx.engine)
    store.write([(UP_A, [(T0, 1.0), (T0 + 15_000, 1.0)])])
    again = store.write([(UP_A, [(T0, 5.0), (T0 + 15_000, 5.0), (T0 + 30_000, 1.0)])])
    assert (again.accepted, again.duplicates, again.series_created) == (1, 2, 0)
    [series] = store.select([Matcher("job", "=", "a")], T0, T0 + 60_000)
    assert series.values.tolist() == [1.0, 1.0, 1.0]


def test_nan_and_staleness_markers_survive_the_store(ctx: AppContext) -> None:
    """SQLite turns a NaN REAL into NULL: values are stored as their bits to keep them."""
    store = MetricStore(ctx.engine)
    store.write([(UP_A, [(T0, math.nan), (T0 + 15_000, STALE_NAN), (T0 + 30_000, math.inf)])])
    for _ in range(2):  # from the head, then from a chunk
        [series] = store.select([Matcher("job", "=", "a")], T0, T0 + CHUNK_MS)
        first, marker, last = series.values.tolist()
        assert math.isnan(first) and not is_stale(first)
        assert is_stale(marker)
        assert last == math.inf
        compact(store, T0 + 2 * CHUNK_MS)


def test_compaction_moves_complete_hours_into_chunks_without_changing_reads(
    ctx: AppContext,
) -> None:
    store = MetricStore(ctx.engine)
    stamps = every_15s(2.5)
    store.write([(REQS, [(t, float(i)) for i, t in enumerate(stamps)])])
    before = store.select([], T0, T0 + 3 * CHUNK_MS)
    report = compact(store, T0 + 2 * CHUNK_MS + 30 * 60_000)  # hours 0 and 1 are complete
    assert (report.series, report.chunks, report.samples) == (1, 2, 480)
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(MetricSample)) == len(stamps) - 480
        assert conn.scalar(select(func.count()).select_from(MetricChunk)) == 2
    after = store.select([], T0, T0 + 3 * CHUNK_MS)
    assert after[0].ts.tolist() == before[0].ts.tolist() == stamps
    assert after[0].values.tolist() == before[0].values.tolist()
    # A range inside one chunk and the head is cut exactly.
    inside = store.select([], T0 + 59 * 60_000, T0 + 121 * 60_000)[0].ts
    assert inside[0] == T0 + 59 * 60_000 and inside[-1] == T0 + 121 * 60_000
    assert compact(store, T0 + 2 * CHUNK_MS + 30 * 60_000).chunks == 0  # nothing left to do


def test_late_samples_are_merged_into_an_existing_chunk(ctx: AppContext) -> None:
    store = MetricStore(ctx.engine)
    store.write([(UP_A, [(T0, 1.0), (T0 + 30_000, 1.0)])])
    compact(store, T0 + 2 * CHUNK_MS)
    store.write([(UP_A, [(T0 + 15_000, 0.0), (T0, 9.0)])])  # one late, one duplicate
    compact(store, T0 + 2 * CHUNK_MS)
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(MetricChunk)) == 1
    [series] = store.select([], T0, T0 + CHUNK_MS)
    assert series.ts.tolist() == [T0, T0 + 15_000, T0 + 30_000]
    assert series.values.tolist() == [1.0, 0.0, 1.0]


def test_rollups_hold_min_max_sum_count_last_and_skip_nan(ctx: AppContext) -> None:
    store = MetricStore(ctx.engine)
    values = [3.0, 1.0, math.nan, 7.0] + [2.0] * 16  # 20 samples, 5 minutes at 15 s
    stamps = every_15s(1 / 12)
    store.write([(UP_A, list(zip(stamps, values, strict=True)))])
    compact(store, T0 + 2 * CHUNK_MS)
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(
                MetricRollup.step,
                MetricRollup.ts,
                MetricRollup.min,
                MetricRollup.max,
                MetricRollup.sum,
                MetricRollup.count,
                MetricRollup.last,
            ).order_by(MetricRollup.step)
        ).all()
    assert [tuple(r) for r in rows] == [
        (300_000, T0, 1.0, 7.0, 43.0, 19, 2.0),
        (3_600_000, T0, 1.0, 7.0, 43.0, 19, 2.0),
    ]


def test_retention_deletes_old_raw_data_rollups_and_empty_series(ctx: AppContext) -> None:
    store = MetricStore(ctx.engine)
    store.write([(UP_A, [(T0, 1.0)]), (UP_B, [(T0 + 10 * CHUNK_MS, 1.0)])])
    compact(store, T0 + 20 * CHUNK_MS)
    now = T0 + 10 * CHUNK_MS + 1
    keep_rollups = Retention(raw=timedelta(hours=5), rollup_5m=timedelta(days=1))
    report = enforce_retention(store, now, keep_rollups)
    assert (report.chunks, report.rollups, report.series) == (1, 0, 0)
    found = {dict(s.labels)["job"]: s for s in store.select([], 0, now)}
    assert sorted(found) == ["a", "b"]
    # a's raw chunk is gone: it is read from its 5-minute rollup, b from its raw sample.
    spans = found["a"].spans
    assert spans is not None and spans.tolist() == [300_000]
    assert found["b"].spans is None
    # With rollups gone too, a series without any data left is dropped (once it is older
    # than the raw retention, so that a series being written right now is never dropped).
    gone = Retention(raw=timedelta(0), rollup_5m=timedelta(0), rollup_1h=timedelta(0))
    report = enforce_retention(store, T0 + 20 * CHUNK_MS, gone)
    assert report.series == 2
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(MetricSeries)) == 0
    store.write([(UP_A, [(T0 + 30 * CHUNK_MS, 1.0)])])  # the series comes back
    assert len(store.select([], 0, T0 + 31 * CHUNK_MS)) == 1


def test_series_created_by_another_process_are_found(ctx: AppContext) -> None:
    first, second = MetricStore(ctx.engine), MetricStore(ctx.engine)
    first.write([(UP_A, [(T0, 1.0)])])
    assert len(second.select([Matcher("__name__", "=", "up")], T0, T0)) == 1
    report = second.write([(UP_A, [(T0 + 15_000, 1.0)])])
    assert report.series_created == 0
    assert np.array_equal(first.select([], T0, T0 + 15_000)[0].ts, [T0, T0 + 15_000])


def test_a_large_batch_with_repeats_is_written_in_pieces_and_counted_exactly(
    ctx: AppContext,
) -> None:
    """Thousands of one-sample series (remote-write's shape) and a sample repeated in the
    same batch: every row is stored once, the repeat counts as a duplicate."""
    store = MetricStore(ctx.engine)
    many = [make_labels({"__name__": "m", "i": str(i)}) for i in range(3_001)]
    batch = [(labels, [(T0, float(i))]) for i, labels in enumerate(many)]
    batch.append((many[7], [(T0, -1.0)]))
    report = store.write(batch)
    assert (report.accepted, report.duplicates, report.series_created) == (3_001, 1, 3_001)
    again = store.write([(labels, [(T0, 0.0), (T0 + 15_000, 1.0)]) for labels in many[:5]])
    assert (again.accepted, again.duplicates) == (5, 5)
    found = {dict(s.labels)["i"]: s.values.tolist() for s in store.select([], T0, T0)}
    assert len(found) == 3_001 and found["8"] == [8.0] and found["3000"] == [3000.0]


def test_chunks_of_many_series_and_the_head_read_back_together(ctx: AppContext) -> None:
    """Reads decode every chunk of a batch of series at once: hours of different lengths and
    series with head samples after their chunks must come back exactly as written."""
    store = MetricStore(ctx.engine)
    rng = np.random.default_rng(2)
    written: dict[str, tuple[list[int], list[float]]] = {}
    for job in "abcde":
        stamps = sorted(rng.choice(3 * CHUNK_MS // 1000, 400, replace=False).tolist())
        ts = [T0 + 1000 * s for s in stamps]
        values = rng.normal(0, 100, len(ts)).tolist()
        labels = make_labels({"__name__": "x", "job": job})
        store.write([(labels, list(zip(ts, values, strict=True)))])
        written[job] = (ts, values)
    compact(store, T0 + 2 * CHUNK_MS + GRACE_MS)  # two hours into chunks, the third stays
    assert store.counts()["metric_chunks"] == 10
    late = make_labels({"__name__": "x", "job": "f"})
    store.write([(late, [(T0 + 5, 1.0)])])
    written["f"] = ([T0 + 5], [1.0])
    assert by_job(store.select([Matcher("__name__", "=", "x")], T0, T0 + 3 * CHUNK_MS)) == written


def test_a_series_committed_after_a_higher_id_was_read_is_still_found(ctx: AppContext) -> None:
    """Several replicas on PostgreSQL: ids are handed out before commit, so series 7 may be
    committed after series 10 was read. The index looks for skipped ids again."""
    store = MetricStore(ctx.engine)
    late = make_labels({"__name__": "late", "job": "b"})

    def create(series_id: int, labels: tuple[tuple[str, str], ...]) -> None:
        with ctx.engine.begin() as conn:
            conn.execute(
                MetricSeries.__table__.insert(),
                {
                    "id": series_id,
                    "fingerprint": fingerprint(labels),
                    "metric": dict(labels)["__name__"],
                    "labels": dict(labels),
                },
            )

    create(10, UP_A)
    assert list(store.matching([Matcher("__name__", "=", "up")])) == [10]
    create(7, late)  # the slower replica commits
    store._index.gaps_checked = 0.0  # skipped ids are polled at most once a second
    assert list(store.matching([Matcher("__name__", "=", "late")])) == [7]
    assert 7 not in store._index.gaps
