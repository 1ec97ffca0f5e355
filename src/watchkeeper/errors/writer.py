"""The ingest's group commit: requests hand their events to one writer per process, which
stores whatever has gathered in one transaction (in a worker thread) while the next
requests gather. A request is answered once its events are committed, so an accepted event
is never lost; under load one transaction serves many requests.

Nothing lives here between batches: a process that stops has answered only what it stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.errors.events import PreparedEvent
from watchkeeper.errors.ratelimit import RateLimiter, Window
from watchkeeper.errors.storage import BatchResult, store_batch
from watchkeeper.errors.telemetry import BATCH_SECONDS, EVENTS, ISSUES_CREATED

log = logging.getLogger(__name__)
MAX_BATCH_EVENTS = 500


@dataclass
class _Request:
    events: list[PreparedEvent]
    window: Window | None
    future: asyncio.Future[BatchResult]


class EventWriter:
    """Stores events for the requests of one event loop."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        limiter: RateLimiter,
        settings: Callable[[], tuple[dict[int, str], dict[int, str], int]],
    ) -> None:
        """``settings`` returns (teams by project id, names by project id, events kept per
        issue), read when a batch is written."""
        self._sessions = sessions
        self._limiter = limiter
        self._settings = settings
        self._queue: list[_Request] = []
        # PostgreSQL takes batches side by side (rows are locked in one order): a second
        # batch overlaps the first's round trips. SQLite has one writer at a time anyway.
        postgres = sessions.kw.get("bind") is not None and (
            sessions.kw["bind"].dialect.name == "postgresql"
        )
        self._slots = 2 if postgres else 1
        self._tasks: set[asyncio.Task[None]] = set()  # referenced: bare tasks may be collected

    async def write(self, events: list[PreparedEvent], window: Window | None) -> BatchResult:
        """Store ``events`` (reserved in the rate ``window``); return the batch's result
        once committed. Raise what the store raised (the reservation is then undone)."""
        loop = asyncio.get_running_loop()
        request = _Request(events, window, loop.create_future())
        self._queue.append(request)
        if len(self._tasks) < self._slots:
            self._tasks.add(loop.create_task(self._drain()))
        return await request.future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch: list[_Request] = []
                size = 0
                while self._queue and (not batch or size < MAX_BATCH_EVENTS):
                    request = self._queue.pop(0)
                    batch.append(request)
                    size += len(request.events)
                await self._write(batch)
        finally:
            # Leaves the set in the same step as it saw the queue empty: a request queued
            # after this starts a new task (a done-callback would come a step too late).
            current = asyncio.current_task()
            if current is not None:
                self._tasks.discard(current)

    async def _write(self, batch: list[_Request]) -> None:
        windows: dict[Window, int] = {}
        for request in batch:
            if request.window is not None and request.events:
                windows[request.window] = windows.get(request.window, 0) + len(request.events)
        events = [e for r in batch for e in r.events]
        try:
            result = await asyncio.to_thread(self._store, events, windows)
        except Exception as exc:
            for request in batch:
                if request.window is not None:
                    self._limiter.release(request.window, len(request.events))
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        self._limiter.settle(windows, result.totals)
        for request in batch:
            if not request.future.done():
                request.future.set_result(result)

    def _store(self, events: list[PreparedEvent], windows: dict[Window, int]) -> BatchResult:
        teams, names, keep = self._settings()
        started = time.perf_counter()
        with self._sessions() as db:
            result = store_batch(db, events, teams=teams, windows=windows, keep_per_issue=keep)
            db.commit()
        BATCH_SECONDS.observe(time.perf_counter() - started)
        for project_id, made in result.new_issues.items():
            ISSUES_CREATED.labels(names.get(project_id, str(project_id))).inc(made)
        for project_id, stored in result.stored.items():
            EVENTS.labels(names.get(project_id, str(project_id)), "accepted").inc(stored)
        for project_id, again in result.duplicates.items():
            EVENTS.labels(names.get(project_id, str(project_id)), "duplicate").inc(again)
        return result
