"""The syntax tree of a parsed PromQL expression.

Every node keeps the character offsets it spans (``pos``, ``end``) so that errors found after
parsing can still point at the text. Nodes are immutable; the parser builds modified copies
(for ``offset`` and ``@``) with ``dataclasses.replace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from watchkeeper.metrics.labels import Matcher
from watchkeeper.metrics.promql.signatures import FUNCTIONS

ValueType = Literal["scalar", "vector", "matrix", "string"]
TYPE_NAMES: dict[ValueType, str] = {
    "scalar": "scalar",
    "vector": "instant vector",
    "matrix": "range vector",
    "string": "string",
}
"""How Prometheus names each type in error messages."""

Cardinality = Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]

COMPARISON_OPS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})
ARITHMETIC_OPS = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})

AGGREGATIONS: dict[str, ValueType | None] = {
    "sum": None,
    "avg": None,
    "count": None,
    "min": None,
    "max": None,
    "group": None,
    "stddev": None,
    "stdvar": None,
    "topk": "scalar",
    "bottomk": "scalar",
    "quantile": "scalar",
    "count_values": "string",
}
"""Aggregation operators and the type of the parameter each takes (None: no parameter)."""


@dataclass(frozen=True)
class At:
    """An ``@`` modifier: a fixed time in ms, or the query's ``start()`` / ``end()``."""

    timestamp_ms: int | None = None
    anchor: Literal["start", "end"] | None = None


@dataclass(frozen=True)
class Expr:
    pos: int
    end: int


@dataclass(frozen=True)
class NumberLiteral(Expr):
    value: float


@dataclass(frozen=True)
class StringLiteral(Expr):
    value: str


@dataclass(frozen=True)
class VectorSelector(Expr):
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    at: At | None = None


@dataclass(frozen=True)
class MatrixSelector(Expr):
    selector: VectorSelector
    range_ms: int


@dataclass(frozen=True)
class Subquery(Expr):
    expr: Expr
    range_ms: int
    step_ms: int
    """0 when the query leaves it out: the engine's default subquery step then applies."""
    offset_ms: int = 0
    at: At | None = None


@dataclass(frozen=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Aggregate(Expr):
    op: str
    expr: Expr
    param: Expr | None
    grouping: tuple[str, ...]
    without: bool


@dataclass(frozen=True)
class VectorMatching:
    """How the series of a binary operation between two vectors are paired."""

    card: Cardinality
    on: bool = False
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    """The extra labels named in ``group_left(...)`` / ``group_right(...)``."""


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool
    matching: VectorMatching


@dataclass(frozen=True)
class Unary(Expr):
    op: str
    expr: Expr


@dataclass(frozen=True)
class Paren(Expr):
    expr: Expr


def value_type(expr: Expr) -> ValueType:
    """Return the type an expression evaluates to."""
    if isinstance(expr, NumberLiteral):
        return "scalar"
    if isinstance(expr, StringLiteral):
        return "string"
    if isinstance(expr, VectorSelector | Aggregate):
        return "vector"
    if isinstance(expr, MatrixSelector | Subquery):
        return "matrix"
    if isinstance(expr, Call):
        return FUNCTIONS[expr.func].returns
    if isinstance(expr, Binary):
        both_scalar = value_type(expr.lhs) == value_type(expr.rhs) == "scalar"
        return "scalar" if both_scalar else "vector"
    if isinstance(expr, Unary | Paren):
        return value_type(expr.expr)
    raise TypeError(f"not a PromQL expression: {expr!r}")


def unwrap_parens(expr: Expr) -> Expr:
    while isinstance(expr, Paren):
        expr = expr.expr
    return expr
