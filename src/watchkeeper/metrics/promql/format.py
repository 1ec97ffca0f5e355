"""Render query results the way Prometheus's HTTP API does, so that Grafana's Prometheus data
source reads them: ``{"resultType": ..., "result": ...}`` with timestamps as seconds and
values as strings ("NaN", "+Inf", "-Inf" included)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from watchkeeper.metrics.promql.values import Matrix, Result, Scalar, String, Vector


def format_plain(value: float) -> str:
    """Format like Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: the shortest digits that
    read back as the same float, never in exponent notation."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_value(value: float) -> str:
    """Format a sample value as Prometheus's JSON does: plain notation, except exponent
    notation below 1e-6 and from 1e21 on (Go's shortest 'e' format, e.g. ``1e-07``, which is
    also what Python's repr gives in that range)."""
    magnitude = abs(value)
    if math.isfinite(value) and magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return repr(value)
    return format_plain(value)


def format_time(t_ms: int) -> float | int:
    """Seconds since the epoch, an integer when whole (as Prometheus writes ``1435781451``)."""
    return t_ms // 1000 if t_ms % 1000 == 0 else t_ms / 1000


def _format_fast(value: float) -> str:
    # repr already gives the shortest digits; only whole numbers, NaN, infinities and
    # exponent notation need more work.
    text = repr(value)
    if text.endswith(".0"):
        return text[:-2]
    if "e" in text or "n" in text:
        return format_value(value)
    return text


def _points(ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> list[list[Any]]:
    if bool((ts % 1000 == 0).all()):
        times: list[Any] = (ts // 1000).tolist()
    else:
        times = [format_time(t) for t in ts.tolist()]
    return [[t, _format_fast(v)] for t, v in zip(times, values.tolist(), strict=True)]


def to_prometheus(result: Result) -> dict[str, Any]:
    """Return the ``data`` object of Prometheus's /api/v1/query and /api/v1/query_range."""
    if isinstance(result, Scalar):
        point = [format_time(result.t_ms), format_value(result.value)]
        return {"resultType": "scalar", "result": point}
    if isinstance(result, String):
        return {"resultType": "string", "result": [format_time(result.t_ms), result.value]}
    if isinstance(result, Vector):
        samples = [
            {"metric": dict(s.labels), "value": [format_time(s.t_ms), format_value(s.value)]}
            for s in result.samples
        ]
        return {"resultType": "vector", "result": samples}
    if isinstance(result, Matrix):
        series = [
            {"metric": dict(s.labels), "values": _points(s.ts, s.values)} for s in result.series
        ]
        return {"resultType": "matrix", "result": series}
    raise TypeError(f"not a query result: {result!r}")
