"""Test data written the way Prometheus's promqltest ``load`` blocks write it, so that cases
adapted from its testdata read the same: ``load("5m", {'metric{path="/foo"}': "0+10x10"})``.

Values: a number (``Inf``/``NaN`` too); ``a+bxn`` for the n+1 values a, a+b, ..., a+nb;
``axn`` for n+1 copies of a; ``_`` (or ``_xn``) for missing samples; ``stale`` for a
staleness marker. Samples are ``interval`` apart from t=0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import pytest

from watchkeeper.metrics.labels import STALE_NAN, Labels, make_labels
from watchkeeper.metrics.promql import Engine, Matrix, Scalar, Vector, parse
from watchkeeper.metrics.promql.ast import VectorSelector
from watchkeeper.metrics.promql.lexer import parse_duration
from watchkeeper.metrics.source import MemorySource

_NUMBER = r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|\.\d+|Inf|NaN)"
_SERIES = re.compile(rf"({_NUMBER})([-+]{_NUMBER})x(\d+)")
_REPEAT = re.compile(rf"({_NUMBER}|_)x(\d+)")


def expand(text: str) -> list[float | None]:
    """Return the values a promqltest value sequence stands for (None: no sample)."""
    out: list[float | None] = []
    for item in text.split():
        if item == "_":
            out.append(None)
        elif item == "stale":
            out.append(STALE_NAN)
        elif match := _SERIES.fullmatch(item):
            start, delta, count = float(match[1]), float(match[2]), int(match[3])
            out += [start + i * delta for i in range(count + 1)]
        elif match := _REPEAT.fullmatch(item):
            value = None if match[1] == "_" else float(match[1])
            out += [value] * (int(match[2]) + (value is not None))
        else:
            out.append(float(item))
    return out


def labels_of(selector: str) -> Labels:
    """The label set written as a selector: ``metric{a="b"}``."""
    expr = parse(selector)
    assert isinstance(expr, VectorSelector)
    return make_labels({m.name: m.value for m in expr.matchers})


def ms(duration: str | int) -> int:
    return duration if isinstance(duration, int) else parse_duration(duration)


def load(interval: str, series: dict[str, str], source: MemorySource | None = None) -> MemorySource:
    source = source or MemorySource()
    step = ms(interval)
    for selector, text in series.items():
        values = expand(text)
        ts = [i * step for i, value in enumerate(values) if value is not None]
        source.add(labels_of(selector), ts, [v for v in values if v is not None])
    return source


def show(labels: Labels) -> str:
    """A label set the way Prometheus prints it: ``name{a="b", c="d"}``."""
    pairs = dict(labels)
    name = pairs.pop("__name__", "")
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def instant(engine: Engine, query: str, at: str | int) -> dict[str, float]:
    """Evaluate an instant query returning a vector: {printed labels: value}."""
    result = engine.instant(query, ms(at))
    assert isinstance(result, Vector), result
    out = {show(sample.labels): sample.value for sample in result.samples}
    assert len(out) == len(result.samples), "duplicate label sets"
    return out


def scalar(engine: Engine, query: str, at: str | int) -> float:
    result = engine.instant(query, ms(at))
    assert isinstance(result, Scalar), result
    return result.value


def range_query(
    engine: Engine, query: str, start: str | int, end: str | int, step: str | int
) -> dict[str, list[float | None]]:
    """Evaluate a range query: {printed labels: value per step, None where absent}."""
    result = engine.range(query, ms(start), ms(end), ms(step))
    assert isinstance(result, Matrix)
    steps = list(range(ms(start), ms(end) + 1, ms(step)))
    out: dict[str, list[float | None]] = {}
    for series in result.series:
        by_time = dict(zip(series.ts.tolist(), series.values.tolist(), strict=True))
        out[show(series.labels)] = [by_time.get(t) for t in steps]
    return out


def approx(expected: object) -> object:
    """Compare floats to 1e-12 relative, NaN equal to NaN."""
    return pytest.approx(expected, rel=1e-12, abs=1e-300, nan_ok=True)


def _close(actual: float | None, expected: float | None) -> bool:
    if actual is None or expected is None:
        return actual is expected
    if math.isnan(actual) or math.isnan(expected):
        return math.isnan(actual) and math.isnan(expected)
    return actual == expected or math.isclose(actual, expected, rel_tol=1e-12)


class Steps:
    """Expected range-query values ({labels: [value or None per step]}), comparing floats to
    1e-12 relative and NaN equal to NaN: ``assert range_query(...) == Steps({...})``."""

    def __init__(self, expected: Mapping[str, Sequence[float | None]]) -> None:
        self.expected = expected

    def __eq__(self, actual: object) -> bool:
        if not isinstance(actual, dict) or actual.keys() != self.expected.keys():
            return False
        return all(
            len(actual[key]) == len(values) and all(map(_close, actual[key], values))
            for key, values in self.expected.items()
        )

    def __repr__(self) -> str:
        return repr(self.expected)
