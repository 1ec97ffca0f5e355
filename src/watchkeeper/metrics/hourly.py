"""Long histories one sample per hour, for trends and forecasts over weeks and months.

``HourlySource`` is a :class:`~watchkeeper.metrics.source.SeriesSource` whose series hold, per
hour, the last value the store received in that hour: read from the 1-hour rollups that
compaction writes (kept two years by default, long after the raw samples are gone), and,
for the hours not compacted yet, from the head. A range query over it at a one-hour step with
a one-hour lookback sees what the same query over the raw samples would: counters keep
their resets (``rate(x[2h])`` works), gauges their value at the end of each hour.

A rollup's last value is dated one millisecond before its hour ends (the rollup does not
keep its exact time); a value from the head keeps its own time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from watchkeeper.metrics.compaction import ROLLUP_STEPS_MS
from watchkeeper.metrics.labels import Matcher
from watchkeeper.metrics.source import SeriesData
from watchkeeper.metrics.store import MetricStore, id_batches, split_rows
from watchkeeper.store.tables import MetricRollup, MetricSample

HOUR_MS = ROLLUP_STEPS_MS[1]


def last_per_hour(
    ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The last real (not NaN) sample of every hour among ``ts`` (ascending ms)."""
    real = ~np.isnan(values)
    ts, values = ts[real], values[real]
    if not len(ts):
        return ts, values
    hours = ts // HOUR_MS
    last = np.append(hours[1:] != hours[:-1], True)
    return ts[last], values[last]


class HourlySource:
    """The series of ``store`` one sample per hour (see the module docstring)."""

    def __init__(self, store: MetricStore) -> None:
        self.store = store

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        series = self.store.matching(matchers)
        if not series:
            return []
        first_hour = start_ms - start_ms % HOUR_MS
        found: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        with self.store.engine.connect() as conn:
            for ids in id_batches(sorted(series)):
                # Plain tuples from the driver: a month of hours for hundreds of series is
                # hundreds of thousands of rows, and building a Row for each took longer
                # than reading them.
                rolled = conn.execute(
                    select(MetricRollup.series_id, MetricRollup.ts, MetricRollup.last)
                    .where(
                        MetricRollup.series_id.in_(ids),
                        MetricRollup.step == HOUR_MS,
                        MetricRollup.ts >= first_hour,
                        MetricRollup.ts <= end_ms,
                    )
                    .order_by(MetricRollup.series_id, MetricRollup.ts)
                ).cursor.fetchall()
                for sid, hours, last in _split(rolled):
                    found[sid] = (hours + HOUR_MS - 1, last)
                head = conn.execute(
                    select(MetricSample.series_id, MetricSample.ts, MetricSample.bits)
                    .where(
                        MetricSample.series_id.in_(ids),
                        MetricSample.ts >= start_ms,
                        MetricSample.ts <= end_ms,
                    )
                    .order_by(MetricSample.series_id, MetricSample.ts)
                ).all()
                for sid, ts, bits in split_rows(head):
                    found[sid] = _merge(found.get(sid), last_per_hour(ts, bits.view(np.float64)))
        out = []
        for sid, (ts, values) in sorted(found.items()):
            keep = (ts >= start_ms) & (ts <= end_ms)
            if keep.any():
                out.append(SeriesData(series[sid], ts[keep], values[keep]))
        return out


def _split(
    rows: Sequence[tuple[int, int, float]],
) -> list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """(series_id, ts, value) rows ordered by series into one array pair per series."""
    if not rows:
        return []
    # One float table: ids and millisecond times stay exact (both far below 2**53).
    table = np.array(rows, dtype=np.float64)
    sids = table[:, 0].astype(np.int64)
    ts = table[:, 1].astype(np.int64)
    values = table[:, 2].copy()
    starts = np.flatnonzero(np.diff(sids, prepend=sids[0] - 1))
    ends = np.append(starts[1:], len(sids))
    return [
        (int(sids[lo]), ts[lo:hi], values[lo:hi])
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _merge(
    rolled: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None,
    head: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Rollup hours and head hours together; an hour in both (a sample that arrived after
    its hour was compacted) keeps the rollup's value."""
    if rolled is None or not len(rolled[0]):
        return head
    fresh = ~np.isin(head[0] // HOUR_MS, rolled[0] // HOUR_MS)
    ts = np.concatenate([rolled[0], head[0][fresh]])
    values = np.concatenate([rolled[1], head[1][fresh]])
    order = np.argsort(ts, kind="stable")
    return ts[order], values[order]
