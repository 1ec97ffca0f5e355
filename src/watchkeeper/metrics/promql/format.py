"""Render query results the way Prometheus's HTTP API does, so that Grafana's Prometheus data
source reads them: ``{"resultType": ..., "result": ...}`` with timestamps as seconds and
values as strings ("NaN", "+Inf", "-Inf" included)."""

from __future__ import annotations

import json
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


def render_success(result: Result) -> bytes:
    """Return the whole body of a successful query, ``{"status": "success", "data": ...}``,
    as JSON bytes: the same bytes as JSON-encoding ``to_prometheus(result)`` compactly.

    A range query over a thousand series answers over a million points; building a list
    and a string per point and encoding them generically took seconds. A matrix is written
    from its numpy arrays instead: each series' values are formatted by one ``repr`` of
    their list (the shortest round-trip digits, as Prometheus writes them), with the few
    values that need another notation fixed one by one.
    """
    if isinstance(result, Matrix):
        data = _matrix_json(result)
    else:
        data = _dumps(to_prometheus(result))
    return b'{"status":"success","data":' + data.encode() + b"}"


def _dumps(value: Any) -> str:
    # The encoding of Starlette's JSONResponse, which the API used before.
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _matrix_json(matrix: Matrix) -> str:
    if not matrix.series:
        return '{"resultType":"matrix","result":[]}'
    times = _time_texts(np.concatenate([s.ts for s in matrix.series]))
    values = _value_texts(np.concatenate([s.values for s in matrix.series]))
    parts, at = [], 0
    for s in matrix.series:
        end = at + len(s.ts)
        # Points [t,"v"] joined by ",": t,"v joined by "],[ inside one [ ... "].
        pairs = zip(times[at:end], values[at:end], strict=True)
        points = "[]" if end == at else "[[" + '"],['.join(map(',"'.join, pairs)) + '"]]'
        parts.append('{"metric":' + _dumps(dict(s.labels)) + ',"values":' + points + "}")
        at = end
    return '{"resultType":"matrix","result":[' + ",".join(parts) + "]}"


_TIME_TABLE_MAX = 10_000_000
"""Whole-second timestamps spanning at most this many seconds are looked up in a table."""


def _time_texts(ts: npt.NDArray[np.int64]) -> list[str]:
    """Each timestamp as JSON writes ``format_time`` of it. A range query's points all sit on
    one step grid, so whole seconds are formatted once per second of the span."""
    if not len(ts):
        return []
    if not bool((ts % 1000 == 0).all()):
        return [_dumps(format_time(t)) for t in ts.tolist()]
    seconds = ts // 1000
    first, last = int(seconds.min()), int(seconds.max())
    if last - first > min(_TIME_TABLE_MAX, 4 * len(ts)):
        return list(map(str, seconds.tolist()))
    table = list(map(str, range(first, last + 1)))
    return [table[i] for i in (seconds - first).tolist()]


def _value_texts(values: npt.NDArray[np.float64]) -> list[str]:
    """Each value as ``_format_fast`` writes it (what ``to_prometheus`` puts in the JSON)."""
    if not len(values):
        return []
    text = repr(values.tolist())[1:-1].replace(".0, ", ", ")
    if text.endswith(".0"):
        text = text[:-2]
    if "n" in text:  # nan, inf, -inf: nothing else repr writes has an "n"
        text = text.replace("nan", "NaN").replace("-inf", "-Inf").replace("inf", "+Inf")
    texts = text.split(", ")
    # repr switches to exponent notation below 1e-4 and from 1e16 on, Prometheus below 1e-6
    # and from 1e21 on: redo the values near or between those bounds (generously).
    magnitude = np.abs(values)
    near = (magnitude >= 1e15) | ((magnitude < 1e-3) & (magnitude > 0))
    for i in np.flatnonzero(near & np.isfinite(values)).tolist():
        texts[i] = _format_fast(float(values[i]))
    return texts
