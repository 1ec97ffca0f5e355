"""Join the lines of one event (a stack trace) into one log line.

A line matching ``start`` begins an event; the lines after it that do not match are its
continuation (Java's ``\tat ...`` and ``Caused by:``, Python's ``Traceback`` and indented
``File ...`` lines). The pending event is emitted when the next event starts, when it has
``max_lines`` lines (the rest begin a new event: nothing is dropped), when it would grow past
the line size limit, or after ``timeout`` seconds without a new line, so that the last trace
of a quiet file is not held back.

Each event carries the file offsets it came from: the tailer checkpoints the start of the
pending event, so a restart reads a half-joined trace again instead of losing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from watchkeeper.logs.config import Multiline
from watchkeeper.logs.model import MAX_LINE_BYTES


@dataclass(slots=True)
class Event:
    """One log event: its text, when its first line was read (ns since the epoch), and
    the file offsets of its first byte and just past its last line."""

    text: str
    ts: int
    start: int
    end: int


@dataclass(slots=True)
class _Pending:
    lines: list[str] = field(default_factory=list)
    size: int = 0
    ts: int = 0
    start: int = 0
    end: int = 0
    last_seen: float = 0.0


class Joiner:
    """Turn lines into events; with no ``config`` every non-empty line is one event."""

    def __init__(self, config: Multiline | None, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.config = config
        self.max_bytes = max_bytes
        self._start = re.compile(config.start) if config else None
        self._timeout = config.timeout.total_seconds() if config else 0.0
        self._pending: _Pending | None = None

    @property
    def pending_start(self) -> int | None:
        """The offset of the first line of the event still being joined (None if none)."""
        return self._pending.start if self._pending else None

    def feed(self, text: str, ts: int, start: int, end: int, now: float) -> list[Event]:
        """Take one line (without its newline) read at ``ts`` from offsets ``start:end``;
        return the events it completes. ``now`` is a monotonic time in seconds."""
        if self._start is None or self.config is None:
            return [Event(text, ts, start, end)] if text.strip() else []
        out: list[Event] = []
        pending = self._pending
        size = len(text.encode("utf-8", "replace")) + 1
        if pending is not None and (
            self._start.search(text)
            or len(pending.lines) >= self.config.max_lines
            or pending.size + size > self.max_bytes
        ):
            out.append(self._emit())
            pending = None
        if pending is None:
            if not text.strip():
                return out  # blank lines between events carry nothing
            pending = self._pending = _Pending(ts=ts, start=start)
        pending.lines.append(text)
        pending.size += size
        pending.end = end
        pending.last_seen = now
        return out

    def flush_idle(self, now: float) -> list[Event]:
        """Return the pending event if no line came for ``timeout`` seconds."""
        if self._pending is not None and now - self._pending.last_seen >= self._timeout:
            return [self._emit()]
        return []

    def flush(self) -> list[Event]:
        """Return the pending event, whatever its age (the file is being closed)."""
        return [self._emit()] if self._pending is not None else []

    def reset(self) -> None:
        """Forget the pending event (its lines will be read again)."""
        self._pending = None

    def _emit(self) -> Event:
        pending = self._pending
        assert pending is not None
        self._pending = None
        # Trailing blank lines belong to no one; keep the event's text tidy.
        lines = pending.lines
        while len(lines) > 1 and not lines[-1].strip():
            lines.pop()
        return Event("\n".join(lines), pending.ts, pending.start, pending.end)
