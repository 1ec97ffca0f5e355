"""The delivery worker: takes due rows from the outbox and hands them to their channels.

Every replica runs one. Rows are claimed in the store with a lease (``notify/outbox.py``),
so replicas never deliver the same row and a row whose process died is delivered again once
its lease runs out; on SQLite, where one process serves the store, the worker takes back
rows left ``sending`` when it starts. The worker delivers at once when woken (the dispatcher
calls :meth:`DeliveryWorker.wake` after committing) and looks for due rows every second
otherwise. Several rows go out in parallel, but one channel and group at a time, in order.

Outcomes: delivered; a transient failure (timeout, 5xx, 429) is retried with exponential
back-off and jitter from the plan's ``notifications.retry`` (or the service's Retry-After)
until ``give_up_after`` has passed since the row was written, and always attempted once;
a permanent failure (a 4xx, an unknown or removed channel, an invalid stored
configuration) fails the row at once, with the reason kept in ``last_error``. Over a
channel's ``rate_limit`` a row is put back for later without counting an attempt (the token
bucket is per process). An all-resolved notification to a channel with
``send_resolved: false`` is marked delivered, unsent, with a note. When a batch can no
longer reach anyone, its copy goes to the fallback channel and ``NotificationDeliveryFailed``
fires; the next successful delivery on that channel resolves it. Test notifications never
use the fallback. Logs name the channel and the error, never its configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.alerts.internal import INTERNAL_RULE, raise_internal, resolve_internal
from watchkeeper.logging_setup import redact
from watchkeeper.notify import outbox
from watchkeeper.notify.config import NotificationsSection, RetryPolicy
from watchkeeper.notify.interface import (
    ChannelConfig,
    ChannelType,
    DeliveryError,
    Notification,
    from_payload,
)
from watchkeeper.notify.interface import registry as channel_registry
from watchkeeper.notify.outbox import Claimed
from watchkeeper.notify.render import render_message
from watchkeeper.store.tables import Alert, utcnow
from watchkeeper.telemetry import (
    NOTIFICATION_ATTEMPT,
    NOTIFICATION_OLDEST_PENDING,
    NOTIFICATIONS,
    NOTIFICATIONS_QUEUED,
    STORE_ERRORS,
)

log = logging.getLogger(__name__)
FAILED_ALERT = "NotificationDeliveryFailed"
SKIPPED_RESOLVED = "not sent: the channel has send_resolved: false"
ATTEMPT_GRACE = 5.0  # seconds past a channel's timeout before an attempt is abandoned


@dataclass
class _Channel:
    """A configured channel as the worker sees it; ``problem`` says why it cannot send."""

    name: str
    spec: dict[str, Any]
    plugin: ChannelType | None = None
    config: ChannelConfig | None = None
    problem: str = ""

    @property
    def type(self) -> str:
        return self.plugin.name if self.plugin else str(self.spec.get("type", "unknown"))


@dataclass
class _Bucket:
    """A token bucket: ``per_minute`` tokens a minute, holding at most a minute's worth."""

    per_minute: int
    tokens: float
    updated: datetime

    def take(self, now: datetime) -> float:
        """Take a token; return 0, or the seconds until one is there (nothing taken)."""
        rate = self.per_minute / 60
        elapsed = max(0.0, (now - self.updated).total_seconds())
        self.tokens = min(float(self.per_minute), self.tokens + elapsed * rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rate


@dataclass
class _Outcome:
    result: str  # delivered | skipped | retried | failed | deferred
    error: str = ""
    when: datetime | None = None
    attempted: bool = True


def backoff(policy: RetryPolicy, attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``attempts`` failed attempts: ``initial_backoff`` doubled each
    time, up to ``max_backoff``, spread by up to a quarter (less at the cap) against herds."""
    initial = policy.initial_backoff.total_seconds()
    ceiling = policy.max_backoff.total_seconds()
    base = initial * float(2 ** min(max(attempts - 1, 0), 40))
    low, high = min(base, ceiling), min(base * 1.25, ceiling)
    if high == low:
        low = high * 0.9
    return low + (high - low) * rng()


def _error_text(exc: BaseException) -> str:
    return redact(str(exc) or type(exc).__name__)[:1000]


class DeliveryWorker:
    """Deliver the outbox's due notifications until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        reload_interval: float = 5.0,
        lease: timedelta = timedelta(minutes=2),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._concurrency = concurrency
        self._poll = poll_interval
        self._reload_interval = reload_interval
        self._lease = lease
        self._rng = rng
        self._channels: dict[str, _Channel] = {}
        self._settings = NotificationsSection()
        self._buckets: dict[str, _Bucket] = {}
        self._failing: set[str] = set()  # channels whose NotificationDeliveryFailed fires
        self._loaded_at = -1e9
        self._inflight: dict[int, tuple[Claimed, asyncio.Task[None]]] = {}
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._grace = 5.0

    # -- control -----------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due rows now (call after committing new rows); safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            self._wakeup.set()
        else:
            loop.call_soon_threadsafe(self._wakeup.set)

    async def run(self) -> None:
        """Deliver until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        self._running = True
        started, stats_at = False, -1e9
        try:
            while not self._stopping.is_set():
                self._wakeup.clear()
                try:
                    if not started:
                        await self._start()
                        started = True
                    await self._cycle()
                    if time.monotonic() - stats_at >= self._poll:
                        await asyncio.to_thread(self._update_gauges)
                        stats_at = time.monotonic()
                except SQLAlchemyError as exc:
                    STORE_ERRORS.labels("notifications").inc()
                    log.error("notifications: cannot reach the store: %s", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll)
        finally:
            await self._wind_down()
            self._running = False
            self._stopped.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming rows; let deliveries finish for up to ``grace`` seconds, then put
        the unfinished ones back for another worker."""
        self._grace = grace
        self._stopping.set()
        self._wakeup.set()
        if self._running:
            await self._stopped.wait()
        elif self._http is not None:
            await self._wind_down()

    async def run_once(self) -> int:
        """Claim the rows due now (up to the concurrency), deliver them and wait; return
        how many were claimed. For tests and tools: :meth:`run` does this in a loop."""
        self._loop = asyncio.get_running_loop()
        await self._reload()
        rows = await asyncio.to_thread(self._claim, self._concurrency)
        tasks = [self._spawn(row) for row in rows]
        if tasks:
            await asyncio.gather(*tasks)
        await asyncio.to_thread(self._update_gauges)
        return len(rows)

    # -- configuration -----------------------------------------------------------------------

    def _read(self) -> tuple[dict[str, dict[str, Any]], NotificationsSection, set[str]]:
        with self._sessions() as db:
            specs = outbox.channel_specs(db)
            settings = outbox.delivery_settings(db)
            firing = db.scalars(
                select(Alert.labels).where(Alert.rule == INTERNAL_RULE, Alert.state == "firing")
            )
            failing = {
                labels.get("channel", "")
                for labels in firing
                if labels.get("alertname") == FAILED_ALERT
            }
        return specs, settings, failing

    async def _reload(self) -> None:
        specs, self._settings, self._failing = await asyncio.to_thread(self._read)
        channels: dict[str, _Channel] = {}
        for name, spec in specs.items():
            old = self._channels.get(name)
            channels[name] = old if old is not None and old.spec == spec else _parse(name, spec)
        self._channels = channels
        for name in list(self._buckets):
            config = channels[name].config if name in channels else None
            if config is None or config.rate_limit != self._buckets[name].per_minute:
                del self._buckets[name]
        self._loaded_at = time.monotonic()

    def _lease_for_attempts(self) -> timedelta:
        longest = max(
            (c.config.timeout for c in self._channels.values() if c.config is not None),
            default=timedelta(0),
        )
        return max(self._lease, longest + timedelta(seconds=ATTEMPT_GRACE + 30))

    # -- the loop ----------------------------------------------------------------------------

    async def _start(self) -> None:
        self._http = self._http or _client()
        await self._reload()
        taken = await asyncio.to_thread(self._take_back)
        if taken:
            log.info("notifications: %d unfinished delivery(ies) taken back", taken)

    def _take_back(self) -> int:
        """On SQLite (one process per store) rows left sending were being delivered by
        this store's previous process: deliver them again now, not after their lease."""
        with self._sessions() as db:
            if db.get_bind().dialect.name != "sqlite":
                return 0
            taken = outbox.take_back_sending(db)
            db.commit()
        return taken

    async def _cycle(self) -> None:
        if time.monotonic() - self._loaded_at >= self._reload_interval:
            await self._reload()
        free = self._concurrency - len(self._inflight)
        if free <= 0:
            return
        for row in await asyncio.to_thread(self._claim, free):
            self._spawn(row)

    def _claim(self, limit: int) -> list[Claimed]:
        lease = self._lease_for_attempts()
        with self._sessions() as db:
            rows = outbox.claim_due(db, now=self._clock(), limit=limit, lease=lease)
            db.commit()
        return rows

    def _spawn(self, row: Claimed) -> asyncio.Task[None]:
        task = asyncio.create_task(self._deliver(row), name=f"notify:{row.id}")
        self._inflight[row.id] = (row, task)

        def done(_: asyncio.Task[None]) -> None:
            self._inflight.pop(row.id, None)
            self._wakeup.set()  # the next row of its group may be due now

        task.add_done_callback(done)
        return task

    def _update_gauges(self) -> None:
        with self._sessions() as db:
            queued, oldest = outbox.queue_stats(db, now=self._clock())
        NOTIFICATIONS_QUEUED.set(queued)
        NOTIFICATION_OLDEST_PENDING.set(oldest)

    async def _wind_down(self) -> None:
        running = [task for _, task in self._inflight.values()]
        if running:
            _, pending = await asyncio.wait(running, timeout=self._grace)
            held = [row for row, task in self._inflight.values() if task in pending]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if held:
                try:
                    await asyncio.to_thread(self._release, held)
                except SQLAlchemyError as exc:
                    STORE_ERRORS.labels("notifications").inc()
                    log.error("notifications: cannot put back rows: %s", type(exc).__name__)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _release(self, rows: list[Claimed]) -> None:
        with self._sessions() as db:
            outbox.release(db, rows, now=self._clock())
            db.commit()

    # -- one delivery ------------------------------------------------------------------------

    async def _deliver(self, row: Claimed) -> None:
        channel = self._channels.get(row.channel)
        if channel is None:  # declared a moment ago? look once more before failing the row
            await self._reload()
            channel = self._channels.get(row.channel)
        try:
            outcome = await self._attempt(row, channel)
        except Exception as exc:  # a plugin bug must not leave the row unrecorded
            error = f"{type(exc).__name__}: {_error_text(exc)}"
            # No traceback: its frames may hold the channel's configuration.
            log.error("notifications: channel %s crashed: %s", row.channel, error)
            outcome = self._transient(row, error, None)
        kind = channel.type if channel is not None else "unknown"
        try:
            await asyncio.to_thread(self._record, row, outcome)
        except SQLAlchemyError as exc:
            STORE_ERRORS.labels("notifications").inc()
            log.error(
                "notifications: cannot record the outcome for %s (%s); it is retried after "
                "its lease",
                row.key,
                type(exc).__name__,
            )
            return
        if outcome.result in ("delivered", "retried", "failed"):
            NOTIFICATIONS.labels(kind, outcome.result).inc()
        if outcome.result == "delivered":
            log.info("notification %s delivered via %s", row.key, row.channel)
        elif outcome.result == "retried":
            log.warning(
                "notification %s via channel %s failed (attempt %d), retrying at %s: %s",
                row.key,
                row.channel,
                row.attempts + 1,
                outcome.when.isoformat(timespec="seconds") if outcome.when else "?",
                outcome.error,
            )
        elif outcome.result == "failed":
            log.error(
                "notification %s via channel %s failed: %s", row.key, row.channel, outcome.error
            )

    async def _attempt(self, row: Claimed, channel: _Channel | None) -> _Outcome:
        if channel is None:
            return _Outcome(
                "failed", f'no notification channel is named "{row.channel}"', attempted=False
            )
        if channel.problem or channel.plugin is None or channel.config is None:
            return _Outcome("failed", channel.problem, attempted=False)
        try:
            message = from_payload(row.id, row.key, row.channel, row.payload)
        except (KeyError, TypeError, ValueError) as exc:
            return _Outcome(
                "failed", f"the stored notification is malformed: {exc!r}", attempted=False
            )
        if not message.test and not message.firing and not channel.config.send_resolved:
            return _Outcome("skipped", SKIPPED_RESOLVED, attempted=False)
        wait = self._take_token(channel)
        if wait > 0:
            return _Outcome(
                "deferred", when=self._clock() + timedelta(seconds=wait), attempted=False
            )
        try:
            message = render_message(message, channel.config.template, self._clock())
        except Exception as exc:
            return _Outcome(
                "failed", f"cannot render the message: {_error_text(exc)}", attempted=False
            )
        return await self._send(row, channel, message)

    def _take_token(self, channel: _Channel) -> float:
        assert channel.config is not None
        limit = channel.config.rate_limit
        if not limit:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(channel.name)
        if bucket is None:
            bucket = self._buckets[channel.name] = _Bucket(limit, float(limit), now)
        return bucket.take(now)

    async def _send(self, row: Claimed, channel: _Channel, message: Notification) -> _Outcome:
        assert channel.plugin is not None and channel.config is not None
        if self._http is None:
            self._http = _client()
        timeout = channel.config.timeout
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout.total_seconds() + ATTEMPT_GRACE):
                await channel.plugin.send(channel.config, message, self._http)
        except DeliveryError as exc:
            if exc.permanent:
                return _Outcome("failed", _error_text(exc))
            return self._transient(row, _error_text(exc), exc.retry_after)
        except TimeoutError:
            return self._transient(row, f"{channel.type}: no answer within {timeout}", None)
        finally:
            NOTIFICATION_ATTEMPT.labels(channel.type).observe(time.perf_counter() - started)
        return _Outcome("delivered")

    def _transient(self, row: Claimed, error: str, retry_after: float | None) -> _Outcome:
        policy = self._settings.retry
        now = self._clock()
        deadline = row.created_at + policy.give_up_after
        if now >= deadline:
            return _Outcome("failed", f"gave up after trying for {policy.give_up_after}: {error}")
        wait = (
            retry_after if retry_after is not None else backoff(policy, row.attempts + 1, self._rng)
        )
        return _Outcome("retried", error, min(now + timedelta(seconds=wait), deadline))

    # -- recording (in a worker thread) ------------------------------------------------------

    def _record(self, row: Claimed, outcome: _Outcome) -> None:
        now = self._clock()
        with self._sessions() as db:
            if outcome.result in ("delivered", "skipped"):
                outbox.mark_delivered(db, row, now=now, note=outcome.error)
                if outcome.result == "delivered" and row.channel in self._failing:
                    resolve_internal(db, FAILED_ALERT, _alert_labels(row.channel), now)
                    self._failing.discard(row.channel)
            elif outcome.result == "deferred":
                assert outcome.when is not None
                outbox.defer(db, row, when=outcome.when)
            elif outcome.result == "retried":
                assert outcome.when is not None
                if outbox.retry_later(db, row, when=outcome.when, error=outcome.error):
                    if row.attempts + 1 >= self._settings.retry.fallback_after:
                        self._escalate(db, row, now)
            elif outbox.mark_failed(
                db, row, error=outcome.error or "failed", attempted=outcome.attempted
            ):
                self._escalate(db, row, now)
            db.commit()

    def _escalate(self, db: Session, row: Claimed, now: datetime) -> None:
        """When ``row``'s batch cannot reach anyone, send its copy to the fallback channel
        (once) and fire NotificationDeliveryFailed for its channels."""
        if row.payload.get("test"):
            return
        settings = self._settings
        channels = outbox.batch_exhausted(
            db, row.batch, fallback_after=settings.retry.fallback_after
        )
        if channels is None:
            return
        fallback = settings.fallback
        if fallback and fallback not in channels and not row.fallback:
            payload = dict(row.payload)
            payload["extra"] = {**(payload.get("extra") or {}), "fallback_for": channels}
            if outbox.enqueue(
                db,
                key=outbox.fallback_key(row.batch),
                batch=row.batch,
                channel=fallback,
                group_key=row.group_key,
                payload=payload,
                fallback=True,
                now=now,
            ):
                log.warning(
                    "notifications: no channel of batch %s could deliver (%s); using the "
                    "fallback channel %s",
                    row.batch,
                    ", ".join(channels),
                    fallback,
                )
                self.wake()
        failed = [row.channel] if row.fallback else channels
        for name in failed:
            raise_internal(
                db,
                FAILED_ALERT,
                _alert_labels(name),
                {"summary": f'Notifications to channel "{name}" cannot be delivered.'},
                now,
            )
            self._failing.add(name)


def _alert_labels(channel: str) -> dict[str, str]:
    return {"channel": channel, "severity": "critical"}


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": "Watchkeeper"},
    )


def _parse(name: str, spec: dict[str, Any]) -> _Channel:
    channel = _Channel(name, spec)
    kind = spec.get("type")
    plugin = channel_registry.get(str(kind))
    if plugin is None:
        channel.problem = f'channel type "{kind}" is not available'
        return channel
    channel.plugin = plugin
    try:
        channel.config = plugin.config_model.model_validate(spec)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        channel.problem = f"the stored configuration of channel {name} is invalid: {where}"
    return channel
