"""Functions of instant vectors and scalars (``abs``, ``clamp``, ``label_replace``, ...), and
``absent``. Range-vector functions are in ``rangefuncs.py``.

Prometheus 3.x semantics: functions drop the metric name except ``sort``, ``sort_desc``,
``label_replace`` and ``label_join`` (and ``last_over_time`` among the range functions);
date functions read a value as Unix seconds in UTC.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from watchkeeper.metrics.labels import METRIC_NAME, Labels
from watchkeeper.metrics.promql import ast
from watchkeeper.metrics.promql.steps import FloatArray, IntArray, StepScalar, StepVector

Elementwise = Callable[[FloatArray], FloatArray]


def _sign(v: FloatArray) -> FloatArray:
    return np.where(v > 0, 1.0, np.where(v < 0, -1.0, v))


ELEMENTWISE: dict[str, Elementwise] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "sgn": _sign,
    "deg": lambda v: v * 180 / math.pi,
    "rad": lambda v: v * math.pi / 180,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
}


def elementwise(name: str, vector: StepVector) -> StepVector:
    with np.errstate(all="ignore"):
        values = ELEMENTWISE[name](vector.values)
    return StepVector(vector.labels, np.where(vector.present, values, np.nan), vector.present)


def clamp(vector: StepVector, low: FloatArray, high: FloatArray) -> StepVector:
    """Clamp values into [low, high]; nothing at steps where high < low."""
    present = vector.present & ~(high < low)[None, :]
    values = np.maximum(low[None, :], np.minimum(high[None, :], vector.values))
    return StepVector(vector.labels, np.where(present, values, np.nan), present)


def round_to(vector: StepVector, to_nearest: FloatArray) -> StepVector:
    """Round to the nearest multiple of ``to_nearest``, ties upwards (Prometheus's formula)."""
    with np.errstate(all="ignore"):
        inverse = 1.0 / to_nearest[None, :]
        values = np.floor(vector.values * inverse + 0.5) / inverse
    return StepVector(vector.labels, np.where(vector.present, values, np.nan), vector.present)


def scalar_of(vector: StepVector) -> StepScalar:
    """The value of the only series, per step; NaN where there is not exactly one."""
    count = vector.present.sum(axis=0)
    only = np.where(vector.present, vector.values, 0.0).sum(axis=0)
    return StepScalar(np.where(count == 1, only, np.nan))


def vector_of(scalar: StepScalar) -> StepVector:
    steps = len(scalar.values)
    return StepVector([()], scalar.values[None, :].copy(), np.ones((1, steps), dtype=bool))


def timestamps(vector: StepVector, sample_ts: IntArray | FloatArray) -> StepVector:
    """Each value replaced by the time of its sample in seconds."""
    values = np.where(vector.present, np.asarray(sample_ts, dtype=np.float64) / 1000, np.nan)
    return StepVector(vector.labels, values, vector.present)


def sort_rows(vector: StepVector, descending: bool) -> StepVector:
    """Order the series of an instant query by value, NaN last (range results are ordered by
    labels anyway, so only a single step is reordered)."""
    if vector.values.shape[1] != 1 or not vector.labels:
        return vector
    values = vector.values[:, 0]
    key = np.where(np.isnan(values), 0.0, -values if descending else values)
    return vector.select_rows(np.lexsort((key, np.isnan(values))))


def absent_labels(expr: ast.Expr) -> Labels:
    """The labels absent() reports: those fixed by equality matchers of a selector argument
    (a label matched more than once, or not by equality, is left out, as in Prometheus)."""
    if isinstance(expr, ast.MatrixSelector):
        expr = expr.selector
    if not isinstance(expr, ast.VectorSelector):
        return ()
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for matcher in expr.matchers:
        if matcher.name == METRIC_NAME:
            continue
        if matcher.op == "=" and matcher.name not in seen:
            labels[matcher.name] = matcher.value
            seen.add(matcher.name)
        else:
            labels.pop(matcher.name, None)
    return tuple(sorted(labels.items()))


def absent(has_series: np.ndarray, labels: Labels) -> StepVector:
    """1 with ``labels`` at the steps where ``has_series`` is False."""
    missing = ~has_series
    return StepVector([labels], np.where(missing, 1.0, np.nan)[None, :], missing[None, :])


def label_replace(
    vector: StepVector, destination: str, replacement: str, source: str, regex: str
) -> StepVector:
    """Set ``destination`` to ``replacement`` (with $1, ${name} expanded) for series whose
    ``source`` label fully matches ``regex``; an empty result removes the label."""
    pattern = re.compile(f"(?s:{regex})")
    labels = []
    for series in vector.labels:
        match = pattern.fullmatch(dict(series).get(source, ""))
        labels.append(
            _with_label(series, destination, _expand(replacement, match)) if match else series
        )
    return StepVector(labels, vector.values, vector.present)


def label_join(
    vector: StepVector, destination: str, separator: str, sources: list[str]
) -> StepVector:
    labels = []
    for series in vector.labels:
        pairs = dict(series)
        joined = separator.join(pairs.get(source, "") for source in sources)
        labels.append(_with_label(series, destination, joined))
    return StepVector(labels, vector.values, vector.present)


def _with_label(labels: Labels, name: str, value: str) -> Labels:
    pairs = dict(labels)
    if value:
        pairs[name] = value
    else:
        pairs.pop(name, None)
    return tuple(sorted(pairs.items()))


_TEMPLATE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))", re.ASCII)  # Go: [A-Za-z0-9_]


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}`` (longest word), ``$$`` for
    a dollar; a reference to a missing group gives the empty string."""

    def group(ref: re.Match[str]) -> str:
        name = ref.group(1) or ref.group(2)
        if name is None:
            return "$"
        try:
            value = match.group(int(name)) if name.isdigit() else match.group(name)
        except IndexError:  # no such group
            return ""
        return value or ""

    return _TEMPLATE.sub(group, template)


DATE_PARTS = (
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
)


def date_part(name: str, seconds: FloatArray) -> FloatArray:
    """The UTC calendar field ``name`` of Unix times (truncated to whole seconds)."""
    valid = np.isfinite(seconds) & (np.abs(seconds) < 2**53)
    whole = np.trunc(np.where(valid, seconds, 0.0)).astype(np.int64)
    days = np.floor_divide(whole, 86_400)
    day = days.astype("datetime64[D]")
    month_start = day.astype("datetime64[M]")
    if name == "year":
        part = day.astype("datetime64[Y]").astype(np.int64) + 1970
    elif name == "month":
        part = month_start.astype(np.int64) % 12 + 1
    elif name == "day_of_month":
        part = (day - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    elif name == "day_of_year":
        part = (day - day.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    elif name == "days_in_month":
        next_month = (month_start + 1).astype("datetime64[D]")
        part = (next_month - month_start.astype("datetime64[D]")).astype(np.int64)
    elif name == "day_of_week":
        part = (days + 4) % 7  # 1970-01-01 was a Thursday
    elif name == "hour":
        part = np.floor_divide(np.mod(whole, 86_400), 3_600)
    else:
        part = np.floor_divide(np.mod(whole, 3_600), 60)
    return np.where(valid, part.astype(np.float64), np.nan)
