"""The recording HTTP server on loopback that the channel and outbox tests post to, and
sample notifications.

The server keeps every request and answers with the handler the test gives it, which speaks
the protocol of the service the channel talks to (PagerDuty, Opsgenie, Telegram, ntfy, …),
or with canned :class:`Reply` values.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from aiohttp import web

from tests.helpers import AiohttpServer
from watchkeeper.notify.interface import AlertItem, ChannelType, Notification, Status

T = TypeVar("T")
STARTED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str  # decoded
    raw_path: str  # as sent, with the query
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = Callable[[Seen], web.StreamResponse | Awaitable[web.StreamResponse]]


def ok(seen: Seen) -> web.StreamResponse:
    return web.json_response({})


@dataclass
class Reply:
    """A canned answer, given ``delay`` seconds late, or only when the server stops
    (``hang``)."""

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False


class Loopback(AiohttpServer):
    """An aiohttp server on 127.0.0.1 that keeps every request in ``seen`` and answers with
    ``answer``. ``closing`` is set when the server stops, before it waits for its handlers
    (half a second at most: a handler still sleeping is cancelled)."""

    def __init__(self, answer: Answer = ok) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        super().__init__(app, shutdown_timeout=0.5)
        self.answer = answer
        self.seen: list[Seen] = []
        self.closing = asyncio.Event()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def reply(self, reply: Reply) -> web.Response:
        """Answer with ``reply``, after its delay (or when the server stops, if it hangs)."""
        if reply.hang:
            await self.closing.wait()
        elif reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            method=request.method,
            path=request.path,
            raw_path=request.raw_path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
        )
        self.seen.append(seen)
        result = self.answer(seen)
        return await result if isinstance(result, Awaitable) else result

    async def stop(self) -> None:
        self.closing.set()
        await super().stop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def send_to(
    make_config: Callable[[str], Any],
    channel: ChannelType,
    message: Notification,
    answer: Answer = ok,
) -> list[Seen]:
    """Start a loopback server answering with ``answer``, build the channel's config for its
    URL with ``make_config``, send ``message``; return the requests the server received.
    DeliveryError propagates."""
    async with Loopback(answer) as server, httpx.AsyncClient() as http:
        await channel.send(make_config(server.url()), message, http)
        return server.seen


def alert(
    name: str = "HighLatency",
    status: Status = "firing",
    severity: str = "critical",
    **labels: str,
) -> AlertItem:
    return AlertItem(
        fingerprint=f"fp-{name}-{labels.get('instance', '')}",
        status=status,
        labels={"alertname": name, "severity": severity, **labels},
        annotations={"summary": f"{name} is firing"},
        starts_at=STARTED,
        ends_at=STARTED.replace(hour=13) if status == "resolved" else None,
        value=1.25,
        rule=name,
        runbook_url="https://runbooks.example.com/latency",
        url="https://wk.example.com/alerts/1",
        silence_url="https://wk.example.com/silences/new?fp=1",
    )


def notification(
    *alerts: AlertItem,
    status: Status = "firing",
    title: str = "[FIRING:1] HighLatency (api)",
    text: str = "HighLatency on api-1: p99 1.25s",
    group_key: str = 'route-1:{alertname="HighLatency"}',
) -> Notification:
    items = list(alerts) or [alert()]
    return Notification(
        id=1,
        key="n-1",
        channel="test",
        status=status,
        group_key=group_key,
        group_labels={"alertname": items[0].name},
        common_labels={"alertname": items[0].name, "severity": items[0].severity},
        common_annotations={},
        alerts=items,
        external_url="https://wk.example.com",
        group_url="https://wk.example.com/alerts/groups/1",
        title=title,
        text=text,
        html=f"<p>{text}</p>",
    )
