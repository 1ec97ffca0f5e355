"""Aggregation operators (``sum by (job) (...)`` and the like), over all steps at once.

Series are grouped by the ``by`` labels (only those kept) or by all labels except the
``without`` ones and the metric name. Sums, counts, minima and maxima are ``reduceat`` over the
series sorted by group; ``topk``, ``bottomk``, ``quantile`` and ``count_values`` rank or count
within each group. As in Prometheus 3.x, ``min``/``max`` ignore NaN unless every value is NaN,
``topk``/``bottomk`` treat NaN as the worst value and keep the series' own labels, and ``avg``
falls back to averaging pre-divided values when the plain sum overflows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from watchkeeper.metrics.labels import METRIC_NAME, Labels
from watchkeeper.metrics.promql.errors import EvaluationError
from watchkeeper.metrics.promql.format import format_plain
from watchkeeper.metrics.promql.rangefuncs import go_quantile
from watchkeeper.metrics.promql.steps import FloatArray, IntArray, StepVector


def group_key(labels: Labels, grouping: frozenset[str], without: bool) -> Labels:
    if without:
        return tuple(p for p in labels if p[0] not in grouping and p[0] != METRIC_NAME)
    return tuple(p for p in labels if p[0] in grouping)


def _groups(
    vector: StepVector, grouping: Sequence[str], without: bool
) -> tuple[list[Labels], IntArray]:
    """Return the group label sets in order of first appearance and each row's group."""
    names = frozenset(grouping)
    number: dict[Labels, int] = {}
    ids = np.empty(len(vector.labels), dtype=np.int64)
    for row, labels in enumerate(vector.labels):
        ids[row] = number.setdefault(group_key(labels, names, without), len(number))
    return list(number), ids


def aggregate(
    op: str,
    vector: StepVector,
    grouping: Sequence[str],
    without: bool,
    param: FloatArray | str | None,
) -> StepVector:
    """Evaluate aggregation ``op``; ``param`` is topk/bottomk's k or quantile's q per step,
    or count_values's label name."""
    steps = vector.values.shape[1]
    if not vector.labels:
        return StepVector.empty(steps)
    if op == "count_values":
        assert isinstance(param, str)
        return _count_values(vector, grouping, without, param)
    keys, ids = _groups(vector, grouping, without)
    if op in ("topk", "bottomk"):
        assert isinstance(param, np.ndarray)
        return _top(vector, ids, param, largest=op == "topk")
    if op == "quantile":
        assert isinstance(param, np.ndarray)
        return _quantile(vector, keys, ids, param)
    return _reduce(op, vector, keys, ids)


def _reduce(op: str, vector: StepVector, keys: list[Labels], ids: IntArray) -> StepVector:
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    values, present = vector.values[order], vector.present[order]
    count = np.add.reduceat(present.astype(np.int64), starts, axis=0)
    has_value = count > 0
    with np.errstate(all="ignore"):
        if op in ("min", "max"):
            ufunc = np.fmin if op == "min" else np.fmax
            result = ufunc.reduceat(np.where(present, values, np.nan), starts, axis=0)
        elif op == "count":
            result = count.astype(np.float64)
        elif op == "group":
            result = np.ones(count.shape)
        else:
            total = np.add.reduceat(np.where(present, values, 0.0), starts, axis=0)
            divisor = np.where(has_value, count, 1)
            mean = total / divisor
            if op == "sum":
                result = total
            elif op == "avg":
                result = _average(values, present, starts, sorted_ids, total, mean, divisor)
            else:
                # One refinement step makes the mean exact when all values are equal, so that
                # their deviation is exactly 0 (as Prometheus's running mean gives).
                shift = np.where(present, values - mean[sorted_ids], 0.0)
                mean = mean + np.add.reduceat(shift, starts, axis=0) / divisor
                deviation = np.where(present, values - mean[sorted_ids], 0.0)
                variance = np.add.reduceat(deviation * deviation, starts, axis=0) / divisor
                result = np.sqrt(variance) if op == "stddev" else variance
    return StepVector(keys, np.where(has_value, result, np.nan), has_value)


