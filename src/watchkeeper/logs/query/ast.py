"""The syntax tree of a log query (a LogQL dialect, see docs/logs-query.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from watchkeeper.logs.selector import Matcher

LineOp = Literal["|=", "!=", "|~", "!~"]
CmpOp = Literal["=", "==", "!=", "=~", "!~", ">", ">=", "<", "<="]


@dataclass(frozen=True)
class LineFilter:
    """``|= "text"`` (contains), ``!= "text"``, ``|~ "regex"``, ``!~ "regex"``; or a
    full-text ``term`` (whole words, any case: the bare words of a query)."""

    op: LineOp | Literal["term"]
    value: str
    rx: re.Pattern[str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Parser:
    """``| json``, ``| logfmt`` (expose the line's fields as labels) or ``| regexp "..."``."""

    kind: Literal["json", "logfmt", "regexp"]
    rx: re.Pattern[str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FieldFilter:
    """``| status >= 500``, ``| user="bob"``, ``| path=~"/api/.*"``: on a label or field."""

    name: str
    op: CmpOp
    value: str | float
    rx: re.Pattern[str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Unwrap:
    """``| unwrap latency_ms``: the field whose numbers the ``*_over_time`` functions use."""

    name: str


Stage = LineFilter | Parser | FieldFilter | Unwrap


@dataclass(frozen=True)
class LogQuery:
    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...] = ()

    @property
    def unwrap(self) -> str | None:
        return next((s.name for s in self.stages if isinstance(s, Unwrap)), None)

    @property
    def labels_from_fields(self) -> bool:
        return any(isinstance(s, Parser) for s in self.stages)


RANGE_FUNCTIONS = (
    "count_over_time",
    "rate",
    "bytes_over_time",
    "bytes_rate",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
)
UNWRAP_FUNCTIONS = ("sum_over_time", "avg_over_time", "min_over_time", "max_over_time")
AGGREGATIONS = ("sum", "count", "avg", "min", "max", "topk", "bottomk")


@dataclass(frozen=True)
class RangeAggregation:
    """``count_over_time({...} |= "x" [5m])``."""

    function: str
    query: LogQuery
    window_ns: int


@dataclass(frozen=True)
class VectorAggregation:
    """``sum by (level) (...)``, ``topk(10, ...)``."""

    op: str
    inner: MetricExpr
    by: tuple[str, ...] = ()
    without: bool = False
    param: int | None = None


@dataclass(frozen=True)
class Comparison:
    """``expr > 10`` keeps the series above 10; ``expr * 60`` scales them."""

    op: Literal[">", ">=", "<", "<=", "==", "!=", "+", "-", "*", "/"]
    left: MetricExpr
    number: float


MetricExpr = RangeAggregation | VectorAggregation | Comparison
Query = LogQuery | MetricExpr
