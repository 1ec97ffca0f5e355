"""The forwarding service the log system owns: one sender per ``logs.forward`` entry.

The store's writer thread hands every stored batch to ``offer``, which never waits: it only
copies the matching lines into each forwarder's bounded buffer. The senders run as tasks of
``run``. A plan change (``configure``) keeps unchanged forwarders as they are, starts new
ones, stops removed ones (their buffered lines are dropped and counted) and replaces changed
ones, whose replacement takes over the lines still buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence

from watchkeeper.logs.config import Forwarder
from watchkeeper.logs.forward.elasticsearch import ElasticsearchTarget
from watchkeeper.logs.forward.interface import Target
from watchkeeper.logs.forward.loki import LokiTarget
from watchkeeper.logs.forward.otlp import OtlpTarget
from watchkeeper.logs.forward.sender import Sender, Timing
from watchkeeper.logs.forward.transport import InvalidTarget
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.selector import QuerySyntaxError

log = logging.getLogger(__name__)

TARGETS: dict[str, type[Target]] = {
    target.type: target for target in (LokiTarget, ElasticsearchTarget, OtlpTarget)
}


class Forwarding:
    """Forward stored lines to the plan's ``logs.forward`` targets.

    ``stop_timeout``: how long ``stop`` keeps sending what is buffered; ``retry_initial`` and
    ``retry_max`` bound the back-off between attempts; ``request_timeout`` bounds one request.
    """

    def __init__(
        self,
        *,
        stop_timeout: float = 5.0,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        request_timeout: float = 30.0,
    ) -> None:
        self.stop_timeout = stop_timeout
        self._timing = Timing(retry_initial, retry_max, request_timeout)
        self._lock = threading.Lock()
        self._senders: dict[str, Sender] = {}
        # senders taken out of the plan, with the sender replacing them (None if removed)
        self._retired: list[tuple[Sender, Sender | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._stopping = False
        self._finished: asyncio.Event | None = None

    @property
    def names(self) -> list[str]:
        """The forwarders at work, in plan order."""
        return list(self._senders)

    def buffered(self, name: str) -> int:
        """Return the lines waiting in the buffer of forwarder ``name`` (0 if unknown)."""
        sender = self._senders.get(name)
        return len(sender.buffer) if sender is not None else 0

    def configure(self, forwarders: Sequence[Forwarder]) -> list[str]:
        """Make the forwarders those of ``forwarders``; thread-safe. Return one message per
        forwarder that cannot work (bad selector or URL); it is left out, the others run."""
        problems: list[str] = []
        with self._lock:
            old = self._senders
            new: dict[str, Sender] = {}
            for config in forwarders:
                kept = old.get(config.name)
                if kept is not None and kept.config == config:
                    new[config.name] = kept
                    continue
                try:
                    new[config.name] = Sender(config, TARGETS[config.type](config), self._timing)
                except (QuerySyntaxError, InvalidTarget) as exc:
                    field = "match" if isinstance(exc, QuerySyntaxError) else "url"
                    problems.append(f"logs.forward {config.name}: {field}: {exc}")
            for name, sender in old.items():
                if new.get(name) is not sender:
                    self._retired.append((sender, new.get(name)))
            self._senders = new
            loop, changed = self._loop, self._changed
        for problem in problems:
            log.error("%s; this forwarder is off", problem)
        if loop is None or changed is None:
            self._retire_idle()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(changed.set)
        return problems

    def offer(self, lines: Sequence[LogLine]) -> None:
        """Copy the lines each forwarder wants into its buffer; thread-safe, never waits
        (a full buffer drops its oldest lines)."""
        if not lines:
            return
        with self._lock:
            for sender in self._senders.values():
                picked = sender.pick(lines)
                if picked:
                    sender.buffer.append(picked)

    async def run(self) -> None:
        """Run the forwarders until ``stop`` (once: a second call returns at once)."""
        if self._finished is not None:
            return
        self._finished = asyncio.Event()
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        tasks: dict[Sender, asyncio.Task[None]] = {}
        try:
            while True:
                self._changed.clear()
                await self._retire(tasks)
                with self._lock:
                    current = list(self._senders.values())
                for sender in current:
                    if sender not in tasks:
                        tasks[sender] = asyncio.create_task(
                            sender.run(), name=f"log-forwarder-{sender.name}"
                        )
                if self._stopping:
                    break
                await self._changed.wait()
            await self._flush(tasks)
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            self._loop = None
            self._finished.set()

    async def stop(self) -> None:
        """Send what can be sent within ``stop_timeout`` seconds, then end ``run``; lines
        still buffered are dropped and counted. Call from the loop ``run`` runs in."""
        self._stopping = True
        if self._finished is None:  # run has not started: flush here
            await self.run()
            return
        if self._changed is not None:
            self._changed.set()
        await self._finished.wait()

    async def _flush(self, tasks: dict[Sender, asyncio.Task[None]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout
        for sender in tasks:
            sender.begin_stop(deadline)
        if tasks:
            # a request started before stop may outlast the deadline: cancel it
            await asyncio.wait(tasks.values(), timeout=self.stop_timeout + 0.5)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for sender in tasks:
            sender.drop_leftovers("still buffered at shutdown")
        tasks.clear()

    async def _retire(self, tasks: dict[Sender, asyncio.Task[None]]) -> None:
        """End the tasks of retired senders; hand their buffers on or drop them."""
        with self._lock:
            retired, self._retired = self._retired, []
        for sender, _ in retired:
            task = tasks.pop(sender, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for sender, replacement in retired:
            _hand_on(sender, replacement)

    def _retire_idle(self) -> None:
        with self._lock:
            retired, self._retired = self._retired, []
        for sender, replacement in retired:
            _hand_on(sender, replacement)


def _hand_on(sender: Sender, replacement: Sender | None) -> None:
    if replacement is not None:
        replacement.buffer.adopt(sender.buffer)
    else:
        sender.drop_leftovers("forwarder removed from the plan")
