"""The functions PromQL queries may call: argument and result types, used to type-check a
query before it runs. The implementations live in ``functions.py`` and ``rangefuncs.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchkeeper.metrics.promql.ast import ValueType


@dataclass(frozen=True)
class FunctionSpec:
    """``variadic`` as in Prometheus: 0 for a fixed argument list; otherwise the last
    argument type may be left out or repeated, up to ``variadic`` extra times (-1: no limit)."""

    name: str
    args: tuple[ValueType, ...]
    returns: ValueType
    variadic: int = 0


def _specs() -> dict[str, FunctionSpec]:
    specs = [
        FunctionSpec("time", (), "scalar"),
        FunctionSpec("pi", (), "scalar"),
        FunctionSpec("vector", ("scalar",), "vector"),
        FunctionSpec("scalar", ("vector",), "scalar"),
        FunctionSpec("absent", ("vector",), "vector"),
        FunctionSpec("absent_over_time", ("matrix",), "vector"),
        FunctionSpec("timestamp", ("vector",), "vector"),
        FunctionSpec("sort", ("vector",), "vector"),
        FunctionSpec("sort_desc", ("vector",), "vector"),
        FunctionSpec("clamp", ("vector", "scalar", "scalar"), "vector"),
        FunctionSpec("clamp_min", ("vector", "scalar"), "vector"),
        FunctionSpec("clamp_max", ("vector", "scalar"), "vector"),
        FunctionSpec("round", ("vector", "scalar"), "vector", variadic=1),
        FunctionSpec("histogram_quantile", ("scalar", "vector"), "vector"),
        FunctionSpec("label_replace", ("vector", "string", "string", "string", "string"), "vector"),
        FunctionSpec("label_join", ("vector", "string", "string", "string"), "vector", variadic=-1),
        FunctionSpec("predict_linear", ("matrix", "scalar"), "vector"),
        FunctionSpec("quantile_over_time", ("scalar", "matrix"), "vector"),
    ]
    for name in (
        "abs ceil floor exp ln log2 log10 sqrt sgn deg rad "
        "sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh"
    ).split():
        specs.append(FunctionSpec(name, ("vector",), "vector"))
    for name in (
        "rate irate increase delta idelta deriv changes resets "
        "avg_over_time min_over_time max_over_time sum_over_time count_over_time "
        "last_over_time stddev_over_time stdvar_over_time present_over_time"
    ).split():
        specs.append(FunctionSpec(name, ("matrix",), "vector"))
    for name in (
        "day_of_month day_of_week day_of_year days_in_month hour minute month year"
    ).split():
        specs.append(FunctionSpec(name, ("vector",), "vector", variadic=1))
    return {spec.name: spec for spec in specs}


FUNCTIONS = _specs()
