"""Per-project event rate limits shared by all replicas, in fixed one-minute windows.

The store counts the events each project was accepted per minute (``error_rate_windows``):
the writer adds a batch's events in the batch's own transaction and reads the totals back.
A replica decides from the last totals it read plus what it accepted since, so all
replicas together exceed a limit by at most one write batch each. Only accepted events
count: a refused one does not use the quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Window = tuple[int, int]  # (project id, Unix minute)


class RateLimiter:
    """The event-loop side of the limits; not thread-safe (the writer's thread only
    returns totals, which :meth:`settle` applies on the loop)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._stored: dict[Window, int] = {}  # totals the store last reported
        self._pending: dict[Window, int] = {}  # accepted here, not yet written

    def minute(self) -> int:
        return int(self._clock() // 60)

    def retry_after(self, project_id: int, limit: int, events: int) -> int:
        """Return 0 when ``events`` more fit in the project's current minute, else the
        seconds until the next minute starts."""
        if limit <= 0 or events <= 0:
            return 0
        now = self._clock()
        window = (project_id, int(now // 60))
        used = self._stored.get(window, 0) + self._pending.get(window, 0)
        if used + events <= limit:
            return 0
        return max(1, 60 - int(now % 60))

    def reserve(self, project_id: int, events: int) -> Window:
        """Count ``events`` accepted now; return the window they count in."""
        window = (project_id, self.minute())
        self._pending[window] = self._pending.get(window, 0) + events
        return window

    def release(self, window: Window, events: int) -> None:
        """Undo a reservation whose events could not be stored."""
        left = self._pending.get(window, 0) - events
        if left > 0:
            self._pending[window] = left
        else:
            self._pending.pop(window, None)

    def settle(self, written: dict[Window, int], totals: dict[Window, int]) -> None:
        """Apply a write: ``written`` events left pending, ``totals`` are the store's."""
        for window, events in written.items():
            self.release(window, events)
        self._stored.update(totals)
        current = self.minute()
        for table in (self._stored, self._pending):
            for window in [w for w in table if w[1] < current - 1]:
                del table[window]
