"""Live tail of the log store as server-sent events (``GET /api/v1/logs/tail``).

The writer thread hands every stored batch to the subscribed tails; each tail keeps the
lines its query matches and passes them to the event loop with ``call_soon_threadsafe`` into
a queue bounded per client. When a client reads too slowly its queue fills and the lines
that do not fit are counted and reported as a ``dropped`` event: the writer never waits.

Events: ``ready`` once subscribed, ``lines`` (``{"lines": [...]}``, oldest first),
``dropped`` (``{"count": n}``); a ``: heartbeat`` comment every 15 s keeps proxies open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from watchkeeper.api.deps import get_ctx, require
from watchkeeper.api.logs import bad_request, query_error
from watchkeeper.api.logs_params import BadParam, line_json
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.query import ast
from watchkeeper.logs.query.engine import line_test
from watchkeeper.logs.query.parser import parse_log_query
from watchkeeper.logs.selector import QuerySyntaxError, matches_all

router = APIRouter(prefix="/api/v1/logs", tags=["logs"])
Viewer = Annotated[SessionInfo, require("viewer")]
CLIENT_BUFFER = 2000
"""Lines held for one client; more while it is behind are dropped (and counted)."""
HEARTBEAT = 15.0
BATCH = 500


class _Tail:
    """One client's subscription: filters in the writer thread, queues in the loop."""

    def __init__(self, query: ast.LogQuery, loop: asyncio.AbstractEventLoop) -> None:
        self.matchers = query.matchers
        self.test = line_test(query)
        # A regexp parser adds fields to the line it tests: test copies, not the stored lines.
        self.copy = any(isinstance(s, ast.Parser) and s.kind == "regexp" for s in query.stages)
        self.loop = loop
        self.queue: asyncio.Queue[LogLine] = asyncio.Queue(maxsize=CLIENT_BUFFER)
        self.dropped = 0
        self.wake = asyncio.Event()
        self._seen: dict[tuple[tuple[str, str], ...], bool] = {}

    def on_batch(self, lines: Sequence[LogLine]) -> None:
        """From the writer thread: keep what matches, hand it to the loop."""
        picked = []
        for line in lines:
            ok = self._seen.get(line.labels)
            if ok is None:
                ok = self._seen[line.labels] = matches_all(self.matchers, line.labels)
                if len(self._seen) > 10_000:
                    self._seen.clear()
            if ok:
                candidate = replace(line, fields=dict(line.fields)) if self.copy else line
                if self.test(candidate):
                    picked.append(candidate)
        if picked:
            with contextlib.suppress(RuntimeError):  # the loop closed: the client is gone
                self.loop.call_soon_threadsafe(self._offer, picked)

    def _offer(self, lines: list[LogLine]) -> None:
        for line in lines:
            try:
                self.queue.put_nowait(line)
            except asyncio.QueueFull:
                self.dropped += 1
        self.wake.set()


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _stream(request: Request, tail: _Tail, unsubscribe: Any) -> AsyncIterator[bytes]:
    try:
        yield _event("ready", {})
        last = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tail.wake.wait(), timeout=1.0)
            tail.wake.clear()
            if await request.is_disconnected():
                return
            if tail.dropped:
                count, tail.dropped = tail.dropped, 0
                yield _event("dropped", {"count": count})
                last = time.monotonic()
            while not tail.queue.empty():
                out: list[dict[str, Any]] = []
                while len(out) < BATCH and not tail.queue.empty():
                    out.append(line_json(tail.queue.get_nowait()))
                yield _event("lines", {"lines": out})
                last = time.monotonic()
            if time.monotonic() - last >= HEARTBEAT:
                yield b": heartbeat\n\n"
                last = time.monotonic()
    finally:
        unsubscribe()


@router.get("/tail", summary="Live tail: matching lines as server-sent events")
async def tail(request: Request, _: Viewer) -> Response:
    text = request.query_params.get("query", "")
    if not text.strip():
        return bad_request(request, BadParam("query", 'missing: give a query such as {app="api"}'))
    try:
        query = parse_log_query(text)
    except QuerySyntaxError as exc:
        return bad_request(request, query_error(exc))
    subscriber = _Tail(query, asyncio.get_running_loop())
    unsubscribe = get_ctx(request).logs.subscribe(subscriber.on_batch)
    return StreamingResponse(
        _stream(request, subscriber, unsubscribe),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
