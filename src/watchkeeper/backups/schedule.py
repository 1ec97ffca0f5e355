"""The backups scheduler: one per cluster (the ``backups`` leadership). Every few seconds it
reads the plan's ``backups`` section and starts each policy's backup, copy, retention
pass, integrity check and restore drill when their cron schedule has fired since that kind
last ran (copies without a schedule: when a backup succeeded since the last copy), unless
a run of the same kind is live in another process (:mod:`watchkeeper.backups.claims`),
then refreshes the backup metrics and alerts (:mod:`watchkeeper.backups.health`).

When a run is due is decided from the ``backup_runs`` rows, not from memory: a replica
that takes over (or this one after a restart) runs what was missed once, and no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.backups import claims, drills, health, restore
from watchkeeper.backups.claims import RunInProgress
from watchkeeper.backups.config import BackupsSection, Policy
from watchkeeper.backups.engine import Engine
from watchkeeper.backups.lookup import access, find_policy
from watchkeeper.backups.runner import BackupRunner
from watchkeeper.backups.views import load_section
from watchkeeper.plan.types import last_fire
from watchkeeper.settings import Settings
from watchkeeper.store.tables import BackupRun, utcnow

log = logging.getLogger(__name__)

KINDS = ("backup", "copy", "forget", "check", "drill")
BACKED_UP = "backup:succeeded"
"""Key of ``last_runs``: when the latest good backup into a policy's first repository
finished (copies without a schedule of their own follow it)."""


def schedule_of(policy: Policy, kind: str) -> str | None:
    """The cron expression of ``kind`` for ``policy`` (None when that part is off)."""
    if kind == "backup":
        return policy.schedule
    if kind == "forget":
        return policy.retention.schedule if policy.retention else None
    if kind == "check":
        return policy.check.schedule if policy.check else None
    if kind == "copy":
        return policy.copy_.schedule if policy.copy_ else None
    return policy.drill.schedule if policy.drill else None


def due(
    section: BackupsSection,
    last_runs: dict[tuple[str, str], datetime],
    now: datetime,
    since: datetime,
) -> list[tuple[str, str]]:
    """The ``(policy, kind)`` pairs whose schedule fired after they last ran (or, never
    run, after ``since``: a new policy waits for its first scheduled time). Copies without
    a schedule are due when a good backup into the first repository finished after the
    last copy started (``last_runs[(policy, BACKED_UP)]``)."""
    found = []
    for policy in section.policies:
        for kind in KINDS:
            if kind == "copy" and policy.copy_ is not None and policy.copy_.schedule is None:
                backed_up = last_runs.get((policy.name, BACKED_UP))
                copied = last_runs.get((policy.name, "copy"))
                if backed_up is not None and (copied is None or backed_up > copied):
                    found.append((policy.name, kind))
                continue
            expression = schedule_of(policy, kind)
            if expression is None:
                continue
            baseline = last_runs.get((policy.name, kind), since)
            if last_fire(expression, now) > baseline:
                found.append((policy.name, kind))
    return found


class BackupScheduler:
    """Runs the backups part of the plan on schedule (see the module's docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        engine: Engine,
        *,
        settings: Settings | None = None,
        tick: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._settings = settings
        self._tick = tick
        self._clock = clock
        self._since = clock()
        self.runner = BackupRunner(sessions, engine, settings=settings, clock=clock)
        self._restorer = restore.Restorer(engine, sessions=sessions, settings=settings)
        self._stopping = asyncio.Event()
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        # When each (policy, kind) was last started here: a job that fails before it records
        # a row must wait for its next scheduled time, not start again every pass.
        self._attempted: dict[tuple[str, str], datetime] = {}

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except SQLAlchemyError as exc:  # the store is away: try again next pass
                log.error("backups: store error %s; retrying", type(exc).__name__)
            except Exception:  # a bug must not stop the backups
                log.exception("backups scheduler pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._tick)
        await self._cancel_all()

    async def stop(self) -> None:
        self._stopping.set()

    async def run_once(self) -> list[tuple[str, str]]:
        """One pass: start what is due, refresh metrics and alerts; return what started."""
        section, last_runs, live = await asyncio.to_thread(self._read)
        for key, at in self._attempted.items():
            last_runs[key] = max(at, last_runs.get(key, at))
        self.runner.set_max_parallel(section.max_parallel)
        now = self._clock()
        started = []
        for key in due(section, last_runs, now, self._since):
            if key in self._running or key in live:
                continue  # running here, or in another process (a `watchkeeper backup` CLI)
            self._attempted[key] = now
            self._running[key] = asyncio.create_task(
                self._guard(key, self._job(section, *key)), name=f"backups:{key[0]}:{key[1]}"
            )
            started.append(key)
        await self._start_restores(section)
        await asyncio.to_thread(self._health, section)
        return started

    async def _start_restores(self, section: BackupsSection) -> None:
        """Start the restores the API queued (each claimed once, by one scheduler)."""
        if self._settings is None:
            return  # restores need the home directory (files restores go under it)
        for row in await asyncio.to_thread(restore.claim_queued, self._sessions):
            key = (row.policy, f"restore:{row.id}")
            job = restore.run_request(self._restorer, section, row, self._settings.home)
            self._running[key] = asyncio.create_task(
                self._guard(key, job), name=f"backups:{row.policy}:restore:{row.id}"
            )

    async def wait_idle(self) -> None:
        """Wait for the runs started so far to end (tests, ``--once``)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _read(
        self,
    ) -> tuple[BackupsSection, dict[tuple[str, str], datetime], set[tuple[str, str]]]:
        """The applied plan, when each (policy, kind) last started (and BACKED_UP), and
        the (policy, kind) pairs with a live running row."""
        now = self._clock()
        with self._sessions() as db:
            section = load_section(db)
            rows = db.execute(
                select(BackupRun.policy, BackupRun.kind, func.max(BackupRun.started_at)).group_by(
                    BackupRun.policy, BackupRun.kind
                )
            ).all()
            backed_up = db.execute(
                select(BackupRun.policy, BackupRun.repository, func.max(BackupRun.finished_at))
                .where(BackupRun.kind == "backup", BackupRun.status == "succeeded")
                .group_by(BackupRun.policy, BackupRun.repository)
            ).all()
            running = db.execute(
                select(BackupRun.policy, BackupRun.kind, BackupRun.started_at).where(
                    BackupRun.status == "running"
                )
            ).all()
        last_runs = {(p, k): at for p, k, at in rows if at is not None}
        policies = {p.name: p for p in section.policies}
        for name, repository, at in backed_up:
            policy = policies.get(name)
            if policy is not None and at is not None and repository == policy.repositories[0]:
                last_runs[(name, BACKED_UP)] = at
        live = {
            (name, kind)
            for name, kind, at in running
            if name in policies and at >= claims.live_since(policies[name], kind, now)
        }
        return section, last_runs, live

    def _health(self, section: BackupsSection) -> None:
        with self._sessions() as db:
            health.evaluate(db, section, self._clock())
            db.commit()

    def _job(self, section: BackupsSection, policy: str, kind: str) -> Coroutine[Any, Any, Any]:
        if kind == "backup":
            return self.runner.backup(section, policy)
        if kind == "forget":
            return self.runner.retention(section, policy, dry_run=False)
        if kind == "check":
            return self.runner.check(section, policy)
        if kind == "copy":
            return self.runner.copy(section, policy)
        return self._drill(section, policy)

    async def _drill(self, section: BackupsSection, policy_name: str) -> None:
        policy = find_policy(section, policy_name)
        by_name = {r.name: r for r in section.repositories}
        for name in policy.repositories:
            if name in by_name:
                await drills.run_drill(
                    self._engine,
                    access(by_name[name]),
                    policy,
                    sessions=self._sessions,
                    settings=self._settings,
                )

    async def _guard(self, key: tuple[str, str], job: Coroutine[Any, Any, Any]) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except RunInProgress as exc:  # started elsewhere between our read and our claim
            log.info("backups: %s of %s skipped: %s", key[1], key[0], exc)
        except Exception:  # recorded rows say what failed; this is a bug or a plan change
            log.exception("backups: %s of %s failed", key[1], key[0])
        finally:
            self._running.pop(key, None)

    async def _cancel_all(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
