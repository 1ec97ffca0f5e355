"""Read a selector's series from the source once per query and place them on the step grid.

Prometheus 3.x semantics: an instant selector at time t takes each series' newest sample in
``(t - lookback, t]`` (``(t - max(lookback, span), t]`` for a sample read from a rollup,
see :mod:`watchkeeper.metrics.rollup_reads`) and yields nothing if that sample is a
staleness marker; a range
selector ``[r]`` takes the samples in ``(t - r, t]`` with staleness markers left out. Both
windows are open on the left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from watchkeeper.metrics.labels import STALE_NAN_BITS, Labels, Matcher
from watchkeeper.metrics.promql.steps import BoolArray, FloatArray, IntArray, StepVector
from watchkeeper.metrics.source import SeriesSource


@dataclass
class Fetched:
    """Series sorted by label set, their samples concatenated: series i owns
    ``ts[offsets[i]:offsets[i + 1]]``."""

    labels: list[Labels]
    ts: IntArray
    values: FloatArray
    offsets: IntArray
    spans: IntArray | None = None  # per sample, the rollup bucket it stands for (0: raw)


def is_stale_array(values: FloatArray) -> BoolArray:
    """Return where ``values`` hold Prometheus's staleness marker (one NaN bit pattern)."""
    stale: BoolArray = values.view(np.uint64) == np.uint64(STALE_NAN_BITS)
    return stale


def fetch(
    source: SeriesSource,
    matchers: Sequence[Matcher],
    start_ms: int,
    end_ms: int,
    *,
    drop_stale: bool,
) -> Fetched:
    """Return the series matching ``matchers`` with their samples in ``[start_ms, end_ms]``,
    without staleness markers if ``drop_stale`` (series left without samples are left out)."""
    found = [s for s in source.select(matchers, start_ms, end_ms) if len(s.ts)]
    found.sort(key=lambda s: s.labels)
    if not found:
        return Fetched([], np.empty(0, dtype=np.int64), np.empty(0), np.zeros(1, dtype=np.int64))
    sizes = np.array([len(s.ts) for s in found], dtype=np.int64)
    ts = np.concatenate([s.ts for s in found])
    values = np.concatenate([s.values for s in found])
    labels = [s.labels for s in found]
    spans = None
    if any(s.spans is not None for s in found):
        spans = np.concatenate(
            [np.zeros(len(s.ts), dtype=np.int64) if s.spans is None else s.spans for s in found]
        )
    if drop_stale:
        keep = ~is_stale_array(values)
        if not keep.all():
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            sizes = np.add.reduceat(keep.astype(np.int64), starts)
            ts, values = ts[keep], values[keep]
            spans = None if spans is None else spans[keep]
            labels = [x for x, size in zip(labels, sizes, strict=True) if size]
            sizes = sizes[sizes > 0]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return Fetched(labels, ts, values, offsets, spans)


def positions(fetched: Fetched, edges: IntArray) -> IntArray:
    """Return, for each series and edge, the flat index just past the series' last sample at
    or before the edge (shape (series, edges))."""
    out = np.empty((len(fetched.labels), len(edges)), dtype=np.int64)
    offsets = fetched.offsets
    for i in range(len(fetched.labels)):
        start, stop = int(offsets[i]), int(offsets[i + 1])
        out[i] = np.searchsorted(fetched.ts[start:stop], edges, "right")
        out[i] += start
    return out


def instant_vector(
    fetched: Fetched, ends: IntArray, lookback_ms: int
) -> tuple[StepVector, IntArray]:
    """Return the vector the selector yields at each of ``ends``, and the timestamp of each
    value's sample (for ``timestamp()``)."""
    n, steps = len(fetched.labels), len(ends)
    if n == 0:
        return StepVector.empty(steps), np.empty((0, steps), dtype=np.int64)
    newest = positions(fetched, ends) - 1
    present = newest >= fetched.offsets[:-1, None]
    index = np.maximum(newest, 0)
    sample_ts = fetched.ts[index]
    values = fetched.values[index]
    if fetched.spans is None:
        present &= sample_ts > ends - lookback_ms
    else:  # a rollup's sample stands for its whole bucket
        present &= sample_ts > ends - np.maximum(lookback_ms, fetched.spans[index])
    present &= ~is_stale_array(values)
    return StepVector(list(fetched.labels), np.where(present, values, np.nan), present), sample_ts


def window_bounds(fetched: Fetched, ends: IntArray, range_ms: int) -> tuple[IntArray, IntArray]:
    """Return (lo, hi): series i's samples in window j are the flat slice ``lo[i, j]:hi[i, j]``."""
    hi = positions(fetched, ends)
    if len(ends) > 1:
        step = int(ends[1] - ends[0])
        shift = range_ms // step if step > 0 else 0
        regular = step > 0 and range_ms % step == 0 and bool((np.diff(ends) == step).all())
        if regular and 0 < shift < len(ends):
            # A window starts where the window `shift` steps earlier ended.
            lo = np.empty_like(hi)
            lo[:, shift:] = hi[:, :-shift]
            lo[:, :shift] = positions(fetched, ends[:shift] - range_ms)
            return lo, hi
    return positions(fetched, ends - range_ms), hi
