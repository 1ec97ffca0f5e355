"""Functions of a range vector (``rate``, ``*_over_time``, ...), vectorised over all series and
steps at once.

Each works on a ``Windows`` value: the flat samples of all series and, per series and step,
the bounds of the window's samples. Sums over windows use ``ufunc.reduceat``; statistics that
need every sample of a window (standard deviation, quantiles, linear regression) gather the
windows with the same number of samples into a matrix, a bounded number of rows at a time.

Semantics follow Prometheus 3.x ``promql/functions.go`` (read, not copied). Where Prometheus
sums with Kahan compensation, these are plain float64 sums (numpy's), so results may differ in
the last bits when values of very different magnitude cancel out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from watchkeeper.metrics.promql.steps import BoolArray, FloatArray, IntArray, Windows

CHUNK_ELEMENTS = 2_000_000
"""How many gathered samples a window matrix may hold at once (16 MB of float64)."""

RangeResult = tuple[FloatArray, BoolArray]
"""Values and presence, each of shape (series, steps)."""


def window_reduce(ufunc: np.ufunc, values: FloatArray, lo: IntArray, hi: IntArray) -> FloatArray:
    """Return ``ufunc`` reduced over each window ``values[lo:hi]`` (NaN for empty windows)."""
    lo_flat, hi_flat = lo.ravel(), hi.ravel()
    nonempty = hi_flat > lo_flat
    out = np.full(lo_flat.shape, np.nan)
    if nonempty.any():
        # reduceat over [lo0, hi0, lo1, hi1, ...]: the even results are the windows.
        index = np.empty(2 * int(nonempty.sum()), dtype=np.int64)
        index[0::2] = lo_flat[nonempty]
        index[1::2] = hi_flat[nonempty]
        out[nonempty] = ufunc.reduceat(np.append(values, 0.0), index)[0::2]
    return out.reshape(lo.shape)


def per_window(
    lo: IntArray,
    hi: IntArray,
    min_count: int,
    compute: Callable[[IntArray, IntArray], FloatArray],
) -> RangeResult:
    """Apply ``compute(windows, index)`` to matrices of windows with at least ``min_count``
    samples: ``windows`` are flat (series * steps) window numbers and ``index`` the flat
    sample indexes of each window's samples, one row per window.

    Windows are grouped by their number of samples so that no row is padded: a window's
    result then does not depend on which other windows are computed with it (numpy's
    summation order depends on the row length).
    """
    lo_flat, hi_flat = lo.ravel(), hi.ravel()
    count = hi_flat - lo_flat
    present = count >= max(min_count, 1)
    out = np.full(lo_flat.shape, np.nan)
    for width in np.unique(count[present]).tolist():
        rows = np.flatnonzero(count == width)
        columns = np.arange(width)
        chunk = max(1, CHUNK_ELEMENTS // width)
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            index = lo_flat[part, None] + columns[None, :]
            out[part] = compute(part, index)
    return out.reshape(lo.shape), present.reshape(lo.shape)


def go_quantile(x: FloatArray, mask: BoolArray, q: FloatArray) -> FloatArray:
    """Return, for each row of ``x`` (real values where ``mask``), the q-quantile the way
    Prometheus computes it: sorted with NaN first, linear interpolation between the two
    nearest ranks; -Inf for q < 0, +Inf for q > 1, NaN for q NaN."""
    rows, width = x.shape
    n = mask.sum(axis=1)
    nan = np.isnan(x) & mask
    nans = nan.sum(axis=1)
    ordered = np.sort(np.where(mask & ~nan, x, np.inf), axis=1)
    q_safe = np.clip(np.nan_to_num(q), 0.0, 1.0)
    rank = q_safe * (n - 1)
    lower = np.maximum(0.0, np.floor(rank))
    upper = np.minimum(n - 1, lower + 1)
    weight = rank - np.floor(rank)
    row_index = np.arange(rows)

    def at(position: FloatArray) -> FloatArray:
        pos = position.astype(np.int64)
        column = np.clip(pos - nans, 0, max(width - 1, 0))
        return np.where(pos < nans, np.nan, ordered[row_index, column])

    result = at(lower) * (1 - weight) + at(upper) * weight
    result = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, result))
    return np.where(np.isnan(q), np.nan, result)


def _gather(array: FloatArray | IntArray, index: IntArray, valid: BoolArray) -> FloatArray:
    return np.asarray(array[np.where(valid, index, 0)], dtype=np.float64)


def _count_pairs(indicator: BoolArray, lo: IntArray, hi: IntArray) -> RangeResult:
    """Count, per window, the adjacent sample pairs (k-1, k) inside it with the indicator set."""
    cumulative = np.cumsum(indicator)
    present = hi > lo
    last, first = np.where(present, hi - 1, 0), np.where(present, lo, 0)
    return (cumulative[last] - cumulative[first]).astype(np.float64), present


def extrapolated_rate(w: Windows, is_counter: bool, is_rate: bool) -> RangeResult:
    """rate, increase and delta: the change over the window, corrected for counter resets,
    extrapolated to the window's edges unless the series seems to start or end inside it.

    A 24-hour range query at a 1-minute step over a thousand series makes every array here
    1.4 million elements, so the arithmetic is done in place on as few arrays as possible:
    allocating (and page-faulting) fresh temporaries is what made this slow, not the
    arithmetic. Windows with fewer than two samples compute garbage that is masked out at
    the end; each element's result depends on its own window only.
    """
    count = w.hi - w.lo
    ok = count >= 2
    if not ok.any():
        return np.full(w.lo.shape, np.nan), ok
    last = w.hi - 1
    v_first = w.values.take(w.lo, mode="clip")
    result = w.values.take(last, mode="clip")
    t_first = w.ts.take(w.lo, mode="clip").astype(np.float64)
    t_last = w.ts.take(last, mode="clip").astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result -= v_first
        if is_counter:
            result += _reset_correction(w, ok)
        ends = w.ends.astype(np.float64)
        sampled = np.subtract(t_last, t_first)
        sampled /= 1000
        to_start = np.subtract(t_first, (ends - w.range_ms)[None, :], out=t_first)
        to_start /= 1000
        to_end = np.subtract(ends[None, :], t_last, out=t_last)
        to_end /= 1000
        count -= 1
        average = np.divide(sampled, count)
        threshold = average * 1.1
        half = np.divide(average, 2, out=average)
        np.copyto(to_start, half, where=to_start >= threshold)
        if is_counter:
            # A counter cannot go below zero: do not extrapolate past the point where it would.
            to_zero = np.divide(v_first, result)
            to_zero *= sampled
            earlier = (result > 0) & (v_first >= 0)
            earlier &= to_zero < to_start
            np.copyto(to_start, to_zero, where=earlier)
        np.copyto(to_end, half, where=to_end >= threshold)
        factor = np.add(sampled, to_start, out=to_start)
        factor += to_end
        factor /= sampled
        if is_rate:
            factor /= w.range_ms / 1000
        result *= factor
    np.copyto(result, np.nan, where=~ok)
    return result, ok


def _reset_correction(w: Windows, ok: BoolArray) -> FloatArray:
    """Sum, per window, the value before each drop inside it (the counter restarted from 0)."""
    values = w.values
    drops = np.flatnonzero(values[1:] < values[:-1]) + 1
    drops = drops[~np.isin(drops, w.offsets)]  # a series' first sample follows another series
    correction = np.zeros(w.lo.shape)
    if not len(drops):
        return correction
    # Drops at flat index k with lo < k < hi belong to the window; resets are rare, so only
    # the windows that contain one are summed.
    counts = np.searchsorted(drops, w.hi - 1, "right") - np.searchsorted(drops, w.lo, "right")
    needed = ok & (counts > 0)
    before_drop = np.zeros(len(values))
    before_drop[drops] = values[drops - 1]
    correction[needed] = window_reduce(np.add, before_drop, w.lo[needed] + 1, w.hi[needed])
    return correction


def instant_rate(w: Windows, is_rate: bool) -> RangeResult:
    """irate and idelta: from the last two samples of the window."""
    ok = (w.hi - w.lo) >= 2
    v_last, v_prev = _gather(w.values, w.hi - 1, ok), _gather(w.values, w.hi - 2, ok)
    if not is_rate:
        return np.where(ok, v_last - v_prev, np.nan), ok
    t_last, t_prev = _gather(w.ts, w.hi - 1, ok), _gather(w.ts, w.hi - 2, ok)
    change = np.where(v_last < v_prev, v_last, v_last - v_prev)  # a drop is a counter reset
    seconds = np.where(ok, t_last - t_prev, 1.0) / 1000
    return np.where(ok, change / seconds, np.nan), ok


def over_time(name: str, w: Windows) -> RangeResult:
    """The ``<aggregation>_over_time`` functions without a parameter."""
    count = (w.hi - w.lo).astype(np.float64)
    present = count > 0
    if name == "count_over_time":
        return count, present
    if name == "present_over_time":
        return np.ones(count.shape), present
    if name == "last_over_time":
        return _gather(w.values, w.hi - 1, present), present
    if name in ("min_over_time", "max_over_time"):
        # fmin/fmax skip NaN samples unless all are NaN, like Prometheus's comparisons.
        ufunc = np.fmin if name == "min_over_time" else np.fmax
        return window_reduce(ufunc, w.values, w.lo, w.hi), present
    total = window_reduce(np.add, w.values, w.lo, w.hi)
    if name == "sum_over_time":
        return total, present
    if name == "avg_over_time":
        return _average(w, total, count), present
    if name in ("stddev_over_time", "stdvar_over_time"):
        variance, present = per_window(w.lo, w.hi, 1, lambda _, i: _variance(w.values[i]))
        return (np.sqrt(variance) if name == "stddev_over_time" else variance), present
    raise ValueError(f"not an _over_time function: {name}")


def _average(w: Windows, total: FloatArray, count: FloatArray) -> FloatArray:
    """Mean per window; where the plain sum overflows although no sample is infinite,
    average the samples divided by their count instead (as Prometheus falls back to)."""
    mean = total / np.where(count > 0, count, 1)
    infinite = np.concatenate([[0], np.cumsum(np.isinf(w.values))])
    overflowed = np.isinf(total) & (infinite[w.hi] == infinite[w.lo])
    for i, j in np.argwhere(overflowed):
        samples = w.values[w.lo[i, j] : w.hi[i, j]]
        mean[i, j] = float(np.sum(samples / len(samples)))
    return mean


def _variance(x: FloatArray) -> FloatArray:
    """Population variance of each row."""
    n = x.shape[1]
    mean = x.sum(axis=1) / n
    # Refined once, the mean of equal values is exactly that value (deviations exactly 0).
    mean += (x - mean[:, None]).sum(axis=1) / n
    deviation = x - mean[:, None]
    return np.asarray((deviation * deviation).sum(axis=1) / n)


def quantile_over_time(w: Windows, q: FloatArray) -> RangeResult:
    steps = len(w.ends)

    def compute(rows: IntArray, index: IntArray) -> FloatArray:
        values = w.values[index]
        return go_quantile(values, np.ones(values.shape, dtype=bool), q[rows % steps])

    return per_window(w.lo, w.hi, 1, compute)


def changes(w: Windows) -> RangeResult:
    v = w.values
    changed = np.zeros(len(v), dtype=bool)
    changed[1:] = (v[1:] != v[:-1]) & ~(np.isnan(v[1:]) & np.isnan(v[:-1]))
    return _count_pairs(changed, w.lo, w.hi)


def resets(w: Windows) -> RangeResult:
    v = w.values
    dropped = np.zeros(len(v), dtype=bool)
    dropped[1:] = v[1:] < v[:-1]
    return _count_pairs(dropped, w.lo, w.hi)


def linear_fit(
    w: Windows, index: IntArray, constant: BoolArray, origin_ms: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Least-squares slope (per second) and intercept at ``origin_ms`` of each row of samples;
    a ``constant`` row has slope 0 (NaN if the constant is infinite), as in Prometheus."""
    x = (w.ts[index] - origin_ms[:, None]) / 1000
    y = w.values[index]
    n = x.shape[1]
    sum_x, sum_y = x.sum(axis=1), y.sum(axis=1)
    covariance = np.einsum("ij,ij->i", x, y) - sum_x * sum_y / n
    variance = np.einsum("ij,ij->i", x, x) - sum_x * sum_x / n
    slope = covariance / variance
    intercept = sum_y / n - slope * sum_x / n
    first = y[:, 0]
    infinite = np.isinf(first)
    return (
        np.where(constant, np.where(infinite, np.nan, 0.0), slope),
        np.where(constant, np.where(infinite, np.nan, first), intercept),
    )


