"""Shared by the log push tests (NDJSON, OTLP, Loki): a server, a token, reading lines back."""

from __future__ import annotations

import threading

from watchkeeper.logs.model import LogLine
from watchkeeper.runtime.context import AppContext

EVERYTHING = (0, 2**63 - 1)


def stored(ctx: AppContext, selector: str, limit: int = 1000) -> list[LogLine]:
    """Return the stored lines of the streams ``selector`` picks, oldest first (lines of
    the same time in no particular order)."""
    ctx.logs.drain()
    return sorted(ctx.logs.search(selector, *EVERYTHING, limit=limit), key=lambda ln: ln.ts)


class HeldWriter:
    """Hold the log writer thread after its next stored batch until ``release()``, so that
    queued lines stay queued (a listener is called after the batch is durable)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.holding = threading.Event()
        self._go = threading.Event()
        self._unsubscribe = ctx.logs.subscribe(self._hold)

    def _hold(self, lines: object) -> None:
        self.holding.set()
        self._go.wait(30)

    def release(self) -> None:
        self._unsubscribe()
        self._go.set()
