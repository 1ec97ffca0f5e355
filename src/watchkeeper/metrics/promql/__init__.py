"""PromQL: parse queries and evaluate them over stored series, with Prometheus 3.x semantics.

``Engine(source).instant(query, t_ms)`` and ``.range(query, start_ms, end_ms, step_ms)`` return
a ``Scalar``, ``String``, ``Vector`` or ``Matrix``; ``to_prometheus(result)`` renders it as the
``data`` object of Prometheus's HTTP API. A bad query raises ``PromQLError`` (HTTP 400, with the
position of the error); a query that fails on its data raises ``EvaluationError`` (HTTP 422).
"""

from watchkeeper.metrics.promql.engine import Engine
from watchkeeper.metrics.promql.errors import EvaluationError, PromQLError
from watchkeeper.metrics.promql.format import to_prometheus
from watchkeeper.metrics.promql.parser import parse
from watchkeeper.metrics.promql.values import (
    Matrix,
    Result,
    Sample,
    Scalar,
    Series,
    String,
    Vector,
)

__all__ = [
    "Engine",
    "EvaluationError",
    "Matrix",
    "PromQLError",
    "Result",
    "Sample",
    "Scalar",
    "Series",
    "String",
    "Vector",
    "parse",
    "to_prometheus",
]
