"""The incident engine: one per cluster (the ``incidents`` leadership), every second it
opens and joins incidents from alert groups, runs the escalation steps that are due, and
runs and closes drills. All its state is in the store, so another replica (or this one
after a restart) continues exactly where it stood."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.incidents import drills, escalation, from_alerts, service
from watchkeeper.incidents.escalation import Pager
from watchkeeper.store.tables import utcnow
from watchkeeper.telemetry import INCIDENT_ENGINE_PASSES, INCIDENT_PAGES, INCIDENTS_OPEN

log = logging.getLogger(__name__)


class IncidentEngine:
    def __init__(
        self,
        sessions: Callable[[], Session],
        pager: Pager,
        *,
        tick: float = 1.0,
        on_queued: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._pager = pager
        self._tick = tick
        self._on_queued = on_queued
        self._clock = clock
        self._groups = from_alerts.GroupTracker()
        self._since = clock()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Run a pass now (a page acknowledged, an incident opened by hand)."""
        self._wake.set()

    def run_once(self) -> int:
        """One pass; return the pages queued. Each phase commits on its own, and one that
        fails (logged, rolled back) does not stop the others: a bad alert group must not
        stop the escalations of every incident."""
        now = self._clock()
        queued, failed = 0, []
        with self._sessions() as db:
            phases: list[tuple[str, Callable[[], int]]] = [
                ("alert groups", lambda: from_alerts.sync(db, now, self._groups)),
                ("escalations", lambda: escalation.run_due(db, now, self._pager)),
                ("drills", lambda: drills.tick(db, now, self._since)),
            ]
            for name, phase in phases:
                try:
                    done = phase()
                    db.commit()
                except Exception as exc:
                    db.rollback()
                    failed.append(name)
                    if name == "alert groups":
                        self._groups = from_alerts.GroupTracker()  # re-read them all
                    if isinstance(exc, SQLAlchemyError):
                        log.error("incidents: %s: store error %s", name, type(exc).__name__)
                    else:
                        log.exception("incidents: %s failed; retrying next pass", name)
                    continue
                if name == "escalations":
                    queued = done
            counts = service.counts(db)
        for status in ("triggered", "acknowledged"):
            INCIDENTS_OPEN.labels(status).set(counts.get(status, 0))
        INCIDENT_PAGES.inc(queued)
        INCIDENT_ENGINE_PASSES.labels("error" if failed else "ok").inc()
        self._since = now
        return queued

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                queued = await asyncio.to_thread(self.run_once)
                if queued and self._on_queued is not None:
                    self._on_queued()
            except SQLAlchemyError as exc:  # the store is away: try again next pass
                INCIDENT_ENGINE_PASSES.labels("error").inc()
                log.error("incidents: store error %s; retrying", type(exc).__name__)
            except Exception:  # a bug must not stop paging
                INCIDENT_ENGINE_PASSES.labels("error").inc()
                log.exception("incident engine pass failed; retrying")
            self._wake.clear()
            waiters = [
                asyncio.ensure_future(self._stopping.wait()),
                asyncio.ensure_future(self._wake.wait()),
            ]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waiters, timeout=self._tick, return_when="FIRST_COMPLETED")
            for w in waiters:
                w.cancel()

    async def stop(self) -> None:
        self._stopping.set()
