"""Turn one collection into the bytes of one push (see ``wire.py`` for the format).

A series present in the previous batch and missing from this one (an interface removed, a
filesystem unmounted) gets a staleness marker, as Prometheus writes one when a scraped
series disappears: queries then stop showing it at once instead of 5 minutes later.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from watchkeeper import __version__
from watchkeeper.agent.collect import Sample
from watchkeeper.agent.wire import AgentPush, SeriesIn
from watchkeeper.metrics.labels import STALE_NAN, is_stale

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class BatchBuilder:
    """Encode batches for one host, remembering which series the last batch had."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._previous: set[SeriesKey] = set()

    def build(
        self, ts_ms: int, samples: Iterable[Sample], inventory: dict[str, Any] | None = None
    ) -> bytes:
        """Return the JSON body of a push of ``samples`` taken at ``ts_ms``."""
        values: dict[SeriesKey, float] = {(s.name, s.labels): s.value for s in samples}
        for key in self._previous - values.keys():
            values[key] = STALE_NAN
        self._previous = {key for key, value in values.items() if not is_stale(value)}
        push = AgentPush(
            host=self.host,
            agent_version=__version__,
            labels={"instance": self.host, "job": "agent"},
            inventory=inventory,
            series=[
                SeriesIn(name=name, labels=dict(labels), samples=[(ts_ms, value)])
                for (name, labels), value in values.items()
            ],
        )
        return push.model_dump_json(exclude_defaults=True).encode()