def _average(
    values: FloatArray,
    present: np.ndarray,
    starts: IntArray,
    sorted_ids: IntArray,
    total: FloatArray,
    mean: FloatArray,
    divisor: IntArray,
) -> FloatArray:
    """The mean, recomputed from values divided by their group's count where the sum
    overflowed although no value is infinite."""
    infinite = np.add.reduceat(present & np.isinf(values), starts, axis=0)
    overflowed = np.isinf(total) & (infinite == 0)
    if not overflowed.any():
        return mean
    scaled = np.where(present, values / divisor[sorted_ids], 0.0)
    return np.where(overflowed, np.add.reduceat(scaled, starts, axis=0), mean)


def _top(vector: StepVector, ids: IntArray, k_param: FloatArray, largest: bool) -> StepVector:
    """Keep, per group and step, the k largest (smallest) values; NaN ranks last."""
    for k in k_param:
        if math.isnan(k) or abs(k) >= 2**63:
            raise EvaluationError(f"Scalar value {format_plain(k)} overflows int64")
    k = np.trunc(k_param)
    values, present = vector.values, vector.present
    nan = np.isnan(values)
    tier = np.where(~present, 2, np.where(nan, 1, 0))
    key = np.where(nan | ~present, 0.0, -values if largest else values)
    selected = np.zeros(values.shape, dtype=bool)
    rank_of_row = np.zeros(values.shape, dtype=np.int64)
    for group in np.unique(ids):
        rows = np.flatnonzero(ids == group)
        order = np.lexsort((key[rows], tier[rows]), axis=0)  # stable: ties keep series order
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(len(rows))[:, None], axis=0)
        rank_of_row[rows] = ranks
        selected[rows] = present[rows] & (ranks < k[None, :])
    result = StepVector(vector.labels, np.where(selected, values, np.nan), selected)
    if values.shape[1] == 1:  # an instant query lists each group's series best first
        order = np.lexsort((rank_of_row[:, 0], ids))
        result = result.select_rows(order)
    return result


def _quantile(vector: StepVector, keys: list[Labels], ids: IntArray, q: FloatArray) -> StepVector:
    steps = vector.values.shape[1]
    values = np.full((len(keys), steps), np.nan)
    present = np.zeros((len(keys), steps), dtype=bool)
    for group in range(len(keys)):
        rows = np.flatnonzero(ids == group)
        mask = vector.present[rows].T
        present[group] = mask.any(axis=1)
        values[group] = go_quantile(vector.values[rows].T, mask, q)
    return StepVector(keys, np.where(present, values, np.nan), present)


def _count_values(
    vector: StepVector, grouping: Sequence[str], without: bool, label: str
) -> StepVector:
    """Count, per group and step, the series having each distinct value; one output series per
    value, labelled with it (formatted like Go's FormatFloat 'f')."""
    # The value label replaces any label of that name, so it never helps to group.
    names = set(grouping) | {label} if without else set(grouping) - {label}
    keys, ids = _groups(vector, sorted(names), without)
    steps = vector.values.shape[1]
    out_labels: list[Labels] = []
    out_counts: list[FloatArray] = []
    for group, key in enumerate(keys):
        rows = np.flatnonzero(ids == group)
        present = vector.present[rows]
        # Distinct values by bit pattern (0 and -0 print differently), with one NaN.
        values = np.where(np.isnan(vector.values[rows]), np.nan, vector.values[rows])[present]
        step = np.broadcast_to(np.arange(steps), present.shape)[present]
        bits, code = np.unique(values.view(np.uint64), return_inverse=True)
        counts = np.bincount(code.ravel() * steps + step, minlength=len(bits) * steps)
        out_counts.extend(counts.reshape(len(bits), steps).astype(np.float64))
        for value in bits.view(np.float64).tolist():
            pairs = dict(key)
            pairs[label] = format_plain(value)
            out_labels.append(tuple(sorted(pairs.items())))
    if not out_labels:
        return StepVector.empty(steps)
    counts_array = np.array(out_counts)
    has = counts_array > 0
    return StepVector(out_labels, np.where(has, counts_array, np.nan), has)
