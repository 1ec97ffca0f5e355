"""One forwarder at work: batches from its buffer, sent in order, retried while the target
is away.

A batch goes out when ``batch_lines`` lines are buffered or ``flush_interval`` has passed.
It is retried with exponential back-off and jitter (honouring Retry-After) until it is
delivered: meanwhile new lines wait in the buffer, whose oldest are dropped past
``buffer_lines``. Lines the target refuses for good (a 4xx other than 401/403/404/408/429,
or bulk items refused with such a status) are dropped and counted; a batch answered 413 is
split in halves; a batch a server keeps failing on with a plain 5xx (500, 501...) is dropped
after a few attempts, so one bad batch cannot stop the forwarder for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from watchkeeper.agent.push import Backoff
from watchkeeper.logging_setup import redact
from watchkeeper.logs.config import Forwarder
from watchkeeper.logs.forward.buffer import LineBuffer
from watchkeeper.logs.forward.interface import Target
from watchkeeper.logs.forward.transport import Endpoint, SendError
from watchkeeper.logs.model import Labels, LogLine
from watchkeeper.logs.selector import matches_all, parse_selector
from watchkeeper.telemetry import LOG_FORWARDED

log = logging.getLogger(__name__)
MAX_LIMITED_ATTEMPTS = 8


@dataclass(frozen=True)
class Timing:
    """Retry and time limits shared by every forwarder (tests shorten them)."""

    retry_initial: float = 1.0
    retry_max: float = 60.0
    request_timeout: float = 30.0


class Sender:
    """Forward the lines matching ``config.match`` to ``target``. Raise QuerySyntaxError for
    a bad selector and InvalidTarget for a bad URL."""

    def __init__(self, config: Forwarder, target: Target, timing: Timing) -> None:
        self.config = config
        self.name = config.name
        self.target = target
        self.matchers = parse_selector(config.match)
        self.endpoint = Endpoint(config, target.path, timing.request_timeout)
        self.buffer = LineBuffer(config.name, config.buffer_lines, config.batch_lines)
        self._backoff = Backoff(timing.retry_initial, timing.retry_max)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stop_at: float | None = None
        self._failures = 0
        self._sent = LOG_FORWARDED.labels(config.name, "sent")
        self._failed = LOG_FORWARDED.labels(config.name, "failed")
        self._dropped = LOG_FORWARDED.labels(config.name, "dropped")

    def pick(self, lines: Sequence[LogLine]) -> list[LogLine]:
        """Return the lines of ``lines`` this forwarder sends, in order."""
        if not self.matchers:
            return list(lines)
        seen: dict[Labels, bool] = {}  # the lines of a batch share few streams
        picked = []
        for line in lines:
            hit = seen.get(line.labels)
            if hit is None:
                hit = seen[line.labels] = matches_all(self.matchers, line.labels)
            if hit:
                picked.append(line)
        return picked

    def begin_stop(self, deadline: float) -> None:
        """Send what is buffered until ``deadline`` (event loop time), then end ``run``.
        Call from the event loop."""
        self._stop_at = deadline
        self._stopping.set()
        self._wake.set()

    def drop_leftovers(self, why: str) -> None:
        """Empty the buffer, counting its lines as dropped, and say so."""
        lost = self.buffer.discard()
        if lost:
            self._dropped.inc(lost)
            log.warning("log forwarder %s: %d line(s) not forwarded (%s)", self.name, lost, why)

    async def run(self) -> None:
        """Send batches until ``begin_stop``'s deadline or cancellation; lines taken but not
        delivered go back to the buffer."""
        self._loop = asyncio.get_running_loop()
        self.buffer.on_ready = self._signal
        try:
            while True:
                self._wake.clear()
                if not self._stopping.is_set() and len(self.buffer) < self.config.batch_lines:
                    await _wait(self._wake, self.config.flush_interval.total_seconds())
                batch = self.buffer.take(self.config.batch_lines)
                if not batch:
                    if self._stopping.is_set():
                        return
                    continue
                if not await self._deliver(batch):
                    return
        finally:
            self.buffer.on_ready = None
            await self.endpoint.close()

    def _signal(self) -> None:
        # Called from the thread that appends (the store's writer).
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._wake.set)

    async def _deliver(self, batch: list[LogLine]) -> bool:
        """Send ``batch`` (retrying, splitting); return False when stopping ran out of time
        first. What is not delivered then, or on cancellation, goes back to the buffer."""
        pending: deque[list[LogLine]] = deque([batch])
        limited = 0
        try:
            while pending:
                lines = pending[0]
                try:
                    body = await self._post(lines)
                except SendError as exc:
                    if exc.kind == "refused" or (exc.kind == "too_large" and len(lines) == 1):
                        pending.popleft()
                        limited = 0
                        self._lose(len(lines), str(exc))
                        continue
                    if exc.kind == "too_large":
                        pending.popleft()
                        half = len(lines) // 2
                        pending.extendleft((lines[half:], lines[:half]))
                        continue
                    limited += exc.kind == "limited"
                    if limited >= MAX_LIMITED_ATTEMPTS:
                        pending.popleft()
                        limited = 0
                        self._lose(len(lines), f"{exc} (after {MAX_LIMITED_ATTEMPTS} attempts)")
                        continue
                    self._retrying(len(lines), str(exc))
                    if not await self._pause(exc.retry_after):
                        return False
                    continue
                pending.popleft()
                outcome = self.target.accepted(body, lines)
                self._sent.inc(len(lines) - len(outcome.retry) - outcome.refused)
                if outcome.refused:
                    self._lose(
                        outcome.refused,
                        f"{self.endpoint.display} refused them: "
                        f"{redact(outcome.reason) or 'no reason given'}",
                    )
                if not outcome.retry:
                    self._recovered()
                    limited = 0
                    continue
                limited += 1
                if limited >= MAX_LIMITED_ATTEMPTS:
                    limited = 0
                    self._lose(len(outcome.retry), "target kept asking to send them again")
                    continue
                pending.appendleft(outcome.retry)
                self._retrying(len(outcome.retry), "target asked to send them again")
                if not await self._pause(None):
                    return False
            return True
        finally:
            if pending:
                self.buffer.put_back([line for lines in pending for line in lines])

    async def _post(self, lines: list[LogLine]) -> bytes:
        encoded = self.target.encode(lines)
        if self._stop_at is None:
            return await self.endpoint.post(encoded)
        left = self._stop_at - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(self.endpoint.post(encoded), max(left, 0.001))
        except TimeoutError:
            raise SendError(
                f"{self.endpoint.display} did not answer in time", "transient"
            ) from None

    async def _pause(self, retry_after: float | None) -> bool:
        """Wait before the next attempt (cut short when stopping begins); return False when
        stopping has no time left."""
        delay = self._backoff.next_delay(retry_after)
        if self._stop_at is None:
            if await _wait(self._stopping, delay):
                return True  # stopping began: one more attempt right away
        else:
            left = self._stop_at - asyncio.get_running_loop().time()
            if left <= delay:
                return False
            await asyncio.sleep(delay)
        return True

    def _retrying(self, count: int, reason: str) -> None:
        self._failed.inc(count)
        self._failures += 1
        if self._failures == 1:
            log.warning(
                "log forwarder %s: %s; retrying (%d line(s) buffered, up to %d)",
                self.name,
                reason,
                len(self.buffer) + count,
                self.config.buffer_lines,
            )

    def _recovered(self) -> None:
        if self._failures:
            log.info(
                "log forwarder %s: delivering again after %d failed attempt(s)",
                self.name,
                self._failures,
            )
        self._failures = 0
        self._backoff.reset()

    def _lose(self, count: int, reason: str) -> None:
        self._dropped.inc(count)
        log.warning("log forwarder %s: %d line(s) dropped: %s", self.name, count, reason)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` up to ``timeout`` seconds; return whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    return event.is_set()
