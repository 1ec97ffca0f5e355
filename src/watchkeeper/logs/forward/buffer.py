"""The bounded buffer of one forwarder: the writer thread appends, the sender takes batches.

Appending never waits: when the buffer is full the oldest lines make room and are counted as
dropped, so a target that is away costs memory up to ``capacity`` lines and nothing more, and
the store's writer is never slowed down by a forwarder.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from watchkeeper.logs.model import LogLine
from watchkeeper.telemetry import LOG_FORWARD_BUFFER, LOG_FORWARDED


class LineBuffer:
    """Lines waiting to be forwarded by the forwarder ``name``, at most ``capacity``.

    ``on_ready`` is called (from the appending thread, outside the lock) when the buffer
    reaches ``ready_at`` lines, once until the next ``take``: the sender uses it to wake up
    before its flush interval is over.
    """

    def __init__(self, name: str, capacity: int, ready_at: int) -> None:
        self.name = name
        self.capacity = capacity
        self.ready_at = ready_at
        self.on_ready: Callable[[], None] | None = None
        self._lines: deque[LogLine] = deque()
        self._lock = threading.Lock()
        self._signalled = False
        self._dropped = LOG_FORWARDED.labels(name, "dropped")
        self._gauge = LOG_FORWARD_BUFFER.labels(name)

    def __len__(self) -> int:
        return len(self._lines)

    def append(self, lines: Iterable[LogLine]) -> None:
        """Add ``lines`` at the end; drop (and count) the oldest past the capacity."""
        signal = None
        with self._lock:
            self._lines.extend(lines)
            over = len(self._lines) - self.capacity
            for _ in range(max(over, 0)):
                self._lines.popleft()
            size = len(self._lines)
            if size >= self.ready_at and not self._signalled:
                self._signalled = True
                signal = self.on_ready
        if over > 0:
            self._dropped.inc(over)
        self._gauge.set(size)
        if signal is not None:
            signal()

    def put_back(self, lines: Sequence[LogLine]) -> None:
        """Put lines taken but not delivered back in front, keeping them in order; drop (and
        count) the oldest past the capacity."""
        with self._lock:
            self._lines.extendleft(reversed(lines))
            over = len(self._lines) - self.capacity
            for _ in range(max(over, 0)):
                self._lines.popleft()
            size = len(self._lines)
        if over > 0:
            self._dropped.inc(over)
        self._gauge.set(size)

    def take(self, limit: int) -> list[LogLine]:
        """Remove and return the oldest ``limit`` lines (fewer when fewer are held)."""
        with self._lock:
            count = min(limit, len(self._lines))
            batch = [self._lines.popleft() for _ in range(count)]
            self._signalled = len(self._lines) >= self.ready_at
            size = len(self._lines)
        self._gauge.set(size)
        return batch

    def adopt(self, other: LineBuffer) -> None:
        """Take over the lines of ``other`` (the buffer of the forwarder this one replaces),
        in front of any this one already holds."""
        with other._lock:
            held = list(other._lines)
            other._lines.clear()
        other._gauge.set(0)
        self.put_back(held)

    def discard(self) -> int:
        """Empty the buffer; return how many lines it held (not counted: the caller knows
        why they go)."""
        with self._lock:
            count = len(self._lines)
            self._lines.clear()
        self._gauge.set(0)
        return count
