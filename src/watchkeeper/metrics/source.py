"""What queries read: series matching a set of matchers, with their samples in a time range.

The store (``watchkeeper.metrics.store``) implements ``SeriesSource`` over SQLite or
PostgreSQL; ``MemorySource`` holds series in memory (tests, benchmarks, and evaluating a
query over data that is not stored).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from watchkeeper.metrics.labels import Labels, Matcher, matches_all


@dataclass
class SeriesData:
    """One series' samples in a time range: timestamps in ms (int64, ascending, unique) and
    values (float64; Prometheus staleness markers are kept as their NaN bit pattern).

    ``spans``, when given, holds per sample the length (ms) of the rollup bucket it stands
    for (0 for a raw sample): see :mod:`watchkeeper.metrics.rollup_reads`."""

    labels: Labels
    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    spans: npt.NDArray[np.int64] | None = None


class SeriesSource(Protocol):
    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        """Return every series matching all ``matchers`` with at least one sample in
        ``[start_ms, end_ms]``, each with only the samples in that range."""
        ...


class MemorySource:
    """A ``SeriesSource`` over series held in memory."""

    def __init__(self, series: Iterable[SeriesData] = ()) -> None:
        self._series: dict[Labels, SeriesData] = {}
        for data in series:
            self.add(data.labels, data.ts, data.values)

    def add(
        self,
        labels: Labels,
        ts: Sequence[int] | npt.NDArray[np.int64],
        values: Sequence[float] | npt.NDArray[np.float64],
    ) -> None:
        t = np.asarray(ts, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        old = self._series.get(labels)
        if old is not None:
            t = np.concatenate([old.ts, t])
            v = np.concatenate([old.values, v])
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        if len(t) > 1:  # keep the last value written for a duplicated timestamp
            keep = np.append(t[1:] != t[:-1], True)
            t, v = t[keep], v[keep]
        self._series[labels] = SeriesData(labels, t, v)

    def select(self, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        out = []
        for labels, data in self._series.items():
            if not matches_all(dict(labels), matchers):
                continue
            lo = int(np.searchsorted(data.ts, start_ms, "left"))
            hi = int(np.searchsorted(data.ts, end_ms, "right"))
            if hi > lo:
                out.append(SeriesData(labels, data.ts[lo:hi], data.values[lo:hi]))
        return out
