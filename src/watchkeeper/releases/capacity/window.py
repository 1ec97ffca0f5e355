"""The history a forecast reads: PromQL evaluated once an hour over ``capacity.history``,
on the metrics store's hourly series (:class:`watchkeeper.metrics.hourly.HourlySource`).

The steps end at ``now`` (so the newest hour counts) and stand one hour apart; an instant
selector looks back one hour, so each step sees exactly one hourly value. A series silent
for :data:`GONE_AFTER` is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from watchkeeper.metrics.hourly import HOUR_MS, HourlySource
from watchkeeper.metrics.labels import METRIC_NAME, Labels
from watchkeeper.metrics.promql import Engine, Matrix, Scalar, Vector
from watchkeeper.metrics.promql.errors import EvaluationError
from watchkeeper.metrics.store import MetricStore

Array = npt.NDArray[np.float64]
GONE_AFTER = timedelta(days=1)
"""A series with no value this long is gone (a retired host, a dropped label): no forecast."""


@dataclass(frozen=True)
class Series:
    """One series of a result: its labels (without the metric name), Unix seconds and
    values."""

    labels: dict[str, str]
    ts: Array
    values: Array

    @property
    def span(self) -> float:
        """Seconds between its first and last value."""
        return float(self.ts[-1] - self.ts[0]) if len(self.ts) else 0.0


def _labels(labels: Labels) -> dict[str, str]:
    return {k: v for k, v in labels if k != METRIC_NAME}


class Window:
    """Evaluate PromQL over the history ending at ``now``."""

    def __init__(self, store: MetricStore, now: datetime, history: timedelta) -> None:
        self.source = HourlySource(store)
        self.engine = Engine(self.source, lookback_ms=HOUR_MS)
        self.now = now
        self.end_ms = int(now.timestamp() * 1000)
        hours = -(-int(history.total_seconds() * 1000) // HOUR_MS)
        self.start_ms = self.end_ms - hours * HOUR_MS

    def range(self, query: str) -> list[Series]:
        """Every series ``query`` gives over the history (but those gone); raise PromQLError
        for a bad query, EvaluationError when it cannot be evaluated on the data."""
        result = self.engine.range(query, self.start_ms, self.end_ms, HOUR_MS)
        if not isinstance(result, Matrix):  # a range query always answers a matrix
            raise EvaluationError(f"a range query gave a {type(result).__name__}")
        since = self.end_ms - GONE_AFTER.total_seconds() * 1000
        return [
            Series(_labels(s.labels), s.ts.astype(np.float64) / 1000.0, s.values)
            for s in result.series
            if len(s.ts) and s.ts[-1] >= since
        ]

    def instant(self, query: str) -> list[tuple[dict[str, str], float]]:
        """The values ``query`` gives now (a scalar as one value with no labels)."""
        result = self.engine.instant(query, self.end_ms)
        if isinstance(result, Scalar):
            return [({}, result.value)]
        if isinstance(result, Vector):
            return [(_labels(s.labels), s.value) for s in result.samples]
        raise EvaluationError(f"`{query}` must give a number or an instant vector")
