"""Scrape the targets of the plan's ``metrics.scrape`` jobs, each on its own fixed cadence.

Every target has its own task: a slow or hanging target (bounded by its timeout) never
delays another. A target scrapes at a fixed phase within its interval, derived from a hash
of job and address (so a thousand targets do not all fire in the same instant, and the
phase survives restarts); a scrape that overruns skips the missed turns instead of piling
up. The configuration is read from the store (the ``metrics`` settings object the plan
writes) and re-read every few seconds; targets that are removed or changed get staleness
markers for all their series, as Prometheus does on a reload. Stopping the service writes
no markers: a restart picks up where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.metrics.config import MetricsSection
from watchkeeper.metrics.scrape_target import JobClient, SampleStore, Target
from watchkeeper.plan.objects import SETTINGS_KIND
from watchkeeper.plan.types import format_duration
from watchkeeper.store.tables import StoredObject
from watchkeeper.telemetry import STORE_ERRORS

log = logging.getLogger(__name__)

TargetKey = tuple[str, str]  # (job, address)


def phase(job: str, address: str, interval: float) -> float:
    """Return the target's fixed offset within its interval, in seconds."""
    digest = hashlib.blake2b(f"{job}\0{address}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % max(1, int(interval * 1000)) / 1000


class _Loop:
    """Scrape one target every interval until told to finish."""

    def __init__(self, target: Target, spec: dict[str, Any]) -> None:
        self.target = target
        self.spec = spec  # the job's configuration, to notice changes
        self._finish = asyncio.Event()
        self.task = asyncio.create_task(
            self._run(), name=f"scrape:{target.job.job}:{target.address}"
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.target.job.interval.total_seconds()
        offset = phase(self.target.job.job, self.target.address, interval)
        due = loop.time() + (offset - time.time()) % interval
        while True:
            try:
                await asyncio.wait_for(self._finish.wait(), max(0.0, due - loop.time()))
                return
            except TimeoutError:
                pass
            try:
                await self.target.scrape()
            except Exception:  # a bug in one target must not stop its loop for good
                log.exception("scrape %s %s crashed", self.target.job.job, self.target.url)
            due += interval
            now = loop.time()
            if due <= now:  # the scrape overran: skip the turns it missed
                due += (now - due) // interval * interval + interval

    async def finish(self, grace: float) -> None:
        """Let the running scrape end (cancel it after ``grace`` seconds), then stop."""
        self._finish.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace)
        except TimeoutError:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class Scraper:
    """The scrape service of ``watchkeeper up``: runs until :meth:`stop`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: SampleStore,
        *,
        reload_interval: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._reload_interval = reload_interval
        self._spec: dict[str, Any] | None = None
        self._loops: dict[TargetKey, _Loop] = {}
        self._clients: dict[str, JobClient] = {}
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()  # one reload at a time, and none once stopping

    def _read_spec(self) -> dict[str, Any]:
        with self._sessions() as db:
            spec = db.scalar(
                select(StoredObject.spec).where(
                    StoredObject.kind == SETTINGS_KIND, StoredObject.name == "metrics"
                )
            )
        return dict(spec or {})

    async def reload(self) -> None:
        """Start, restart and end target loops to match the stored configuration."""
        spec = await asyncio.to_thread(self._read_spec)
        async with self._lock:
            if spec != self._spec and not self._stopping.is_set():
                await self._apply(spec)

    async def _apply(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        try:
            section = MetricsSection.model_validate(spec)
        except ValidationError as exc:
            log.error("metrics: stored configuration is invalid, targets unchanged: %s", exc)
            return
        jobs = {job.job: job for job in section.scrape}
        specs = {name: job.model_dump(mode="json") for name, job in jobs.items()}
        wanted = {(job.job, address) for job in section.scrape for address in job.targets}
        gone = [
            key
            for key, loop in self._loops.items()
            if key not in wanted or loop.spec != specs[key[0]]
        ]
        await asyncio.gather(*(self._end(key) for key in gone))
        for name, old in list(self._clients.items()):
            if name not in jobs or old.job != jobs[name]:
                await old.aclose()
                del self._clients[name]
        for job_name, address in sorted(wanted - set(self._loops)):
            job = jobs[job_name]
            client = self._clients.get(job_name)
            if client is None:
                client = self._clients[job_name] = JobClient(job)
            target = Target(job, address, client, self._store)
            self._loops[(job_name, address)] = _Loop(target, specs[job_name])
            log.info("scraping %s every %s", target.url, format_duration(job.interval))

    async def _end(self, key: TargetKey) -> None:
        loop = self._loops.pop(key)
        await loop.finish(grace=loop.target.job.timeout.total_seconds() + 5)
        await asyncio.to_thread(loop.target.end, time.time_ns() // 1_000_000)
        log.info("stopped scraping %s", loop.target.url)

    async def run(self) -> None:
        """Follow the stored configuration until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                await self.reload()
            except SQLAlchemyError as exc:
                STORE_ERRORS.labels("scrape_reload").inc()
                log.error("cannot read the metrics configuration: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._reload_interval)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop every target loop (running scrapes get ``grace`` seconds) and close clients."""
        self._stopping.set()
        async with self._lock:
            loops, self._loops = list(self._loops.values()), {}
            await asyncio.gather(*(loop.finish(grace) for loop in loops))
            for client in self._clients.values():
                await client.aclose()
            self._clients.clear()
