"""Run every check on its interval, record results in batches, publish state changes.

Each check keeps a fixed cadence (its next run is its last *due* time plus its interval, so
there is no drift); each run is its own task under a concurrency limit and a hard timeout,
so a slow or hanging target never delays the others. A check whose previous run has not
finished skips a turn rather than piling up. Results are written in one transaction per
``flush_interval``; state lives in the store, so a restart resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.checks.events import EventBus, StateChange
from watchkeeper.checks.history import Result, load_states, write_batch
from watchkeeper.checks.interface import CheckConfig, CheckType, Outcome, UsesStore
from watchkeeper.checks.interface import registry as check_registry
from watchkeeper.checks.state import CheckState, advance
from watchkeeper.store.kind_version import KindVersion, kind_version
from watchkeeper.store.tables import StoredObject, utcnow
from watchkeeper.telemetry import (
    CHECK_DURATION,
    CHECK_LAG,
    CHECK_RUNS,
    CHECKS_BY_STATUS,
    STORE_ERRORS,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    """A scheduled check. Its validated configuration is not kept (≈3 KB a check, 30 MB for
    ten thousand): the stored spec is, as compact JSON, and validated again for each run
    (≈20 µs); what scheduling and judging need is kept beside it."""

    spec: bytes  # the stored spec, compact JSON; a changed spec is validated again
    plugin: CheckType
    interval: timedelta
    timeout: timedelta
    retries: int
    recover_after: int
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def config(self) -> CheckConfig:
        """The check's configuration, validated from the stored spec (validated already when
        the spec was read, so it does not fail)."""
        return self.plugin.config_model.model_validate(json.loads(self.spec))


def _compact(spec: dict[str, Any]) -> bytes:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str).encode()


def _start(entry: _Entry, run: Coroutine[Any, Any, None], name: str) -> None:
    """Run ``run`` as ``entry``'s task, which is let go once done: ten thousand finished
    tasks (each with its coroutine and context) would otherwise stay until the next run."""
    task = asyncio.create_task(run, name=f"check:{name}")
    entry.task = task

    def release(done: asyncio.Task[None]) -> None:
        if entry.task is done:
            entry.task = None

    task.add_done_callback(release)


class CheckRunner:
    """Schedules and runs the checks stored in the plan's ``checks`` collection."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        bus: EventBus | None = None,
        concurrency: int = 500,
        flush_interval: float = 1.0,
        reload_interval: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.bus = bus or EventBus()
        self._limit = asyncio.Semaphore(concurrency)
        self._flush_interval = flush_interval
        self._reload_interval = reload_interval
        self._clock = clock
        self._checks: dict[str, _Entry] = {}
        self._bound: set[int] = set()  # ids of the UsesStore plugins bound to this runner
        self._states: dict[str, CheckState] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._pending: list[Result] = []
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._flush_soon = False
        self._version: KindVersion | None = None  # of the stored checks last read

    # -- configuration -----------------------------------------------------------------------

    def _read_specs(self) -> tuple[dict[str, dict[str, Any]] | None, dict[str, CheckState]]:
        """The stored specs by name, or None when they have not changed since the last read;
        and the stored states on the first read."""
        with self._sessions() as db:
            version = kind_version(db, "checks")
            specs: dict[str, dict[str, Any]] | None = None
            if version != self._version:
                specs = dict(
                    db.execute(
                        select(StoredObject.name, StoredObject.spec).where(
                            StoredObject.kind == "checks"
                        )
                    ).all()
                )
                self._version = version
            states = load_states(db) if not self._states else {}
        return specs, states

    async def reload(self) -> None:
        """Pick up added, changed and removed checks from the store."""
        specs, states = await asyncio.to_thread(self._read_specs)
        for name, state in states.items():
            self._states.setdefault(name, state)
        if specs is None:
            return
        now = time.monotonic()
        for name in set(self._checks) - set(specs):
            del self._checks[name]  # its heap entry is dropped when it comes up
        for name, spec in specs.items():
            old = self._checks.get(name)
            compact = _compact(spec)
            if old is not None and old.spec == compact:
                continue
            plugin = check_registry.get(str(spec.get("type")))
            if plugin is None:
                log.error(
                    "check %s: type %r is not available; not running it", name, spec.get("type")
                )
                continue
            if isinstance(plugin, UsesStore) and id(plugin) not in self._bound:
                plugin.bind(self._sessions, self._clock)
                self._bound.add(id(plugin))
            try:
                config = plugin.config_model.model_validate(spec)
            except ValidationError as exc:
                log.error("check %s: stored configuration is invalid: %s", name, exc)
                continue
            self._checks[name] = _Entry(
                compact,
                plugin,
                config.interval,
                config.timeout,
                config.retries,
                config.recover_after,
                old.task if old else None,
            )
            if old is None or old.interval != config.interval:
                # Spread first runs over the interval so that a thousand new checks do not
                # all fire in the same instant.
                offset = (hash(name) % 1000) / 1000 * min(config.interval.total_seconds(), 10)
                heapq.heappush(self._heap, (now + offset, next(self._seq), name))
        self._wakeup.set()

    # -- running -----------------------------------------------------------------------------

    async def _run_one(self, name: str, entry: _Entry, due: float) -> None:
        async with self._limit:
            CHECK_LAG.observe(max(0.0, time.monotonic() - due))
            at = self._clock()
            start = time.perf_counter()
            timeout = entry.timeout.total_seconds()
            try:
                async with asyncio.timeout(timeout):
                    outcome = await entry.plugin.run(entry.config())
            except TimeoutError:
                outcome = Outcome(False, f"timed out after {entry.timeout}")
            except Exception as exc:  # a plugin bug must not stop the runner
                log.exception("check %s: %s crashed", name, entry.plugin.name)
                outcome = Outcome(False, f"check failed to run: {type(exc).__name__}: {exc}")
            CHECK_DURATION.labels(entry.plugin.name).observe(time.perf_counter() - start)
            CHECK_RUNS.labels(entry.plugin.name, "ok" if outcome.ok else "fail").inc()
            self._pending.append(
                Result(
                    name,
                    at,
                    outcome.ok,
                    outcome.response_ms,
                    outcome.message,
                    outcome.cert_expires_at,
                )
            )
            status = self._states.get(name, CheckState()).status
            if outcome.ok != (status == "up"):
                # This result may change the check's state: record it now rather than at
                # the next flush, so that alerts fire within a second.
                self._flush_soon = True
                self._wakeup.set()

    def run_now(self, name: str) -> bool:
        """Start a run of ``name`` now, outside its cadence (e.g. a heartbeat just pinged);
        return False when the check is unknown or its previous run has not finished.

        Call it from the runner's event loop. The next scheduled run is not moved.
        """
        entry = self._checks.get(name)
        if entry is None or (entry.task is not None and not entry.task.done()):
            return False
        _start(entry, self._run_one(name, entry, time.monotonic()), name)
        return True

    def _dispatch_due(self) -> float:
        """Start every check that is due; return seconds until the next one is."""
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            due, _, name = heapq.heappop(self._heap)
            entry = self._checks.get(name)
            if entry is None:
                continue
            interval = entry.interval.total_seconds()
            next_due = due + interval
            if next_due <= now:  # fell behind (e.g. the process was suspended)
                next_due = now + interval
            heapq.heappush(self._heap, (next_due, next(self._seq), name))
            if entry.task is not None and not entry.task.done():
                CHECK_RUNS.labels(entry.plugin.name, "skipped").inc()
                continue
            _start(entry, self._run_one(name, entry, due), name)
        return max(0.0, self._heap[0][0] - now) if self._heap else 1.0

    # -- recording ---------------------------------------------------------------------------

    def _record(self, batch: list[Result]) -> list[StateChange]:
        changes = []
        for r in sorted(batch, key=lambda r: r.at):
            entry = self._checks.get(r.name)
            before = self._states.get(r.name, CheckState())
            after = advance(
                before,
                r.ok,
                r.at,
                retries=entry.retries if entry else 0,
                recover_after=entry.recover_after if entry else 1,
            )
            self._states[r.name] = after
            if after.status != before.status:
                changes.append((r.name, before.status, after.status, r.at, r.message))
        with self._sessions() as db:
            events = write_batch(db, batch, self._states, changes)
            db.commit()
            return [
                StateChange(e.id, e.name, e.at, e.from_status, e.to_status, e.message)
                for e in events
            ]

    async def flush(self) -> None:
        """Write the results gathered so far and publish the state changes they caused."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            changes = await asyncio.to_thread(self._record, batch)
        except SQLAlchemyError as exc:
            STORE_ERRORS.labels("check_results").inc()
            log.error("cannot store %d check results: %s; retrying", len(batch), type(exc).__name__)
            self._pending = batch + self._pending  # keep them for the next flush
            return
        for change in changes:
            log.info(
                "check %s is %s (was %s): %s",
                change.check,
                change.to_status,
                change.from_status,
                change.message,
            )
            self.bus.publish(change)
        counts: dict[str, int] = {"up": 0, "down": 0, "pending": 0}
        for name in self._checks:
            counts[self._states.get(name, CheckState()).status] += 1
        for status, count in counts.items():
            CHECKS_BY_STATUS.labels(status).set(count)

    async def run(self) -> None:
        """Run until :meth:`stop`."""
        await self.reload()
        last_reload = last_flush = time.monotonic()
        while not self._stopping.is_set():
            self._wakeup.clear()  # before the work: a wake-up during it is not lost
            wait = self._dispatch_due()
            now = time.monotonic()
            if self._flush_soon or now - last_flush >= self._flush_interval:
                self._flush_soon = False
                await self.flush()
                last_flush = now
            if now - last_reload >= self._reload_interval:
                try:
                    await self.reload()
                except SQLAlchemyError as exc:
                    STORE_ERRORS.labels("check_reload").inc()
                    log.error("cannot read checks from the store: %s", type(exc).__name__)
                last_reload = now
            try:
                await asyncio.wait_for(self._wakeup.wait(), min(wait, self._flush_interval, 0.5))
            except TimeoutError:
                pass

    async def stop(self, grace: float = 5.0) -> None:
        """Stop starting runs, let running ones finish (up to ``grace``), store results."""
        self._stopping.set()
        self._wakeup.set()
        running = [e.task for e in self._checks.values() if e.task and not e.task.done()]
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
        await self.flush()
        for plugin in {id(e.plugin): e.plugin for e in self._checks.values()}.values():
            close = getattr(plugin, "aclose", None)
            if close is not None:
                await close()

    def states(self) -> dict[str, CheckState]:
        return dict(self._states)
