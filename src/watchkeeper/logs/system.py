"""The logs domain in a running server: receivers -> queue -> pipelines -> store (+ forwarding).

One writer thread takes batches from the bounded queue, runs the parsing pipelines, writes
the lines to the store (write-ahead log first) and offers them to the forwarders and live
tails. The service part (:meth:`LogSystem.run`) follows the plan: it restarts the syslog
listeners and rebuilds pipelines and forwarders when the ``logs`` section changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.logs.config import LogsSection
from watchkeeper.logs.forward import Forwarding
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.pipeline import Processor
from watchkeeper.logs.queue import Batch, IngestQueue, count_accepted
from watchkeeper.logs.retention import describe, enforce_retention
from watchkeeper.logs.store import ChunkStore
from watchkeeper.logs.syslog.server import SyslogServer
from watchkeeper.plan.stored import stored_section
from watchkeeper.telemetry import LOG_STORED_BYTES, LOG_STREAMS

log = logging.getLogger(__name__)
RETENTION_FIRST = 300.0  # seconds after start
RETENTION_EVERY = 3600.0
USAGE_EVERY = 30.0  # seconds between walks of the store's files for the disk-use gauge
Listener = Callable[[Sequence[LogLine]], None]


def load_section(db: Session) -> LogsSection:
    """The stored ``logs`` section (defaults when absent or unreadable)."""
    try:
        return LogsSection.model_validate(stored_section(db, "logs"))
    except ValidationError as exc:
        log.error("logs: stored configuration is invalid: %s", exc)
        return LogsSection()


class LogSystem:
    def __init__(
        self, root: Path, sessions: sessionmaker[Session] | None = None, **store_options: int
    ) -> None:
        self.root = root
        self._sessions = sessions
        self.section = self._load()
        self.queue = IngestQueue(self.section.queue.size, self.section.queue.overflow)
        self.store = ChunkStore(root, **store_options)
        self.processor = Processor(self.section)
        self._listeners: list[Listener] = []
        self._busy = False
        self._stop = threading.Event()
        self._stopping = asyncio.Event()
        self._thread = threading.Thread(target=self._write_loop, name="log-writer", daemon=True)
        self._thread.start()
        self.forwarding = Forwarding()
        self.syslog = SyslogServer(self.queue)
        self._forwarding_task: asyncio.Task[None] | None = None

    def _load(self) -> LogsSection:
        if self._sessions is None:
            return LogsSection()
        with self._sessions() as db:
            return load_section(db)

    # -- the writer thread -------------------------------------------------------------------

    def _write_loop(self) -> None:
        last_tick = time.monotonic()
        last_usage = float("-inf")
        while not self._stop.is_set() or self.queue.lines:
            batches = self.queue.take()
            if batches:
                self._busy = True
                try:
                    self._write(batches)
                finally:
                    self.queue.finished(batches)
                    self._busy = False
            if time.monotonic() - last_tick >= 1.0:
                last_tick = time.monotonic()
                try:
                    self.store.tick()
                    if last_tick - last_usage >= USAGE_EVERY:  # a walk of every chunk file
                        last_usage = last_tick
                        LOG_STORED_BYTES.set(self.store.disk_bytes())
                    LOG_STREAMS.set(len(self.store.streams()))
                except Exception:
                    log.exception("log store upkeep failed")

    def _write(self, batches: list[Batch]) -> None:
        kept: list[LogLine] = []
        per_batch: list[tuple[Batch, list[LogLine]]] = []
        try:
            for batch in batches:
                stored = self.processor.process(list(batch.lines), source=batch.source)
                per_batch.append((batch, stored))
                kept.extend(stored)
            # A receiver waiting for durability gets it: fsync the WAL for its batch.
            self.store.append(kept, sync=any(b.done is not None for b in batches))
        except Exception as exc:
            log.exception("log lines could not be stored")
            for batch in batches:
                if batch.done is not None and not batch.done.done():
                    batch.done.set_exception(exc)
            return
        for batch, stored in per_batch:
            count_accepted(batch.source, stored)
            if batch.done is not None and not batch.done.done():
                batch.done.set_result(None)
        for listener in list(self._listeners):
            try:
                listener(kept)
            except Exception:
                log.exception("log listener failed")

    # -- for receivers, live tail and tests --------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every stored batch (from the writer thread; keep it quick).
        Return the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued line is stored (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        # ``pending`` counts the lines the writer took too: between taking a batch and
        # storing it, neither the queue's lines nor ``_busy`` show it.
        while (self.queue.pending or self._busy) and time.monotonic() < deadline:
            time.sleep(0.005)

    def search(self, query: str, start: int, end: int, limit: int = 100) -> list[LogLine]:
        """Lines matching ``query`` (newest first): a shortcut for tests and the CLI."""
        from watchkeeper.logs.query.engine import select_lines

        return select_lines(self.store, query, start, end, limit=limit).lines

    def reconfigure(self, section: LogsSection) -> None:
        self.section = section
        self.queue.size = section.queue.size
        self.queue.overflow = section.queue.overflow
        self.processor = Processor(section)

    def close(self) -> None:
        """Stop the writer after it stored what is queued, and close the store."""
        if self._stop.is_set():
            return
        self.drain()
        self._stop.set()
        self.queue.close()
        self._thread.join(timeout=30)
        with contextlib.suppress(Exception):
            self.store.close()

    # -- the service -------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the plan's ``logs`` section until stopped: receivers and forwarders."""
        unsubscribe = self.subscribe(self.forwarding.offer)
        self._forwarding_task = asyncio.create_task(self.forwarding.run(), name="log-forwarding")
        applied: LogsSection | None = None
        retention_due = time.monotonic() + RETENTION_FIRST
        try:
            while not self._stopping.is_set():
                if time.monotonic() >= retention_due:
                    retention_due = time.monotonic() + RETENTION_EVERY
                    await asyncio.to_thread(self.enforce_retention)
                section = await asyncio.to_thread(self._load)
                if section != self.section:
                    self.reconfigure(section)
                if section != applied:
                    for problem in self.forwarding.configure(section.forward):
                        log.error("logs.forward: %s", problem)
                    applied = section
                # Idempotent; a listener that could not start (port taken) is retried.
                await self.syslog.apply(section.syslog)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=5.0)
        finally:
            unsubscribe()
            await self.syslog.stop()

    def enforce_retention(self) -> None:
        """Delete the chunks past their stream's retention. Every replica holds its own log
        store, so every replica runs this on its own (not as a cluster-wide job)."""
        report = enforce_retention(self.store, self.section, time.time_ns())
        for removal in report.streams:
            log.info("logs retention: %s", describe(removal))

    async def stop(self) -> None:
        self._stopping.set()
        await self.syslog.stop()
        await asyncio.to_thread(self.drain)
        await self.forwarding.stop()
        if self._forwarding_task is not None:
            await asyncio.gather(self._forwarding_task, return_exceptions=True)
        await asyncio.to_thread(self.close)
