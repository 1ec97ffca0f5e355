"""Results rendered as the ``data`` object of Prometheus's HTTP API."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.metrics.promql.loader import load
from watchkeeper.metrics.labels import make_labels
from watchkeeper.metrics.promql import (
    Engine,
    Matrix,
    Sample,
    Scalar,
    Series,
    String,
    Vector,
    to_prometheus,
)
from watchkeeper.metrics.promql.format import format_plain, format_value, render_success


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (0.30000000000000004, "0.30000000000000004"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),  # exponent notation from 1e21 on ...
        (1.5e300, "1.5e+300"),
        (0.000001, "0.000001"),
        (1e-7, "1e-07"),  # ... and below 1e-6, with Go's two-digit exponent
        (-2.5e-7, "-2.5e-07"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (-0.0, "-0"),
    ],
)
def test_sample_values_are_formatted_like_prometheus(value: float, text: str) -> None:
    assert format_value(value) == text
    matrix = Matrix([Series((), np.array([0]), np.array([value]))])
    assert to_prometheus(matrix)["result"][0]["values"] == [[0, text]]


def test_plain_format_never_uses_an_exponent() -> None:
    # count_values labels use Go's FormatFloat(v, 'f', -1, 64).
    assert format_plain(1e-7) == "0.0000001"
    assert format_plain(1.5e21) == "1500000000000000000000"
    assert format_plain(7.0) == "7"


def test_each_result_type() -> None:
    labels = make_labels({"__name__": "up", "job": "api"})
    assert to_prometheus(Scalar(1_435_781_451_781, 1.0)) == {
        "resultType": "scalar",
        "result": [1435781451.781, "1"],
    }
    assert to_prometheus(String(1_000, "hi")) == {"resultType": "string", "result": [1, "hi"]}
    assert to_prometheus(Vector([Sample(labels, 2_000, 1.0)])) == {
        "resultType": "vector",
        "result": [{"metric": {"__name__": "up", "job": "api"}, "value": [2, "1"]}],
    }
    matrix = Matrix([Series(labels, np.array([1_000, 1_500]), np.array([1.0, math.nan]))])
    assert to_prometheus(matrix) == {
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "up", "job": "api"}, "values": [[1, "1"], [1.5, "NaN"]]}
        ],
    }


def test_engine_results_serialise_to_json() -> None:
    engine = Engine(load("1m", {'up{job="api"}': "1 0 1"}))
    data = to_prometheus(engine.range("up == 1", 0, 120_000, 60_000))
    assert json.loads(json.dumps(data)) == {
        "resultType": "matrix",
        "result": [{"metric": {"__name__": "up", "job": "api"}, "values": [[0, "1"], [120, "1"]]}],
    }


def test_the_api_body_is_the_generic_json_encoding_of_the_result() -> None:
    """render_success writes matrices from their arrays; it must give the very bytes that
    encoding to_prometheus() generically gives, for every kind of value and time."""
    rng = np.random.default_rng(4)
    awkward = [0.0, -0.0, 7.0, 1e-4, 9.5e-5, 1e-5, 1e-6, 9.9e-7, 1e15, 1e16, 9999999999999998.0]
    awkward += [1e20, 1e21, 5e-324, math.nan, math.inf, -math.inf, 2.0**60, 0.1, 1 / 3]
    series = [
        Series(
            make_labels({"__name__": "x", "i": 'ü"\\\n'}),
            np.array([1_000, 2_500]),
            np.array([1.0, 2.5]),
        ),
        Series(make_labels({"i": "2"}), np.arange(len(awkward)) * 60_000, np.array(awkward)),
        Series(make_labels({"i": "3"}), np.array([], dtype=np.int64), np.array([])),
        Series(
            make_labels({"i": "4"}),
            np.sort(rng.choice(10**9, 300, replace=False)) - 10**8,
            rng.integers(-(2**63), 2**63 - 1, 300, dtype=np.int64).view(np.float64),
        ),
    ]
    results = [Matrix(series), Matrix([]), Scalar(1_500, math.inf), String(0, "s")]
    results.append(Vector([Sample(make_labels({"a": "b"}), 1_000, 1e-7)]))
    for result in results:
        expected = {"status": "success", "data": to_prometheus(result)}
        body = render_success(result)
        assert body == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
