"""Binary operators between scalars and instant vectors, over all steps at once.

Prometheus 3.x semantics: arithmetic drops the metric name; a comparison filters (keeping the
left-hand value and the name) unless ``bool`` turns it into 0/1 (dropping the name); vectors are
paired by their labels, ignoring the metric name, or by ``on(...)`` / ``ignoring(...)``;
``group_left``/``group_right`` allow many series on one side, copying the ``group_x(...)``
labels from the "one" side; ``and``, ``or`` and ``unless`` act per step on the pairing alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from watchkeeper.metrics.labels import METRIC_NAME, Labels
from watchkeeper.metrics.promql.ast import ARITHMETIC_OPS, VectorMatching
from watchkeeper.metrics.promql.errors import EvaluationError
from watchkeeper.metrics.promql.steps import (
    SAME_LABELSET,
    BoolArray,
    FloatArray,
    StepScalar,
    StepVector,
    Value,
    drop_name,
    merge_same_labels,
)

Operation = Callable[[FloatArray, FloatArray], FloatArray]
Comparison = Callable[[FloatArray, FloatArray], BoolArray]

ARITHMETIC: dict[str, Operation] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.true_divide,
    "%": np.fmod,  # Go's math.Mod: the result has the sign of the dividend
    "^": np.power,
    "atan2": np.arctan2,
}
COMPARISON: dict[str, Comparison] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}


def binary(op: str, lhs: Value, rhs: Value, return_bool: bool, matching: VectorMatching) -> Value:
    """Evaluate ``lhs op rhs`` (the parser has checked the operand types)."""
    with np.errstate(all="ignore"):
        if isinstance(lhs, StepScalar) and isinstance(rhs, StepScalar):
            if op in COMPARISON:
                return StepScalar(COMPARISON[op](lhs.values, rhs.values).astype(np.float64))
            return StepScalar(ARITHMETIC[op](lhs.values, rhs.values))
        if isinstance(lhs, StepVector) and isinstance(rhs, StepScalar):
            return _vector_scalar(op, lhs, rhs.values, False, return_bool)
        if isinstance(lhs, StepScalar) and isinstance(rhs, StepVector):
            return _vector_scalar(op, rhs, lhs.values, True, return_bool)
        assert isinstance(lhs, StepVector) and isinstance(rhs, StepVector)
        if op in ("and", "or", "unless"):
            return _set_operation(op, lhs, rhs, matching)
        return _vector_vector(op, lhs, rhs, return_bool, matching)


def _vector_scalar(
    op: str, vector: StepVector, scalar: FloatArray, scalar_first: bool, return_bool: bool
) -> StepVector:
    values, present = vector.values, vector.present
    left, right = (scalar[None, :], values) if scalar_first else (values, scalar[None, :])
    labels = vector.labels
    if op in COMPARISON:
        keep = COMPARISON[op](left, right)  # the vector's own value is what passes the filter
        if return_bool:
            values, labels = keep.astype(np.float64), [drop_name(x) for x in labels]
        else:
            present = present & keep
    else:
        values = ARITHMETIC[op](left, right)
        labels = [drop_name(x) for x in labels]
    return merge_same_labels(StepVector(labels, np.where(present, values, np.nan), present))


def signature(labels: Labels, matching: VectorMatching) -> Labels:
    """The labels two series must share to be paired."""
    if matching.on:
        return tuple(p for p in labels if p[0] in matching.labels)
    return tuple(p for p in labels if p[0] not in matching.labels and p[0] != METRIC_NAME)


def _any_by_signature(vector: StepVector, matching: VectorMatching) -> dict[Labels, BoolArray]:
    """For each signature, whether any series having it has a value, per step."""
    found: dict[Labels, BoolArray] = {}
    for labels, present in zip(vector.labels, vector.present, strict=True):
        key = signature(labels, matching)
        found[key] = found[key] | present if key in found else present.copy()
    return found


def _set_operation(
    op: str, lhs: StepVector, rhs: StepVector, matching: VectorMatching
) -> StepVector:
    steps = lhs.values.shape[1]
    nowhere = np.zeros(steps, dtype=bool)
    if op == "or":
        on_left = _any_by_signature(lhs, matching)
        rhs_present = np.array(
            [
                p & ~on_left.get(signature(x, matching), nowhere)
                for x, p in zip(rhs.labels, rhs.present, strict=True)
            ]
        ).reshape(rhs.present.shape)
        combined = StepVector(
            lhs.labels + rhs.labels,
            np.concatenate([lhs.values, np.where(rhs_present, rhs.values, np.nan)]),
            np.concatenate([lhs.present, rhs_present]),
        )
        return merge_same_labels(combined)
    on_right = _any_by_signature(rhs, matching)
    matched = np.array(
        [on_right.get(signature(x, matching), nowhere) for x in lhs.labels], dtype=bool
    ).reshape(lhs.present.shape)
    present = lhs.present & (matched if op == "and" else ~matched)
    return StepVector(lhs.labels, np.where(present, lhs.values, np.nan), present)


def result_labels(
    many: Labels, one: Labels, op: str, return_bool: bool, matching: VectorMatching
) -> Labels:
    """The labels of a pairing's result (Prometheus's resultMetric)."""
    labels = dict(many)
    if op in ARITHMETIC_OPS or return_bool:
        labels.pop(METRIC_NAME, None)
    if matching.card == "one-to-one":
        if matching.on:
            labels = {k: v for k, v in labels.items() if k in matching.labels}
        else:
            labels = {k: v for k, v in labels.items() if k not in matching.labels}
    one_side = dict(one)
    for name in matching.include:
        if one_side.get(name):
            labels[name] = one_side[name]
        else:
            labels.pop(name, None)
    return tuple(sorted(labels.items()))


def _format(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"


def _vector_vector(
    op: str, lhs: StepVector, rhs: StepVector, return_bool: bool, matching: VectorMatching
) -> StepVector:
    swapped = matching.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    one_rows: dict[Labels, list[int]] = defaultdict(list)
    for j, one_labels in enumerate(one.labels):
        one_rows[signature(one_labels, matching)].append(j)
    many_has_values = many.present.any(axis=0)
    for key, rows in one_rows.items():
        if len(rows) > 1 and ((one.present[rows].sum(axis=0) > 1) & many_has_values).any():
            side = "left" if swapped else "right"
            raise EvaluationError(
                f"found duplicate series for the match group {_format(key)} on the {side} "
                f"hand-side of the operation: [{_format(one.labels[rows[0]])}, "
                f"{_format(one.labels[rows[1]])}];many-to-many matching not allowed: matching "
                "labels must be unique on one side"
            )
    pairs = [
        (i, j)
        for i, many_labels in enumerate(many.labels)
        for j in one_rows.get(signature(many_labels, matching), ())
    ]
    steps = lhs.values.shape[1]
    if not pairs:
        return StepVector.empty(steps)
    many_index = np.array([i for i, _ in pairs])
    one_index = np.array([j for _, j in pairs])
    both = many.present[many_index] & one.present[one_index]
    left, right = many.values[many_index], one.values[one_index]
    if swapped:
        left, right = right, left
    if op in COMPARISON:
        keep = COMPARISON[op](left, right)
        values = keep.astype(np.float64) if return_bool else left
        present = both if return_bool else both & keep
    else:
        values, present = ARITHMETIC[op](left, right), both
    if matching.card == "one-to-one":
        _check_one_to_one(many, many_index, present, matching)
    labels = [
        result_labels(many.labels[i], one.labels[j], op, return_bool, matching) for i, j in pairs
    ]
    message = (
        SAME_LABELSET
        if matching.card == "one-to-one"
        else "multiple matches for labels: grouping labels must ensure unique matches"
    )
    return merge_same_labels(
        StepVector(labels, np.where(present, values, np.nan), present), message
    )


def _check_one_to_one(
    many: StepVector, many_index: np.ndarray, present: BoolArray, matching: VectorMatching
) -> None:
    """Without group_left/right, two left-hand series may not pair up at the same step."""
    counts: dict[Labels, np.ndarray] = {}
    for pair, i in enumerate(many_index):
        key = signature(many.labels[i], matching)
        counts[key] = (
            counts[key] + present[pair] if key in counts else present[pair].astype(np.int64)
        )
    if any((count > 1).any() for count in counts.values()):
        raise EvaluationError(
            "multiple matches for labels: many-to-one matching must be explicit "
            "(group_left/group_right)"
        )
