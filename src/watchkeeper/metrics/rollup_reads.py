"""Reads that reach past the raw samples: where a series' raw data is gone (older than the
raw retention, 15 d by default), queries read its 5-minute rollups, and where those are gone
too (90 d), its 1-hour rollups (2 y), so that a chart over the last 30 days or the last year
is drawn from what is kept instead of stopping where the raw samples end.

A rollup keeps, per bucket, min, max, sum, count and the last value, but not the last value's
exact time. Each bucket is read as one sample: its last value, dated one millisecond before
the bucket ends. Counters so keep their resets (``rate(x[1h])`` over 5-minute points gives
the rate the raw samples would, up to the resolution) and gauges their value at the end of
each bucket. Each such sample also carries its span (the bucket's length): an instant
selector looks back over ``max(lookback, span)`` so that a one-hour rollup is seen for the
whole hour after it, not only for the five minutes of the default lookback. Range selectors
take the samples in their window as they do raw ones, so a window shorter than the rollup's
step finds at most one sample (``rate(x[5m])`` over one-hour rollups yields nothing; use a
range at least twice the step, as with any scrape interval).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from watchkeeper.metrics.chunks import ROLLUP_STEPS_MS
from watchkeeper.store.tables import MetricRollup

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
NO_RAW = np.iinfo(np.int64).max

GAP_MS = ROLLUP_STEPS_MS[0]
"""Rollups are read for a series only when its raw samples start later than this after the
range's start (or it has none in the range): a range that raw data covers costs no read."""


def needs_rollups(first_raw: int | None, start_ms: int) -> bool:
    """Whether a series whose first raw sample in the range is ``first_raw`` wants rollups."""
    return first_raw is None or first_raw - start_ms > GAP_MS


def read_older(
    conn: Connection, first_raw: dict[int, int | None], start_ms: int, end_ms: int
) -> dict[int, tuple[Ints, Floats, Ints]]:
    """Return, per series id of ``first_raw`` (its first raw sample in the range, or None),
    the rollup samples ``(ts, values, spans)`` that come before its raw data: 5-minute
    buckets that end before the first raw sample, then 1-hour buckets that end before the
    first 5-minute one. Samples up to ``end_ms``, and from ``start_ms`` minus their span: the
    sample standing for the bucket in force at ``start_ms`` is included even though it is
    dated before it (an instant selector at ``start_ms`` needs it)."""
    if not first_raw:
        return {}
    five, hour = ROLLUP_STEPS_MS
    # Only buckets that end before a series' first raw sample are used: read none past the
    # latest of those (a range that starts a little before a series' data reads next to no
    # rollup rows, instead of every 5-minute bucket of the range).
    until = min(end_ms, max(NO_RAW if t is None else t for t in first_raw.values()))
    rows = conn.execute(
        select(MetricRollup.series_id, MetricRollup.step, MetricRollup.ts, MetricRollup.last)
        .where(
            MetricRollup.series_id.in_(list(first_raw)),
            MetricRollup.step.in_(ROLLUP_STEPS_MS),
            MetricRollup.ts > start_ms - 2 * hour,  # the bucket in force at start_ms
            MetricRollup.ts <= until,
        )
        .order_by(MetricRollup.series_id, MetricRollup.step, MetricRollup.ts)
    ).all()
    out: dict[int, tuple[Ints, Floats, Ints]] = {}
    for sid, steps, ts, values in _per_series(rows):
        raw_from = first_raw.get(sid)
        limit = NO_RAW if raw_from is None else raw_from
        at = ts + steps - 1  # the bucket's last millisecond
        fine = (steps == five) & (ts + five <= limit)
        fine_from = int(ts[fine][0]) if fine.any() else limit
        coarse = (steps == hour) & (ts + hour <= fine_from)
        keep = (fine | coarse) & (at + steps >= start_ms) & (at <= end_ms)
        if not keep.any():
            continue
        order = np.argsort(at[keep], kind="stable")
        out[sid] = (at[keep][order], values[keep][order], steps[keep][order])
    return out


def _per_series(
    rows: Sequence[tuple[int, int, int, float]],
) -> list[tuple[int, Ints, Ints, Floats]]:
    if not rows:
        return []
    sids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    steps = np.fromiter((r[1] for r in rows), np.int64, len(rows))
    ts = np.fromiter((r[2] for r in rows), np.int64, len(rows))
    values = np.fromiter((r[3] for r in rows), np.float64, len(rows))
    starts = np.flatnonzero(np.diff(sids, prepend=sids[0] - 1))
    ends = np.append(starts[1:], len(sids))
    return [
        (int(sids[lo]), steps[lo:hi], ts[lo:hi], values[lo:hi])
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
