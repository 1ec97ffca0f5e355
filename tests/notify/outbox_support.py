"""Shared by the outbox tests: a loopback HTTP receiver, a test channel type, a fake clock,
and helpers that store channels, settings and outbox rows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Literal

import httpx
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.notify import outbox
from watchkeeper.notify.interface import (
    AlertItem,
    ChannelConfig,
    Notification,
    post,
    to_payload,
)
from watchkeeper.notify.interface import registry as channel_registry
from watchkeeper.store.tables import OutboxNotification, StoredObject

TEST_TYPE = "outboxtest"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: str = "ok"


class Receiver:
    """An aiohttp server on 127.0.0.1 that records every POST to ``/hook/<name>`` and answers
    with the replies queued for that name (then ``default``). A key in ``hold`` is kept
    waiting until ``release`` is set."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (name, key, body)
        self.replies: dict[str, list[Reply]] = {}
        self.default = Reply()
        self.hold: set[str] = set()
        self.holding: set[str] = set()
        self.release: asyncio.Event | None = None
        self.port = 0
        app = web.Application()
        app.router.add_post("/hook/{name}", self._hook)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def keys(self, name: str | None = None) -> list[str]:
        return [k for n, k, _ in self.requests if name is None or n == name]

    async def _hook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        self.requests.append((name, key, body))
        if key in self.hold:
            self.hold.discard(key)
            self.holding.add(key)
            assert self.release is not None
            await self.release.wait()
        queued = self.replies.get(name)
        reply = queued.pop(0) if queued else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)

    async def __aenter__(self) -> Receiver:
        self.release = asyncio.Event()
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.release is not None
        self.release.set()
        await self._runner.cleanup()


class ThreadedReceiver:
    """A :class:`Receiver` served from its own event loop in a thread (for sync tests)."""

    def __init__(self) -> None:
        self.receiver = Receiver()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.__aenter__(), self._loop).result(10)
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        future = asyncio.run_coroutine_threadsafe(
            self.receiver.__aexit__(None, None, None), self._loop
        )
        future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class HookConfig(ChannelConfig):
    type: Literal["outboxtest"]
    url: str


class HookChannel:
    """A minimal channel: POST the key, status and rendered title to ``url``."""

    name = TEST_TYPE
    description = "Test channel of the outbox tests."
    config_model: ClassVar[type[ChannelConfig]] = HookConfig

    async def send(
        self, config: HookConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        await post(
            http,
            config.url,
            "outboxtest",
            config.timeout,
            json={
                "key": message.key,
                "status": message.status,
                "group": message.group_key,
                "title": message.title,
                "test": message.test,
            },
            headers={"Idempotency-Key": message.key},
        )


def register_hook_type() -> Iterator[None]:
    """Add the test channel type to the registry for one test."""
    plugins = channel_registry.all()
    plugins[TEST_TYPE] = HookChannel()
    try:
        yield
    finally:
        plugins.pop(TEST_TYPE, None)


def add_channel(db: Session, name: str, url: str, *, type: str = TEST_TYPE, **spec: Any) -> None:
    db.add(
        StoredObject(
            kind=outbox.CHANNELS_KIND,
            name=name,
            spec={"name": name, "type": type, "url": url, **spec},
            managed=True,
        )
    )
    db.commit()


def set_settings(db: Session, **spec: Any) -> None:
    db.add(StoredObject(kind="settings", name="notifications", spec=spec, managed=True))
    db.commit()


def message(key: str, *, status: Literal["firing", "resolved"] = "firing") -> dict[str, Any]:
    labels = {"alertname": "DiskFull", "severity": "critical", "instance": key}
    alert = AlertItem(f"fp-{key}", status, labels, {"summary": "disk full"}, START)
    return to_payload(
        Notification(0, key, "", status, "g", {"alertname": "DiskFull"}, labels, {}, [alert])
    )


def add_row(
    db: Session,
    key: str,
    channel: str,
    now: datetime,
    *,
    group: str = "g",
    batch: str | None = None,
    status: Literal["firing", "resolved"] = "firing",
) -> None:
    assert outbox.enqueue(
        db,
        key=key,
        batch=batch or key,
        channel=channel,
        group_key=group,
        payload=message(key, status=status),
        now=now,
    )
    db.commit()


def rows(db: Session) -> dict[str, OutboxNotification]:
    db.expire_all()
    return {r.key: r for r in db.scalars(select(OutboxNotification))}
