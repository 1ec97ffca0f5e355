"""Shared by the outbox tests: a loopback HTTP receiver with queued replies, a test channel
type, a fake clock, and helpers that store channels, settings and outbox rows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.notify.loopback import Loopback, Reply, Seen
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


class Receiver(Loopback):
    """A :class:`Loopback` for POSTs to ``/hook/<name>`` (:meth:`hook`): answers with the
    replies queued for that name (then ``default``); a key in ``hold`` is kept waiting until
    the server stops."""

    def __init__(self) -> None:
        super().__init__(self._next)
        self.replies: dict[str, list[Reply]] = {}
        self.default = Reply()
        self.hold: set[str] = set()
        self.holding: set[str] = set()

    def hook(self, name: str) -> str:
        return self.url(f"/hook/{name}")

    @property
    def requests(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(name, idempotency key, JSON body)`` of every request, in order."""
        return [(_name(s), _key(s), s.json()) for s in self.seen]

    def keys(self, name: str | None = None) -> list[str]:
        return [_key(s) for s in self.seen if name is None or _name(s) == name]

    async def _next(self, seen: Seen) -> web.Response:
        key = _key(seen)
        if key in self.hold:
            self.hold.discard(key)
            self.holding.add(key)
            await self.closing.wait()
        queued = self.replies.get(_name(seen))
        return await self.reply(queued.pop(0) if queued else self.default)


def _name(seen: Seen) -> str:
    return seen.path.removeprefix("/hook/")


def _key(seen: Seen) -> str:
    return seen.headers.get("idempotency-key", "")


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
