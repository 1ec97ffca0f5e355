"""The bounded queue between the log receivers and the store.

Receivers put batches of lines; one writer thread takes them. When the queue is full,
``block`` makes receivers wait (a TCP or HTTP sender is slowed down, nothing is lost) and
``drop`` drops the new batch and counts it. UDP cannot wait: ``offer`` never blocks.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

from watchkeeper.logs.model import LogLine
from watchkeeper.telemetry import LOG_BYTES, LOG_LINES, LOG_QUEUE


@dataclass(slots=True)
class Batch:
    """Lines from one receiver; ``done`` is resolved once they are in the write-ahead log."""

    source: str
    lines: Sequence[LogLine]
    done: Future[None] | None = None


class IngestQueue:
    def __init__(self, size: int = 200_000, overflow: Literal["block", "drop"] = "block") -> None:
        self.size = size
        self.overflow = overflow
        self._batches: deque[Batch] = deque()
        self._lines = 0
        self._taken = 0  # lines taken by the writer and not yet reported finished
        self._cond = threading.Condition()
        self._closed = False

    @property
    def lines(self) -> int:
        return self._lines

    @property
    def pending(self) -> int:
        """Lines queued or taken by the writer and not yet stored (what ``drain`` awaits)."""
        with self._cond:
            return self._lines + self._taken

    def _room(self, count: int) -> bool:
        # An oversized batch is let in when the queue is empty, or it could never enter.
        return self._lines == 0 or self._lines + count <= self.size

    def _put(self, source: str, lines: Sequence[LogLine], done: Future[None] | None = None) -> None:
        self._batches.append(Batch(source, lines, done))
        self._lines += len(lines)
        LOG_QUEUE.set(self._lines)
        self._cond.notify()

    def offer(self, source: str, lines: Sequence[LogLine]) -> int:
        """Queue ``lines`` if there is room; never wait. Return the lines accepted (0 or all);
        dropped lines are counted."""
        if not lines:
            return 0
        with self._cond:
            if self._room(len(lines)) and not self._closed:
                self._put(source, lines)
                return len(lines)
        LOG_LINES.labels(source, "dropped_queue_full").inc(len(lines))
        return 0

    def put(self, source: str, lines: Sequence[LogLine], timeout: float | None = None) -> int:
        """Queue ``lines`` from a thread: wait for room under ``block`` (up to ``timeout``),
        drop under ``drop``. Return the lines accepted."""
        if self.overflow == "drop" or not lines:
            return self.offer(source, lines)
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._closed or self._room(len(lines)), timeout=timeout
            ):
                LOG_LINES.labels(source, "dropped_queue_full").inc(len(lines))
                return 0
            if self._closed:
                return 0
            self._put(source, lines)
        return len(lines)

    async def submit(self, source: str, lines: Sequence[LogLine], *, durable: bool = False) -> int:
        """Queue ``lines`` from the event loop: under ``block`` wait (without blocking the
        loop) until there is room; under ``drop`` drop when full. Return the lines accepted.

        ``durable``: return only once the lines are in the write-ahead log (HTTP receivers
        answer after that, so a 2xx means the lines survive a crash)."""
        if not lines:
            return 0
        delay = 0.001
        while True:
            with self._cond:
                if self._closed:
                    return 0
                if self._room(len(lines)):
                    done: Future[None] | None = Future() if durable else None
                    self._put(source, lines, done)
                    break
            if self.overflow == "drop":
                LOG_LINES.labels(source, "dropped_queue_full").inc(len(lines))
                return 0
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        if done is not None:
            await asyncio.wrap_future(done)
        return len(lines)

    def take(self, max_lines: int = 50_000, timeout: float = 0.2) -> list[Batch]:
        """Take queued batches (about ``max_lines`` lines), waiting up to ``timeout`` for the
        first one. Called by the writer thread only."""
        with self._cond:
            if not self._batches:
                self._cond.wait(timeout)
            out: list[Batch] = []
            taken = 0
            while self._batches and (not out or taken + len(self._batches[0].lines) <= max_lines):
                batch = self._batches.popleft()
                out.append(batch)
                taken += len(batch.lines)
            self._lines -= taken
            self._taken += taken
            LOG_QUEUE.set(self._lines)
            self._cond.notify_all()
        return out

    def finished(self, batches: Sequence[Batch]) -> None:
        """The writer is done with ``batches`` (stored or failed)."""
        with self._cond:
            self._taken -= sum(len(batch.lines) for batch in batches)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


def count_accepted(source: str, lines: Sequence[LogLine]) -> None:
    LOG_LINES.labels(source, "accepted").inc(len(lines))
    LOG_BYTES.labels(source).inc(sum(len(line.message) for line in lines))