def _constant(w: Windows) -> BoolArray:
    """Per window (flat): whether all its samples are equal (NaN never equals anything)."""
    v = w.values
    unequal = np.zeros(len(v), dtype=bool)
    unequal[1:] = ~(v[1:] == v[:-1])
    counts, _ = _count_pairs(unequal, w.lo, w.hi)
    constant: BoolArray = (counts == 0).ravel()
    return constant


def deriv(w: Windows) -> RangeResult:
    constant = _constant(w)

    def compute(rows: IntArray, index: IntArray) -> FloatArray:
        slope, _intercept = linear_fit(w, index, constant[rows], w.ts[index[:, 0]])
        return slope

    return per_window(w.lo, w.hi, 2, compute)


def predict_linear(w: Windows, seconds: FloatArray) -> RangeResult:
    steps = len(w.ends)
    constant = _constant(w)

    def compute(rows: IntArray, index: IntArray) -> FloatArray:
        step = rows % steps
        slope, intercept = linear_fit(w, index, constant[rows], w.eval_ts[step])
        return slope * seconds[step] + intercept

    return per_window(w.lo, w.hi, 2, compute)


def evaluate(name: str, w: Windows, scalar: FloatArray | None) -> RangeResult:
    """Evaluate range function ``name``; ``scalar`` is its scalar argument, if any, per step."""
    if name in ("rate", "increase", "delta"):
        return extrapolated_rate(w, is_counter=name != "delta", is_rate=name == "rate")
    if name in ("irate", "idelta"):
        return instant_rate(w, is_rate=name == "irate")
    if name == "changes":
        return changes(w)
    if name == "resets":
        return resets(w)
    if name == "deriv":
        return deriv(w)
    if name == "predict_linear":
        assert scalar is not None
        return predict_linear(w, scalar)
    if name == "quantile_over_time":
        assert scalar is not None
        return quantile_over_time(w, scalar)
    return over_time(name, w)
