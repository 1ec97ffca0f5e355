"""The vulnerability-database service: one per cluster (the ``osv`` leadership). Every few
seconds it reads the plan's ``security.sources`` and

- imports each source whose cron ``schedule`` fired since it was last imported on
  schedule (decided from the ``osv_imports`` rows, like the backups and database
  schedulers: a replica that takes over imports what was missed once, no more; a source
  new to the plan waits for its first scheduled time);
- imports the sources queued through the API (``queued`` rows, claimed with an atomic
  conditional update, so that exactly one replica runs each);
- runs one import at a time, in a worker thread, bounded by the source's ``timeout``;
- after an import that changed the database, runs the scan
  (:func:`watchkeeper.security.scan.scan`) and refreshes the patch plan, so that findings
  and patches follow the new records;
- closes imports left ``running`` by a process that stopped, prunes import rows older
  than ``security.history``, and keeps the ``watchkeeper_osv_*`` gauges current.

While the stored section does not validate, it does nothing (and says so once).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from watchkeeper.plan.types import last_fire
from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.security.config import SecuritySection, VulnerabilitySource
from watchkeeper.security.osv import imports
from watchkeeper.security.osv.importer import ImportResult, SourceSpec, run_import
from watchkeeper.security.scan import run_scan
from watchkeeper.security.section import SectionUnreadable, load_section
from watchkeeper.store.tables import OsvAffected, OsvImport, utcnow
from watchkeeper.telemetry import OSV_IMPORT_AGE, OSV_RECORDS

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)


def due_sources(
    section: SecuritySection,
    last_scheduled: dict[str, datetime],
    now: datetime,
    since: datetime,
) -> list[VulnerabilitySource]:
    """The sources whose schedule fired after they were last imported on schedule (or,
    never imported on schedule, after ``since``)."""
    return [
        source
        for source in section.sources
        if last_fire(source.schedule, now) > last_scheduled.get(source.name, since)
    ]


@dataclass
class _Snapshot:
    section: SecuritySection
    last_scheduled: dict[str, datetime]
    queued: list[imports.Queued]
    live: set[str]  # sources with a live running import (of any process)


class OsvService(PeriodicService):
    """Imports the plan's vulnerability sources (see the module's docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        tick: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._transport = transport
        self._since = clock()
        self._loop = Periodic(
            "osv",
            self.run_once,
            tick,
            log=log,
            # nothing is imported until the plan is re-applied
            lasting=(SectionUnreadable,),
            lasting_message="osv: no import: %s",
        )
        self._running: asyncio.Task[None] | None = None
        self._stop_imports = threading.Event()  # ends an import's thread early
        # When each source was last started on schedule here: an import that fails before
        # its row exists waits for the next scheduled time, not the next pass.
        self._attempted: dict[str, datetime] = {}
        self._pruned_at: datetime | None = None
        self._counted = False
        self.finished: list[ImportResult] = []
        """The imports this service ran, oldest first (the last hundred)."""

    async def run(self) -> None:
        await self._loop.run()
        if self._running is not None:  # told to stop: it ends at its next batch, as failed
            await asyncio.gather(self._running, return_exceptions=True)

    async def stop(self) -> None:
        self._stop_imports.set()
        self._loop.stop()

    async def wait_idle(self) -> None:
        """Wait for the import started so far to end (tests)."""
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)

    async def run_once(self) -> str | None:
        """One pass (see the module docstring); return the source whose import it started."""
        snap = await asyncio.to_thread(self._read)
        now = self._clock()
        started = None
        if self._running is None:
            started = await self._start_queued(snap, now)
        if self._running is None:
            last = dict(snap.last_scheduled)
            for name, at in self._attempted.items():
                last[name] = max(at, last.get(name, at))
            for source in due_sources(snap.section, last, now, self._since):
                if source.name in snap.live:
                    continue  # running in another process (`watchkeeper security import`)
                self._attempted[source.name] = now
                self._start(SourceSpec.of(source), "schedule", None)
                started = source.name
                break
        await asyncio.to_thread(self._housekeeping, snap.section, now)
        return started

    async def _start_queued(self, snap: _Snapshot, now: datetime) -> str | None:
        sources = {s.name: s for s in snap.section.sources}
        for waiting in snap.queued:
            source = sources.get(waiting.source)
            if source is None or waiting.source in snap.live:
                continue  # closed by housekeeping / waits for the running one
            if await asyncio.to_thread(self._claim, waiting.id, now):
                self._start(SourceSpec.of(source), waiting.trigger, waiting.id, waiting.forced)
                return waiting.source
        return None

    def _start(
        self, spec: SourceSpec, trigger: str, import_id: int | None, force: bool = False
    ) -> None:
        self._running = asyncio.create_task(
            self._import(spec, trigger, import_id, force), name=f"osv:import:{spec.name}"
        )

    async def _import(
        self, spec: SourceSpec, trigger: str, import_id: int | None, force: bool
    ) -> None:
        try:
            result = await asyncio.to_thread(
                run_import,
                self._sessions,
                spec,
                trigger=trigger,
                import_id=import_id,
                force=force,
                clock=self._clock,
                transport=self._transport,
                stop=self._stop_imports,
            )
            self.finished = [*self.finished[-99:], result]
            if result.changed:
                await asyncio.to_thread(self._after_change)
        except imports.ImportInProgress as exc:
            log.info("osv: %s waits: %s", spec.name, exc)
        except Exception:  # recorded rows say what failed; this is a bug or a store error
            log.exception("osv: import of %s failed", spec.name)
        finally:
            self._running = None
            self._loop.wake()

    def _after_change(self) -> None:
        now = self._clock()
        with self._sessions() as db:
            run_scan(db, now)
        self._count_records()

    # -- the store -----------------------------------------------------------------------------

    def _read(self) -> _Snapshot:
        now = self._clock()
        with self._sessions() as db:
            section = load_section(db)
            rows = db.execute(
                select(OsvImport.source, func.max(OsvImport.started_at))
                .where(OsvImport.trigger == "schedule")
                .group_by(OsvImport.source)
            ).all()
            timeouts = {s.name: s.timeout for s in section.sources}
            closed = imports.close_stale(db, timeouts, now)
            db.commit()
            live = imports.running_sources(db, timeouts, now)
            queued = imports.queued(db)
        if closed:
            log.info("osv: closed %d import(s) left unfinished", closed)
        return _Snapshot(section, {s: at for s, at in rows if at is not None}, queued, live)

    def _claim(self, import_id: int, now: datetime) -> bool:
        with self._sessions() as db:
            return imports.claim(db, import_id, now)

    def _housekeeping(self, section: SecuritySection, now: datetime) -> None:
        with self._sessions() as db:
            last = imports.last_imports(db)
        for source in section.sources:
            found = last.get(source.name)
            good = found.good if found is not None else None
            if good is not None and good.finished_at is not None:
                OSV_IMPORT_AGE.labels(source.name).set((now - good.finished_at).total_seconds())
        if not self._counted:
            self._count_records()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            with self._sessions() as db:
                removed = prune(db, now - section.history)
                db.commit()
            self._pruned_at = now
            if removed:
                log.info("osv: pruned %d import row(s) past history", removed)

    def _count_records(self) -> None:
        with self._sessions() as db:
            counts = db.execute(
                select(
                    OsvAffected.ecosystem, func.count(func.distinct(OsvAffected.vuln_id))
                ).group_by(OsvAffected.ecosystem)
            ).all()
        OSV_RECORDS.clear()
        for ecosystem, count in counts:
            OSV_RECORDS.labels(ecosystem).set(count)
        self._counted = True


def prune(db: Session, before: datetime) -> int:
    """Delete finished imports started before ``before``, keeping each source's newest and
    newest good one (they hold the fingerprint and the import date); return how many.
    Caller commits."""
    keep = {
        row.id
        for last in imports.last_imports(db).values()
        for row in (last.latest, last.good)
        if row is not None
    }
    query = delete(OsvImport).where(
        OsvImport.started_at < before,
        OsvImport.status.not_in((imports.RUNNING, imports.QUEUED)),
    )
    if keep:
        query = query.where(OsvImport.id.not_in(keep))
    return int(db.execute(query).rowcount or 0)  # type: ignore[attr-defined]
