"""What the evaluator passes between nodes: every value over all evaluation steps at once.

An instant vector is one row per series and one column per step: a float64 matrix of values
and a boolean matrix saying where the series has a value. The presence mask is separate from
the values because a sample may genuinely be NaN, which must stay distinct from "no sample".
A range vector keeps its series' samples flat, with per-step window bounds into them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from watchkeeper.metrics.labels import METRIC_NAME, Labels
from watchkeeper.metrics.promql.errors import EvaluationError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

SAME_LABELSET = "vector cannot contain metrics with the same labelset"


@dataclass
class StepScalar:
    values: FloatArray
    """Shape (steps,): a scalar has a value at every step."""


@dataclass
class StepString:
    value: str


@dataclass
class StepVector:
    labels: list[Labels]
    values: FloatArray
    """Shape (series, steps)."""
    present: BoolArray
    """Shape (series, steps): True where the series has a sample at that step."""

    @classmethod
    def empty(cls, steps: int) -> StepVector:
        return cls([], np.empty((0, steps)), np.empty((0, steps), dtype=bool))

    def select_rows(self, rows: IntArray | list[int]) -> StepVector:
        index = np.asarray(rows, dtype=np.int64)
        return StepVector([self.labels[i] for i in index], self.values[index], self.present[index])


@dataclass
class Windows:
    """A range vector: for series i at step j, its samples are ``ts[lo[i, j]:hi[i, j]]`` and
    ``values[...]`` (stale markers removed), the window being ``(ends[j] - range_ms, ends[j]]``."""

    labels: list[Labels]
    ts: IntArray
    values: FloatArray
    offsets: IntArray
    """Shape (series + 1,): series i's samples are ``ts[offsets[i]:offsets[i + 1]]``."""
    lo: IntArray
    hi: IntArray
    ends: IntArray
    """Shape (steps,): each window's right edge (the step time, moved by offset or @)."""
    range_ms: int
    eval_ts: IntArray
    """Shape (steps,): the evaluation time of each step (predict_linear extrapolates from it)."""


Value = StepScalar | StepString | StepVector | Windows


def drop_name(labels: Labels) -> Labels:
    if labels and labels[0][0] == METRIC_NAME:
        return labels[1:]
    return tuple(pair for pair in labels if pair[0] != METRIC_NAME)


def drop_names(vector: StepVector) -> StepVector:
    """Return the vector without metric names, merging series that then coincide."""
    renamed = StepVector([drop_name(x) for x in vector.labels], vector.values, vector.present)
    return merge_same_labels(renamed)


def merge_same_labels(vector: StepVector, message: str = SAME_LABELSET) -> StepVector:
    """Merge rows that have the same label set into one series, as Prometheus does when it
    assembles a range result; raise EvaluationError(message) if two of them have a value at the
    same step (the first row's position is kept)."""
    rows: dict[Labels, list[int]] = defaultdict(list)
    for i, labels in enumerate(vector.labels):
        rows[labels].append(i)
    if len(rows) == len(vector.labels):
        return vector
    keep: list[int] = []
    values, present = vector.values.copy(), vector.present.copy()
    for group in rows.values():
        first = group[0]
        keep.append(first)
        if len(group) == 1:
            continue
        if (vector.present[group].sum(axis=0) > 1).any():
            raise EvaluationError(message)
        for other in group[1:]:
            mask = vector.present[other]
            values[first, mask] = vector.values[other, mask]
            present[first] |= mask
    keep.sort()
    return StepVector([vector.labels[i] for i in keep], values[keep], present[keep])


def reject_same_labels(vector: StepVector) -> StepVector:
    """Drop series without any value; raise EvaluationError if two remaining series have the
    same label set (what Prometheus requires of the output of range-vector functions)."""
    has_values = vector.present.any(axis=1)
    if not has_values.all():
        vector = vector.select_rows(np.flatnonzero(has_values))
    if len(set(vector.labels)) != len(vector.labels):
        raise EvaluationError(SAME_LABELSET)
    return vector
