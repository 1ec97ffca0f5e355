"""Evaluate PromQL queries over a ``SeriesSource``, with Prometheus 3.x semantics.

A query is evaluated once for all its steps: each node of the syntax tree turns into values
over the whole step grid (see ``steps.py``), so a range query costs a few numpy operations per
node rather than a Python loop per step and sample. Each selector reads its data from the
source once per query.

Semantics follow Prometheus 3.x (3.5): 5-minute lookback with windows open on the left,
staleness markers, ``rate`` extrapolation, ``offset`` and ``@`` (with ``start()``/``end()``),
subqueries (steps aligned to multiples of the subquery step; the default step is 1 minute,
Prometheus's default evaluation interval). Native histograms are not supported: Watchkeeper
stores float samples only.
"""

from __future__ import annotations

import math

import numpy as np

from watchkeeper.metrics.labels import Matcher
from watchkeeper.metrics.promql import ast, functions, rangefuncs
from watchkeeper.metrics.promql.aggregate import aggregate
from watchkeeper.metrics.promql.binary import binary
from watchkeeper.metrics.promql.errors import EvaluationError, PromQLError
from watchkeeper.metrics.promql.histogram import histogram_quantile
from watchkeeper.metrics.promql.parser import parse
from watchkeeper.metrics.promql.selectors import Fetched, fetch, instant_vector, window_bounds
from watchkeeper.metrics.promql.signatures import FUNCTIONS
from watchkeeper.metrics.promql.steps import (
    IntArray,
    StepScalar,
    StepString,
    StepVector,
    Value,
    Windows,
    drop_name,
    drop_names,
    merge_same_labels,
    reject_same_labels,
)
from watchkeeper.metrics.promql.values import Matrix, Result, Sample, Scalar, Series, String, Vector
from watchkeeper.metrics.source import SeriesSource

TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"
SUBQUERY_MAX_POINTS = 1_000_000
RANGE_FUNCTIONS = frozenset(
    name for name, spec in FUNCTIONS.items() if "matrix" in spec.args and name != "absent_over_time"
)


