"""The results a query returns, shaped like Prometheus's four result types."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from watchkeeper.metrics.labels import Labels


@dataclass(frozen=True)
class Scalar:
    t_ms: int
    value: float


@dataclass(frozen=True)
class String:
    t_ms: int
    value: str


@dataclass(frozen=True)
class Sample:
    labels: Labels
    t_ms: int
    value: float


@dataclass(frozen=True)
class Vector:
    """An instant vector: at most one sample per label set, all at the evaluation time."""

    samples: list[Sample]


@dataclass(frozen=True)
class Series:
    labels: Labels
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Matrix:
    """Series with several samples each: a range query's result, or an instant query of a
    range vector (``foo[5m]``)."""

    series: list[Series]


Result = Scalar | String | Vector | Matrix
