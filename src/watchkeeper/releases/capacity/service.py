"""The capacity service: one per cluster (the ``capacity`` leadership of ``watchkeeper up``).
Every minute it looks whether the forecasts are due — ``capacity.refresh`` after the last
refresh (its own, or the stored one of the replica that led before), at once when it starts
leading, when the ``capacity`` or ``databases`` section changed or :meth:`CapacityService.wake`
asked — and
then redoes them (:func:`watchkeeper.releases.capacity.refresh.refresh`), raising and
resolving ``CapacityForecast``, and sets the ``watchkeeper_capacity_*`` gauges.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.dbmaint.section import load_section as load_databases
from watchkeeper.metrics.store import MetricStore
from watchkeeper.releases.capacity.items import STATUSES
from watchkeeper.releases.capacity.refresh import Refresh, refresh
from watchkeeper.releases.capacity.section import SectionUnreadable, load_section
from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.store.tables import CapacityForecast, utcnow
from watchkeeper.telemetry import (
    CAPACITY_DAYS_LEFT,
    CAPACITY_FORECASTS,
    CAPACITY_LAST_REFRESH,
    CAPACITY_REFRESH_SECONDS,
)

log = logging.getLogger(__name__)


class CapacityService(PeriodicService):
    """Keeps the capacity forecasts, their alerts and gauges current (see the module
    docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        store: MetricStore,
        *,
        tick: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._clock = clock
        self._done_at: datetime | None = None
        self._digest = ""
        self._forced = False
        self._loop = Periodic(
            "capacity",
            self._pass,
            tick,
            log=log,
            lasting=(SectionUnreadable,),
            lasting_message="capacity: %s; no forecasts until it is fixed",
            store_operation="capacity",
        )

    def wake(self) -> None:
        """Refresh now (or as soon as the pass under way ends)."""
        self._forced = True
        self._loop.wake()

    async def _pass(self) -> None:
        await asyncio.to_thread(self.run_once)

    def run_once(self, *, force: bool = False) -> Refresh | None:
        """Refresh when due (or ``force``); return what it found, None when not due."""
        now = self._clock()
        with self._sessions() as db:
            section = load_section(db)
            digest = hashlib.sha256(
                (section.model_dump_json() + load_databases(db).model_dump_json()).encode()
            ).hexdigest()
            stored = db.scalar(select(func.max(CapacityForecast.computed_at)))
        last = max((t for t in (self._done_at, stored) if t is not None), default=None)
        due = (
            force
            or self._forced
            or digest != self._digest
            or last is None
            or now - last >= section.refresh
        )
        if not due:
            return None
        self._forced = False
        done = refresh(self._sessions, self._store, now)
        self._done_at, self._digest = now, digest
        publish(done, now)
        if done.firing:
            log.info("capacity: %d forecast(s) reach their limit soon", len(done.firing))
        return done


def publish(done: Refresh, now: datetime) -> None:
    """Set the ``watchkeeper_capacity_*`` gauges from a refresh."""
    CAPACITY_DAYS_LEFT.clear()
    for item in done.items:
        if item.projection is not None:
            CAPACITY_DAYS_LEFT.labels(item.kind, item.host, item.resource, item.subject).set(
                item.projection.days_left(now)
            )
    counts = Counter(item.status for item in done.items)
    for status in STATUSES:
        CAPACITY_FORECASTS.labels(status).set(counts.get(status, 0))
    CAPACITY_REFRESH_SECONDS.set(done.seconds)
    CAPACITY_LAST_REFRESH.set(now.timestamp())