class Engine:
    """Answer instant and range queries.

    ``lookback_ms``: how far back an instant selector looks for a sample (Prometheus's
    ``--query.lookback-delta``). ``max_points``: the most steps a range query may have.
    ``max_samples``: the most samples a query may load, and the most values (series times
    steps) a selector may produce. ``subquery_step_ms``: the step of ``expr[range:]``.
    """

    def __init__(
        self,
        source: SeriesSource,
        lookback_ms: int = 300_000,
        max_points: int = 11_000,
        max_samples: int = 50_000_000,
        subquery_step_ms: int = 60_000,
    ) -> None:
        self.source = source
        self.lookback_ms = lookback_ms
        self.max_points = max_points
        self.max_samples = max_samples
        self.subquery_step_ms = subquery_step_ms

    def instant(self, query: str, time_ms: int) -> Result:
        """Evaluate ``query`` at ``time_ms``; raise PromQLError for a bad query,
        EvaluationError when the data makes it fail."""
        expr = parse(query)
        ts = np.array([time_ms], dtype=np.int64)
        with np.errstate(all="ignore"):
            value = Evaluation(self, time_ms, time_ms).eval(expr, ts)
        return instant_result(value, time_ms)

    def range(self, query: str, start_ms: int, end_ms: int, step_ms: int) -> Result:
        """Evaluate ``query`` at every ``step_ms`` from ``start_ms`` to ``end_ms``; the result is
        a Matrix. Raise PromQLError for a bad query or step, EvaluationError as for instant."""
        if step_ms <= 0:
            raise PromQLError(
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer"
            )
        if end_ms < start_ms:
            raise PromQLError("end timestamp must not be before start time")
        if (end_ms - start_ms) // step_ms > self.max_points:
            raise PromQLError(
                f"exceeded maximum resolution of {self.max_points:,} points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        expr = parse(query)
        kind = ast.value_type(expr)
        if kind not in ("scalar", "vector"):
            raise PromQLError(
                f'invalid expression type "{ast.TYPE_NAMES[kind]}" for range query, '
                "must be Scalar or instant Vector"
            )
        ts = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        with np.errstate(all="ignore"):
            value = Evaluation(self, start_ms, end_ms).eval(expr, ts)
        return range_result(value, ts)


class Evaluation:
    """The evaluation of one query: ``start_ms``/``end_ms`` are what ``@ start()`` and
    ``@ end()`` refer to, also inside subqueries."""

    def __init__(self, engine: Engine, start_ms: int, end_ms: int) -> None:
        self.engine = engine
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.loaded = 0

    def eval(self, expr: ast.Expr, ts: IntArray) -> Value:
        """Return the value of ``expr`` at each of the evaluation times ``ts``."""
        if isinstance(expr, ast.NumberLiteral):
            return StepScalar(np.full(len(ts), expr.value))
        if isinstance(expr, ast.StringLiteral):
            return StepString(expr.value)
        if isinstance(expr, ast.Paren):
            return self.eval(expr.expr, ts)
        if isinstance(expr, ast.VectorSelector):
            return self.select(expr, ts)[0]
        if isinstance(expr, ast.MatrixSelector):
            return self.windows(expr, ts)
        if isinstance(expr, ast.Subquery):
            return self.subquery(expr, ts)
        if isinstance(expr, ast.Unary):
            return self.unary(expr, ts)
        if isinstance(expr, ast.Binary):
            lhs, rhs = self.eval(expr.lhs, ts), self.eval(expr.rhs, ts)
            return binary(expr.op, lhs, rhs, expr.return_bool, expr.matching)
        if isinstance(expr, ast.Aggregate):
            return self.aggregate(expr, ts)
        if isinstance(expr, ast.Call):
            return self.call(expr, ts)
        raise TypeError(f"cannot evaluate {expr!r}")

    # -- typed evaluation helpers ---------------------------------------------------------

    def vector(self, expr: ast.Expr, ts: IntArray) -> StepVector:
        value = self.eval(expr, ts)
        assert isinstance(value, StepVector)
        return value

    def scalar(self, expr: ast.Expr, ts: IntArray) -> StepScalar:
        value = self.eval(expr, ts)
        assert isinstance(value, StepScalar)
        return value

    def string(self, expr: ast.Expr) -> str:
        literal = ast.unwrap_parens(expr)
        assert isinstance(literal, ast.StringLiteral)
        return literal.value

    # -- selectors ------------------------------------------------------------------------

    def window_ends(self, at: ast.At | None, offset_ms: int, ts: IntArray) -> IntArray:
        if at is None:
            return ts - offset_ms
        if at.anchor is not None:
            fixed = self.start_ms if at.anchor == "start" else self.end_ms
        else:
            assert at.timestamp_ms is not None
            fixed = at.timestamp_ms
        return np.full(len(ts), fixed - offset_ms, dtype=np.int64)

    def fetch(
        self, matchers: tuple[Matcher, ...], start_ms: int, end_ms: int, *, drop_stale: bool
    ) -> Fetched:
        fetched = fetch(self.engine.source, matchers, start_ms, end_ms, drop_stale=drop_stale)
        self.loaded += len(fetched.ts)
        if self.loaded > self.engine.max_samples:
            raise EvaluationError(TOO_MANY_SAMPLES)
        return fetched

    def check_size(self, series: int, steps: int) -> None:
        if series * steps > self.engine.max_samples:
            raise EvaluationError(TOO_MANY_SAMPLES)

    def select(self, selector: ast.VectorSelector, ts: IntArray) -> tuple[StepVector, IntArray]:
        """The instant vector a selector yields, and each value's sample time."""
        ends = self.window_ends(selector.at, selector.offset_ms, ts)
        lookback = self.engine.lookback_ms
        fetched = self.fetch(
            selector.matchers, int(ends.min()) - lookback + 1, int(ends.max()), drop_stale=False
        )
        self.check_size(len(fetched.labels), len(ts))
        return instant_vector(fetched, ends, lookback)

    def windows(self, matrix: ast.MatrixSelector, ts: IntArray) -> Windows:
        selector = matrix.selector
        ends = self.window_ends(selector.at, selector.offset_ms, ts)
        fetched = self.fetch(
            selector.matchers,
            int(ends.min()) - matrix.range_ms + 1,
            int(ends.max()),
            drop_stale=True,
        )
        return _windows(fetched, ends, matrix.range_ms, ts)

    def subquery(self, subquery: ast.Subquery, ts: IntArray) -> Windows:
        """Evaluate the inner expression on a grid of multiples of the subquery step covering
        every window, then treat its values as samples."""
        ends = self.window_ends(subquery.at, subquery.offset_ms, ts)
        step = subquery.step_ms or self.engine.subquery_step_ms
        earliest = int(ends.min()) - subquery.range_ms
        first = earliest - earliest % step
        if first < earliest:
            first += step
        # Count the grid before making it: a fine step over a long range must be refused, not
        # allocated (``up[1y:1ms]``). The grid is capped like a range query's points.
        points = max(0, (int(ends.max()) - first) // step + 1)
        if points > SUBQUERY_MAX_POINTS:
            raise EvaluationError(
                f"subquery of {points:,} points is too fine; use a larger step (at most "
                f"{SUBQUERY_MAX_POINTS:,} points)"
            )
        inner_ts = np.arange(first, int(ends.max()) + 1, step, dtype=np.int64)
        if len(inner_ts):
            self.check_size(1, len(inner_ts))
            inner = self.vector(subquery.expr, inner_ts)
        else:
            inner = StepVector.empty(0)
        rows = np.flatnonzero(inner.present.any(axis=1))
        present = inner.present[rows]
        fetched = Fetched(
            [inner.labels[i] for i in rows],
            np.broadcast_to(inner_ts, present.shape)[present],
            inner.values[rows][present],
            np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int64),
        )
        return _windows(fetched, ends, subquery.range_ms, ts)

    # -- operators ------------------------------------------------------------------------

    def unary(self, expr: ast.Unary, ts: IntArray) -> Value:
        value = self.eval(expr.expr, ts)
        if expr.op == "+":
            return value
        if isinstance(value, StepScalar):
            return StepScalar(-value.values)
        assert isinstance(value, StepVector)
        return drop_names(StepVector(value.labels, -value.values, value.present))

    def aggregate(self, expr: ast.Aggregate, ts: IntArray) -> StepVector:
        param: np.ndarray | str | None = None
        if expr.op == "count_values":
            assert expr.param is not None
            param = self.string(expr.param)
        elif expr.param is not None:
            param = self.scalar(expr.param, ts).values
        vector = self.vector(expr.expr, ts)
        return aggregate(expr.op, vector, expr.grouping, expr.without, param)

    # -- functions ------------------------------------------------------------------------

    def call(self, call: ast.Call, ts: IntArray) -> Value:
        name, args = call.func, call.args
        if name in RANGE_FUNCTIONS:
            return self.range_function(call, ts)
        if name == "time":
            return StepScalar(ts / 1000)
        if name == "pi":
            return StepScalar(np.full(len(ts), math.pi))
        if name == "vector":
            return functions.vector_of(self.scalar(args[0], ts))
        if name in ("absent", "absent_over_time"):
            value = self.eval(args[0], ts)
            if isinstance(value, Windows):
                has_series = np.asarray((value.hi > value.lo).any(axis=0))
            else:
                assert isinstance(value, StepVector)
                has_series = np.asarray(value.present.any(axis=0))
            return functions.absent(has_series, functions.absent_labels(args[0]))
        if name in functions.DATE_PARTS and not args:
            values = functions.date_part(name, ts / 1000)
            return StepVector([()], values[None, :], np.ones((1, len(ts)), dtype=bool))
        if name == "timestamp":
            return self.timestamp(args[0], ts)
        if name == "histogram_quantile":
            quantile = self.scalar(args[0], ts).values
            return histogram_quantile(quantile, self.vector(args[1], ts))
        vector = self.vector(args[0], ts)
        if name == "scalar":
            return functions.scalar_of(vector)
        if name in ("sort", "sort_desc"):
            return functions.sort_rows(vector, descending=name == "sort_desc")
        if name == "label_replace":
            dst, replacement, src, regex = (self.string(arg) for arg in args[1:])
            return merge_same_labels(functions.label_replace(vector, dst, replacement, src, regex))
        if name == "label_join":
            dst, separator, *sources = (self.string(arg) for arg in args[1:])
            return merge_same_labels(functions.label_join(vector, dst, separator, sources))
        return drop_names(self.vector_function(name, vector, args[1:], ts))

    def vector_function(
        self, name: str, vector: StepVector, rest: tuple[ast.Expr, ...], ts: IntArray
    ) -> StepVector:
        """Functions of an instant vector whose result loses the metric name."""
        scalars = [self.scalar(arg, ts).values for arg in rest]
        if name in functions.ELEMENTWISE:
            return functions.elementwise(name, vector)
        if name in functions.DATE_PARTS:
            values = functions.date_part(name, vector.values)
            return StepVector(
                vector.labels, np.where(vector.present, values, np.nan), vector.present
            )
        if name == "clamp":
            return functions.clamp(vector, scalars[0], scalars[1])
        if name == "clamp_min":
            return functions.clamp(vector, scalars[0], np.full(len(ts), np.inf))
        if name == "clamp_max":
            return functions.clamp(vector, np.full(len(ts), -np.inf), scalars[0])
        if name == "round":
            return functions.round_to(vector, scalars[0] if scalars else np.ones(len(ts)))
        raise ValueError(f"unknown function {name}")

    def timestamp(self, arg: ast.Expr, ts: IntArray) -> StepVector:
        """timestamp() of a selector gives its samples' times; of anything else, the
        evaluation time (as in Prometheus)."""
        inner = ast.unwrap_parens(arg)
        if isinstance(inner, ast.VectorSelector):
            vector, sample_ts = self.select(inner, ts)
        else:
            vector = self.vector(arg, ts)
            sample_ts = np.broadcast_to(ts, vector.values.shape)
        return drop_names(functions.timestamps(vector, sample_ts))

    def range_function(self, call: ast.Call, ts: IntArray) -> StepVector:
        scalar = None
        windows = None
        for arg in call.args:
            value = self.eval(arg, ts)
            if isinstance(value, Windows):
                windows = value
            elif isinstance(value, StepScalar):
                scalar = value.values
        assert windows is not None
        values, present = rangefuncs.evaluate(call.func, windows, scalar)
        result = StepVector(windows.labels, np.where(present, values, np.nan), present)
        if call.func != "last_over_time":
            labels = [drop_name(x) for x in result.labels]
            result = StepVector(labels, result.values, result.present)
        return reject_same_labels(result)


def _windows(fetched: Fetched, ends: IntArray, range_ms: int, ts: IntArray) -> Windows:
    lo, hi = window_bounds(fetched, ends, range_ms)
    return Windows(
        fetched.labels, fetched.ts, fetched.values, fetched.offsets, lo, hi, ends, range_ms, ts
    )


def instant_result(value: Value, t_ms: int) -> Result:
    if isinstance(value, StepScalar):
        return Scalar(t_ms, float(value.values[0]))
    if isinstance(value, StepString):
        return String(t_ms, value.value)
    if isinstance(value, StepVector):
        return Vector(
            [
                Sample(labels, t_ms, float(value.values[i, 0]))
                for i, labels in enumerate(value.labels)
                if value.present[i, 0]
            ]
        )
    series = []
    for i, labels in enumerate(value.labels):
        lo, hi = int(value.lo[i, 0]), int(value.hi[i, 0])
        if hi > lo:
            series.append(Series(labels, value.ts[lo:hi].copy(), value.values[lo:hi].copy()))
    return Matrix(series)


def range_result(value: Value, ts: IntArray) -> Matrix:
    if isinstance(value, StepScalar):
        return Matrix([Series((), ts.copy(), value.values.copy())])
    assert isinstance(value, StepVector)
    series = [
        Series(labels, ts[value.present[i]], value.values[i, value.present[i]])
        for i, labels in enumerate(value.labels)
        if value.present[i].any()
    ]
    series.sort(key=lambda s: s.labels)
    return Matrix(series)
