"""``histogram_quantile`` over classic histograms: bucket series told apart by their ``le``
label, grouped by their other labels.

Follows Prometheus 3.x ``BucketQuantile``: buckets sorted by upper bound, the highest must be
``+Inf``, buckets with the same bound are added up, counts that differ by a relative 1e-12 are
treated as equal and any remaining decrease is flattened (monotonicity forced); the quantile is
interpolated linearly inside its bucket, with 0 as the lower edge of the first bucket when its
upper bound is positive, and the second-highest bound returned when the quantile falls into
the +Inf bucket. Native histograms are not stored by Watchkeeper and so not handled.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np

from watchkeeper.metrics.labels import METRIC_NAME, Labels
from watchkeeper.metrics.promql.steps import BoolArray, FloatArray, StepVector

BUCKET_LABEL = "le"
SMALL_DELTA_TOLERANCE = 1e-12
MIN_NORMAL = sys.float_info.min


def almost_equal(a: FloatArray, b: FloatArray, epsilon: float) -> BoolArray:
    """Prometheus's ``almost.Equal``: relative difference below ``epsilon`` (NaN equals NaN)."""
    abs_sum = np.abs(a) + np.abs(b)
    diff = np.abs(a - b)
    tiny = (a == 0) | (b == 0) | (abs_sum < MIN_NORMAL)
    relative = diff / np.minimum(abs_sum, sys.float_info.max)
    close = np.where(tiny, diff < epsilon * MIN_NORMAL, relative < epsilon)
    result: BoolArray = (np.isnan(a) & np.isnan(b)) | (a == b) | close
    return result


def bucket_quantile(q: FloatArray, bounds: FloatArray, counts: FloatArray) -> FloatArray:
    """Return the q-quantile per column of ``counts`` (buckets x steps, cumulative counts)
    for bucket upper ``bounds`` sorted ascending; q has one value per column."""
    steps = counts.shape[1]
    out = np.full(steps, np.nan)
    if np.isinf(bounds[-1]) and bounds[-1] > 0:
        unique, starts = np.unique(bounds, return_index=True)
        counts = np.add.reduceat(counts, starts, axis=0)
        counts = _monotonic(counts)
        if len(unique) >= 2:
            out = _interpolate(q, unique, counts)
    out = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, out))
    return np.where(np.isnan(q), np.nan, out)


def _monotonic(counts: FloatArray) -> FloatArray:
    counts = counts.copy()
    previous = counts[0].copy()
    for i in range(1, len(counts)):
        current = counts[i].copy()
        same = current == previous
        ignore = ~same & (
            almost_equal(previous, current, SMALL_DELTA_TOLERANCE) | (current < previous)
        )
        counts[i] = np.where(ignore, previous, current)
        previous = np.where(same | ignore, previous, current)
    return counts


def _interpolate(q: FloatArray, bounds: FloatArray, counts: FloatArray) -> FloatArray:
    buckets, steps = counts.shape
    observations = counts[-1]
    rank = q * observations
    reached = counts[:-1] >= rank[None, :]
    # The first bucket whose count reaches the rank; the +Inf bucket if none does.
    index = np.where(reached.any(axis=0), reached.argmax(axis=0), buckets - 1)
    columns = np.arange(steps)
    below = np.where(index > 0, counts[np.maximum(index - 1, 0), columns], 0.0)
    start = np.where(index > 0, bounds[np.maximum(index - 1, 0)], 0.0)
    end = bounds[index]
    inside = counts[index, columns] - below
    result = start + (end - start) * ((rank - below) / inside)
    result = np.where((index == 0) & (bounds[0] <= 0), bounds[0], result)
    result = np.where(index == buckets - 1, bounds[-2], result)
    return np.where(observations == 0, np.nan, result)


def histogram_quantile(q: FloatArray, vector: StepVector) -> StepVector:
    """Return one series per histogram (the bucket series' labels without ``le`` and the metric
    name) with the q-quantile at every step where it has buckets."""
    groups: dict[Labels, list[tuple[float, int]]] = defaultdict(list)
    for row, labels in enumerate(vector.labels):
        le = dict(labels).get(BUCKET_LABEL)
        try:
            bound = float(le) if le is not None else None
        except ValueError:
            bound = None
        if bound is None:
            continue  # not a bucket: Prometheus ignores it (with a warning)
        key = tuple(p for p in labels if p[0] not in (BUCKET_LABEL, METRIC_NAME))
        groups[key].append((bound, row))
    steps = vector.values.shape[1]
    out_labels, out_values, out_present = [], [], []
    for key, buckets in groups.items():
        buckets.sort(key=lambda b: b[0])
        bounds = np.array([b for b, _ in buckets])
        rows = [row for _, row in buckets]
        present = vector.present[rows]
        values = np.full(steps, np.nan)
        has_buckets = present.any(axis=0)
        # Steps where the same buckets are present are computed together.
        patterns, inverse = np.unique(present.T, axis=0, return_inverse=True)
        for number, pattern in enumerate(patterns):
            if not pattern.any():
                continue
            columns = np.flatnonzero(inverse.ravel() == number)
            counts = vector.values[rows][pattern][:, columns]
            values[columns] = bucket_quantile(q[columns], bounds[pattern], counts)
        out_labels.append(key)
        out_values.append(values)
        out_present.append(has_buckets)
    if not out_labels:
        return StepVector.empty(steps)
    return StepVector(out_labels, np.array(out_values), np.array(out_present))
