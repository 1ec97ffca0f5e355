"""The scheduler decides *when* jobs run; jobs are async functions registered by name.

Every due run is claimed in the store with a conditional UPDATE (``... WHERE next_run_at =
:seen``), so several replicas may run a scheduler and each run happens once. Each run is its
own task under a concurrency limit: a slow job never holds up the loop or other jobs. A job
still running when it is due again skips that turn; a failing job backs off exponentially
instead of crash-looping. ``stop()`` waits for running jobs, then cancels what is left.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.logging_setup import redact
from watchkeeper.runtime.schedules import Schedule
from watchkeeper.store.tables import ScheduledJob, utcnow
from watchkeeper.telemetry import JOB_DURATION, JOB_RUNS, JOBS_RUNNING, SCHEDULER_LAG, STORE_ERRORS

log = logging.getLogger(__name__)
JobFunc = Callable[[], Awaitable[None]]
MAX_BACKOFF = timedelta(minutes=30)


@dataclass
class Job:
    name: str
    func: JobFunc
    schedule: Schedule
    jitter: timedelta = timedelta(0)
    timeout: timedelta | None = None
    failures: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def next_run(self, after: datetime) -> datetime:
        nxt = self.schedule.next_after(after)
        if self.jitter:
            nxt += timedelta(seconds=random.uniform(0, self.jitter.total_seconds()))
        return nxt


class Scheduler:
    """Run registered jobs on their schedules until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        max_concurrency: int = 8,
        tick: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._jobs: dict[str, Job] = {}
        self._limit = asyncio.Semaphore(max_concurrency)
        self._tick = tick
        self._clock = clock
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    @property
    def jobs(self) -> dict[str, Job]:
        return dict(self._jobs)

    def register(
        self,
        name: str,
        func: JobFunc,
        schedule: Schedule,
        *,
        jitter: timedelta = timedelta(0),
        timeout: timedelta | None = None,
    ) -> None:
        """Add a job; raise ValueError if ``name`` is taken."""
        if name in self._jobs:
            raise ValueError(f"job {name!r} is already registered")
        self._jobs[name] = Job(name, func, schedule, jitter, timeout)

    # -- store access (runs in a worker thread) ---------------------------------------------

    def _seed(self, now: datetime) -> None:
        with self._sessions() as db:
            known = set(db.scalars(select(ScheduledJob.name)))
            for job in self._jobs.values():
                if job.name in known:
                    continue
                try:
                    with db.begin_nested():
                        db.add(ScheduledJob(name=job.name, next_run_at=job.next_run(now)))
                except IntegrityError:  # another replica seeded this one first
                    pass
            db.commit()

    def _claim_due(self, now: datetime) -> list[tuple[Job, datetime]]:
        claimed: list[tuple[Job, datetime]] = []
        with self._sessions() as db:
            due = db.execute(
                select(ScheduledJob.name, ScheduledJob.next_run_at).where(
                    ScheduledJob.next_run_at <= now, ScheduledJob.name.in_(list(self._jobs))
                )
            ).all()
            for name, seen in due:
                job = self._jobs[name]
                busy = job.task is not None and not job.task.done()
                result = db.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.name == name, ScheduledJob.next_run_at == seen)
                    .values(
                        next_run_at=job.next_run(now),
                        **({} if busy else {"last_started_at": now, "last_status": "running"}),
                    )
                )
                if result.rowcount == 1 and not busy:  # type: ignore[attr-defined]
                    claimed.append((job, seen))
                elif busy:
                    log.warning("job %s is still running; skipping this turn", name)
                    JOB_RUNS.labels(name, "skipped").inc()
            db.commit()
        return claimed

    def _record(
        self, job: Job, status: str, error: str, started: datetime, duration: float
    ) -> None:
        values: dict[str, object] = {
            "last_finished_at": self._clock(),
            "last_status": status,
            "last_error": error[:2000],
            "last_duration_ms": int(duration * 1000),
            "run_count": ScheduledJob.run_count + 1,
        }
        with self._sessions() as db:
            if status != "ok":
                backoff = min(timedelta(seconds=2 ** min(job.failures, 20)), MAX_BACKOFF)
                row = db.get(ScheduledJob, job.name)
                if row is not None and row.next_run_at < self._clock() + backoff:
                    values["next_run_at"] = self._clock() + backoff
            db.execute(update(ScheduledJob).where(ScheduledJob.name == job.name).values(values))
            db.commit()

    # -- running ------------------------------------------------------------------------------

    async def _execute(self, job: Job, due: datetime) -> None:
        async with self._limit:
            started = self._clock()
            SCHEDULER_LAG.observe(max(0.0, (started - due).total_seconds()))
            t0 = time.monotonic()
            status, error = "ok", ""
            JOBS_RUNNING.inc()
            deadline = asyncio.timeout(job.timeout.total_seconds() if job.timeout else None)
            try:
                async with deadline:
                    await job.func()
                job.failures = 0
            except TimeoutError as exc:
                if deadline.expired():
                    status, error = "timeout", f"did not finish within {job.timeout}"
                else:  # the job's own timeout (a socket, a lock): report it as its error
                    status, error = "error", redact(f"TimeoutError: {exc}")
            except asyncio.CancelledError:
                status, error = "cancelled", "stopped by shutdown"
                raise
            except Exception as exc:  # a job's failure must never stop the scheduler
                status, error = "error", redact(f"{type(exc).__name__}: {exc}")
            finally:
                JOBS_RUNNING.dec()
                duration = time.monotonic() - t0
                if status != "ok":
                    job.failures += 1
                    log.error("job %s %s: %s", job.name, status, error)
                JOB_RUNS.labels(job.name, status).inc()
                JOB_DURATION.labels(job.name).observe(duration)
                try:
                    await asyncio.to_thread(self._record, job, status, error, started, duration)
                except SQLAlchemyError as exc:
                    STORE_ERRORS.labels("scheduler_record").inc()
                    log.error("could not record run of %s: %s", job.name, exc)

    def _spawn(self, job: Job, due: datetime) -> None:
        task = asyncio.create_task(self._execute(job, due), name=f"job:{job.name}")
        job.task = task
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def run_once(self) -> int:
        """Claim and run every job due now, wait for them; return how many ran."""
        now = self._clock()
        await asyncio.to_thread(self._seed, now)
        claimed = await asyncio.to_thread(self._claim_due, now)
        for job, due in claimed:
            self._spawn(job, due)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        return len(claimed)

    async def run(self) -> None:
        """Loop until :meth:`stop`; store outages are logged and retried, never fatal."""
        seeded = False
        while not self._stopping.is_set():
            try:
                if not seeded:
                    await asyncio.to_thread(self._seed, self._clock())
                    seeded = True
                for job, due in await asyncio.to_thread(self._claim_due, self._clock()):
                    self._spawn(job, due)
            except SQLAlchemyError as exc:
                STORE_ERRORS.labels("scheduler_claim").inc()
                log.error("scheduler cannot reach the store: %s", type(exc).__name__)
            except Exception:  # the loop must not die: log, and try again next tick
                log.exception("scheduler iteration failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), self._tick)
            except TimeoutError:
                pass

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; wait up to ``grace`` seconds for running jobs, then cancel them."""
        self._stopping.set()
        if not self._running:
            return
        _, pending = await asyncio.wait(set(self._running), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
