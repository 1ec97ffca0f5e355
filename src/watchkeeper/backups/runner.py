"""Run a policy's work: its backup (hooks, source, every repository), its retention pass and
its integrity check, each recorded as ``backup_runs`` rows (one per repository).

Repositories are independent: one that fails (unreachable, full, wrong password) gets its
own failed row and the others still run. A global limit (``max_parallel``) bounds how many
policies back up at once; a policy's ``timeout`` bounds its whole run, and on a timeout the
engine interrupts the tool so the repository stays consistent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.backups import claims, sources
from watchkeeper.backups.claims import RunInProgress
from watchkeeper.backups.config import BackupsSection, Policy, Repository
from watchkeeper.backups.engine import (
    BackupResult,
    Engine,
    ForgetResult,
    KeepPolicy,
    Progress,
    RepositoryAccess,
    Snapshot,
    tool_environment,
)
from watchkeeper.backups.lookup import access, find_policy, policy_repositories
from watchkeeper.exceptions import NotFoundError, WatchkeeperError
from watchkeeper.logging_setup import redact
from watchkeeper.settings import Settings
from watchkeeper.store.tables import BackupRun, utcnow
from watchkeeper.telemetry import BACKUP_RUNS

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1.0  # seconds between writes of a running row's progress
HOOK_TAIL = 2000  # characters of a hook's output kept in an error

RepoProgress = Callable[[str, Progress], None]
"""Told ``(repository, progress)`` while a backup runs (the CLI's progress bar)."""


@dataclass(frozen=True)
class RepoOutcome:
    """What one repository's part of a run came to (its ``backup_runs`` row is ``run_id``)."""

    repository: str
    run_id: int
    ok: bool
    error: str = ""
    results: tuple[BackupResult, ...] = ()
    forget: ForgetResult | None = None
    output: str = ""
    copied: int = 0  # copies: snapshots newly copied into the repository
    held: int = 0  # copies: the policy's snapshots the repository holds afterwards


@dataclass
class _Limiter:
    """A semaphore whose size follows the plan's ``max_parallel``."""

    limit: int
    running: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @contextlib.asynccontextmanager
    async def slot(self) -> Any:
        async with self._changed:
            await self._changed.wait_for(lambda: self.running < self.limit)
            self.running += 1
        try:
            yield
        finally:
            async with self._changed:
                self.running -= 1
                self._changed.notify_all()


def tags_for(policy: Policy) -> list[str]:
    """The tags every snapshot of ``policy`` carries; retention and drills select by them."""
    return ["watchkeeper", f"policy={policy.name}", *policy.tags]


def keep_policy(policy: Policy) -> KeepPolicy:
    """Return the policy's retention as the engine's KeepPolicy; raise NotFoundError if the
    policy has no retention."""
    r = policy.retention
    if r is None:
        raise NotFoundError(f"policy {policy.name} has no retention")
    return KeepPolicy(
        last=r.keep_last,
        hourly=r.keep_hourly,
        daily=r.keep_daily,
        weekly=r.keep_weekly,
        monthly=r.keep_monthly,
        yearly=r.keep_yearly,
    )


class BackupRunner:
    """Runs backups, retention passes and checks; state lives in ``backup_runs`` only."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        engine: Engine,
        *,
        max_parallel: int = 2,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.engine = engine
        self.settings = settings
        self._clock = clock
        self._limiter = _Limiter(max_parallel)
        self._initialised: set[tuple[str, str]] = set()

    def set_max_parallel(self, limit: int) -> None:
        """Follow a changed plan; runs already started keep going."""
        self._limiter.limit = max(1, limit)

    # -- backup -------------------------------------------------------------------------------

    async def backup(
        self,
        section: BackupsSection,
        policy_name: str,
        *,
        trigger: str = "schedule",
        progress: RepoProgress | None = None,
    ) -> list[RepoOutcome]:
        """Back up ``policy_name`` to each of its repositories (waiting for a free slot
        first); return one outcome per repository. Raise NotFoundError for an unknown
        policy; every other failure is recorded in the outcomes, never raised.
        Raise RunInProgress, running nothing, when a backup of the policy is already
        running (here, in another process, or the server's scheduler)."""
        policy = find_policy(section, policy_name)
        repos = policy_repositories(section, policy)
        async with self._limiter.slot():
            # Claimed before the hook runs: a refused run must not run the hook either.
            first = await asyncio.to_thread(self._claim, policy, repos[0].name, "backup", trigger)
            return await self._backup(policy, repos, trigger, progress, first)

    async def _backup(
        self,
        policy: Policy,
        repos: list[Repository],
        trigger: str,
        progress: RepoProgress | None,
        first_run: int,
    ) -> list[RepoOutcome]:
        deadline = asyncio.get_running_loop().time() + policy.timeout.total_seconds()
        outcomes: list[RepoOutcome] = []
        env = {"WATCHKEEPER_POLICY": policy.name}
        try:
            async with asyncio.timeout_at(deadline):
                before = await _hook(policy.hooks.before, env) if policy.hooks.before else None
        except TimeoutError:
            before = f"timed out after {policy.timeout}"
        except asyncio.CancelledError:
            await asyncio.shield(
                asyncio.to_thread(self._finish, first_run, "failed", 0.0, error="cancelled")
            )
            raise
        if before is not None:
            error = f"the before hook failed: {before}"
            log.warning("backup %s: %s", policy.name, error)
            await asyncio.to_thread(self._finish, first_run, "failed", 0.0, error=error)
            BACKUP_RUNS.labels(policy.name, "backup", "failed").inc()
            outcomes.append(RepoOutcome(repos[0].name, first_run, False, error=redact(error)))
            for repo in repos[1:]:
                outcomes.append(
                    await asyncio.to_thread(
                        self._record_failed, policy.name, repo.name, "backup", trigger, error
                    )
                )
        else:
            for i, repo in enumerate(repos):
                try:
                    run_id = (
                        first_run
                        if i == 0
                        else await self._claim_next(policy, repo, "backup", trigger)
                    )
                except RunInProgress as exc:
                    outcomes += _not_run(repos[i:], exc)
                    break
                outcomes.append(
                    await self._backup_one(policy, repo, trigger, progress, deadline, run_id)
                )
        if policy.hooks.after:
            ok = all(o.ok for o in outcomes)
            after_env = {**env, "WATCHKEEPER_STATUS": "succeeded" if ok else "failed"}
            try:
                async with asyncio.timeout(max(60.0, deadline - asyncio.get_running_loop().time())):
                    after = await _hook(policy.hooks.after, after_env)
            except TimeoutError:
                after = "timed out"
            if after is not None:
                log.warning("backup %s: the after hook failed: %s", policy.name, after)
                await asyncio.to_thread(self._note_after_hook, [o.run_id for o in outcomes], after)
        return outcomes

    async def _backup_one(
        self,
        policy: Policy,
        repo: Repository,
        trigger: str,
        progress: RepoProgress | None,
        deadline: float,
        run_id: int,
    ) -> RepoOutcome:
        writer = _ProgressWriter(self._sessions, run_id)
        target = access(repo)

        def on_progress(p: Progress) -> None:
            writer.latest = p
            if progress is not None:
                progress(repo.name, p)

        flusher = asyncio.create_task(writer.run())
        started = time.monotonic()
        try:
            async with asyncio.timeout_at(deadline):
                await self._ensure_repository(target)
                results, inventory = await back_up_source(
                    self.engine, policy, target, tags_for(policy), on_progress, self.settings
                )
        except TimeoutError:
            error = f"timed out after {policy.timeout}"
            await self._unlock(target)
            return await self._finish_failed(
                run_id, policy.name, repo.name, "backup", error, started, flusher
            )
        except WatchkeeperError as exc:
            return await self._finish_failed(
                run_id, policy.name, repo.name, "backup", str(exc), started, flusher
            )
        except asyncio.CancelledError:
            await asyncio.shield(
                self._cancelled(run_id, policy.name, target, "backup", started, flusher)
            )
            raise
        except Exception as exc:  # a bug in a source must not lose the row
            log.exception("backup %s to %s failed unexpectedly", policy.name, repo.name)
            return await self._finish_failed(
                run_id,
                policy.name,
                repo.name,
                "backup",
                f"internal error: {type(exc).__name__}",
                started,
                flusher,
            )
        await _stop(flusher)
        seconds = time.monotonic() - started
        await asyncio.to_thread(self._finish_backup, run_id, results, inventory, seconds)
        BACKUP_RUNS.labels(policy.name, "backup", "succeeded").inc()
        log.info(
            "backup %s to %s: %d snapshot(s), %d byte(s) added",
            policy.name,
            repo.name,
            len(results),
            sum(r.bytes_added for r in results),
        )
        return RepoOutcome(repo.name, run_id, True, results=tuple(results))

    async def _ensure_repository(self, repo: RepositoryAccess) -> None:
        key = (repo.name, repo.url)
        if key in self._initialised:
            return
        if await self.engine.init(repo):
            log.info("backup repository %s created", repo.name)
        self._initialised.add(key)

    async def _cancelled(
        self,
        run_id: int,
        policy: str,
        repo: RepositoryAccess,
        kind: str,
        started: float,
        flusher: asyncio.Task[None] | None = None,
        also: Sequence[RepositoryAccess] = (),
    ) -> None:
        """End a cancelled run (shutdown): its tool has been stopped; remove the lock it may
        have left, like after a timeout, and record the run as failed."""
        for each in (repo, *also):
            await self._unlock(each)
        if run_id:
            await self._finish_failed(
                run_id, policy, repo.name, kind, "cancelled", started, flusher
            )
        elif flusher is not None:
            await _stop(flusher)

    async def _unlock(self, repo: RepositoryAccess) -> None:
        unlock = getattr(self.engine, "unlock", None)
        if unlock is not None:
            with contextlib.suppress(WatchkeeperError, TimeoutError):
                async with asyncio.timeout(60):
                    await unlock(repo)

    # -- retention and checks -----------------------------------------------------------------

    async def retention(
        self,
        section: BackupsSection,
        policy_name: str,
        *,
        dry_run: bool,
        trigger: str = "schedule",
        repository: str | None = None,
    ) -> list[RepoOutcome]:
        """Apply (or, ``dry_run``, only compute) the policy's retention in each repository
        (copy targets included). A dry run records no row (``run_id`` 0). Raise
        NotFoundError for an unknown policy or repository, or a policy without retention;
        RunInProgress when a retention pass of the policy is already running."""
        policy = find_policy(section, policy_name)
        keep = keep_policy(policy)
        outcomes: list[RepoOutcome] = []
        repos = policy_repositories(section, policy, repository, copies=True)
        for i, repo in enumerate(repos):
            try:
                outcomes.append(await self._forget_one(policy, repo, keep, dry_run, trigger))
            except RunInProgress as exc:
                if i == 0:
                    raise
                outcomes += _not_run(repos[i:], exc)
                break
        return outcomes

    async def _forget_one(
        self, policy: Policy, repo: Repository, keep: KeepPolicy, dry_run: bool, trigger: str
    ) -> RepoOutcome:
        run_id = 0
        if not dry_run:
            run_id = await self._claim_next(policy, repo, "forget", trigger)
        started = time.monotonic()
        target = access(repo)
        try:
            async with asyncio.timeout(policy.timeout.total_seconds()):
                result = await self.engine.forget(
                    target, keep, tags=[f"policy={policy.name}"], dry_run=dry_run
                )
        except BaseException as exc:
            error = await self._failure(exc, policy, target, "forget", run_id, started)
            if dry_run:
                return RepoOutcome(repo.name, 0, False, error=error)
            return await self._finish_failed(
                run_id, policy.name, repo.name, "forget", error, started
            )
        if not dry_run:
            details = {
                "removed": [_snap(s) for s in result.remove],
                "kept": len(result.keep),
            }
            await asyncio.to_thread(
                self._finish, run_id, "succeeded", time.monotonic() - started, details=details
            )
            BACKUP_RUNS.labels(policy.name, "forget", "succeeded").inc()
        return RepoOutcome(repo.name, run_id, True, forget=result)

    async def check(
        self,
        section: BackupsSection,
        policy_name: str,
        *,
        trigger: str = "schedule",
        read_data_subset: str | None = None,
        repository: str | None = None,
    ) -> list[RepoOutcome]:
        """Run ``restic check`` (reading ``read_data_subset`` of the data, default the
        policy's) on each repository of the policy, copy targets included; one row each.
        Raise RunInProgress when a check of the policy is already running."""
        policy = find_policy(section, policy_name)
        subset = read_data_subset or (policy.check.read_data_subset if policy.check else None)
        outcomes: list[RepoOutcome] = []
        repos = policy_repositories(section, policy, repository, copies=True)
        for i, repo in enumerate(repos):
            try:
                run_id = await self._claim_next(policy, repo, "check", trigger)
            except RunInProgress as exc:
                if i == 0:
                    raise
                outcomes += _not_run(repos[i:], exc)
                break
            started = time.monotonic()
            target = access(repo)
            try:
                async with asyncio.timeout(policy.timeout.total_seconds()):
                    result = await self.engine.check(target, subset)
            except BaseException as exc:
                error = await self._failure(exc, policy, target, "check", run_id, started)
                outcomes.append(
                    await self._finish_failed(
                        run_id, policy.name, repo.name, "check", error, started
                    )
                )
                continue
            status = "succeeded" if result.ok else "failed"
            tail = "\n".join(result.output.splitlines()[-20:])
            await asyncio.to_thread(
                self._finish,
                run_id,
                status,
                time.monotonic() - started,
                error="" if result.ok else f"restic check found problems: {tail}",
                details={"read_data_subset": subset or "", "output": tail},
            )
            BACKUP_RUNS.labels(policy.name, "check", status).inc()
            outcomes.append(RepoOutcome(repo.name, run_id, result.ok, output=result.output))
        return outcomes

    async def _failure(
        self,
        exc: BaseException,
        policy: Policy,
        repo: RepositoryAccess,
        kind: str,
        run_id: int,
        started: float,
    ) -> str:
        """Why a retention pass or check on one repository failed. A cancellation still ends
        the row (then propagates); a bug is logged and recorded, and the other repositories
        still run."""
        if isinstance(exc, TimeoutError):
            await self._unlock(repo)
            return f"timed out after {policy.timeout}"
        if isinstance(exc, WatchkeeperError):
            return str(exc)
        if isinstance(exc, asyncio.CancelledError):
            await asyncio.shield(self._cancelled(run_id, policy.name, repo, kind, started))
            raise exc
        if not isinstance(exc, Exception):
            raise exc
        log.exception("%s %s on %s failed unexpectedly", kind, policy.name, repo.name)
        return f"internal error: {type(exc).__name__}"

    async def snapshots(
        self, section: BackupsSection, policy_name: str, repository: str | None = None
    ) -> dict[str, list[Snapshot] | str]:
        """The policy's snapshots per repository, copy targets included (oldest first), or
        the error text."""
        policy = find_policy(section, policy_name)
        found: dict[str, list[Snapshot] | str] = {}
        for repo in policy_repositories(section, policy, repository, copies=True):
            try:
                found[repo.name] = await self.engine.snapshots(
                    access(repo), [f"policy={policy.name}"]
                )
            except WatchkeeperError as exc:
                found[repo.name] = str(exc)
        return found

    async def copy(
        self,
        section: BackupsSection,
        policy_name: str,
        *,
        trigger: str = "schedule",
        to: str | None = None,
    ) -> list[RepoOutcome]:
        """Copy the policy's snapshots from its first repository into each copy target (or
        only ``to``) with ``restic copy``; one ``copy`` row per target. Raise NotFoundError
        for an unknown policy or target, or a policy without ``copy``; RunInProgress when a
        copy of the policy is already running."""
        from watchkeeper.backups.copies import copy_policy

        return await copy_policy(self, section, policy_name, trigger=trigger, to=to)

    # -- the rows -----------------------------------------------------------------------------

    def _claim(self, policy: Policy, repository: str, kind: str, trigger: str) -> int:
        with self._sessions() as db:
            return claims.claim(db, policy, repository, kind, trigger, self._clock())

    async def _claim_next(self, policy: Policy, repo: Repository, kind: str, trigger: str) -> int:
        """The row of the next repository of a run; RunInProgress when another process
        started the same kind in between (the run then stops there)."""
        return await asyncio.to_thread(self._claim, policy, repo.name, kind, trigger)

    def _start(self, policy: str, repository: str, kind: str, trigger: str) -> int:
        with self._sessions() as db:
            row = BackupRun(
                policy=policy,
                repository=repository,
                kind=kind,
                status="running",
                trigger=trigger,
                started_at=self._clock(),
                details={},
            )
            db.add(row)
            db.commit()
            return row.id

    def _finish(
        self,
        run_id: int,
        status: str,
        seconds: float,
        *,
        error: str = "",
        details: dict[str, Any] | None = None,
        **columns: Any,
    ) -> None:
        with self._sessions() as db:
            row = db.get(BackupRun, run_id)
            if row is None:
                return
            row.status, row.finished_at, row.duration_s = status, self._clock(), seconds
            row.error = redact(error)[:4000]
            merged = {k: v for k, v in (row.details or {}).items() if k != "progress"}
            merged.update(details or {})
            row.details = merged
            for name, value in columns.items():
                setattr(row, name, value)
            db.commit()

    def _finish_backup(
        self,
        run_id: int,
        results: Sequence[BackupResult],
        inventory: dict[str, Any],
        seconds: float,
    ) -> None:
        self._finish(
            run_id,
            "succeeded",
            seconds,
            details={"snapshots": [asdict(r) for r in results], "inventory": inventory},
            snapshot_id=results[-1].snapshot_id if results else "",
            bytes_total=sum(r.bytes_total for r in results),
            bytes_added=sum(r.bytes_added for r in results),
            files=sum(r.files for r in results),
        )

    async def _finish_failed(
        self,
        run_id: int,
        policy: str,
        repository: str,
        kind: str,
        error: str,
        started: float,
        flusher: asyncio.Task[None] | None = None,
    ) -> RepoOutcome:
        if flusher is not None:
            await _stop(flusher)
        await asyncio.to_thread(
            self._finish, run_id, "failed", time.monotonic() - started, error=error
        )
        BACKUP_RUNS.labels(policy, kind, "failed").inc()
        log.warning("%s %s on %s failed: %s", kind, policy, repository, redact(error))
        return RepoOutcome(repository, run_id, False, error=redact(error))

    def _record_failed(
        self, policy: str, repository: str, kind: str, trigger: str, error: str
    ) -> RepoOutcome:
        run_id = self._start(policy, repository, kind, trigger)
        self._finish(run_id, "failed", 0.0, error=error)
        BACKUP_RUNS.labels(policy, kind, "failed").inc()
        return RepoOutcome(repository, run_id, False, error=redact(error))

    def _note_after_hook(self, run_ids: list[int], error: str) -> None:
        with self._sessions() as db:
            for run_id in run_ids:
                row = db.get(BackupRun, run_id)
                if row is not None:
                    row.details = {**(row.details or {}), "after_hook_error": redact(error)}
            db.commit()


class _ProgressWriter:
    """Writes the latest progress into the running row at most every PROGRESS_EVERY s."""

    def __init__(self, sessions: Callable[[], Session], run_id: int) -> None:
        self._sessions = sessions
        self._run_id = run_id
        self.latest: Progress | None = None
        self._written: Progress | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            await self.flush()

    async def flush(self) -> None:
        latest = self.latest
        if latest is None or latest is self._written:
            return
        self._written = latest
        try:
            await asyncio.to_thread(self._write, latest)
        except Exception as exc:  # progress is a nicety: never fail the backup for it
            log.debug("backup progress not written: %s", type(exc).__name__)

    def _write(self, p: Progress) -> None:
        with self._sessions() as db:
            row = db.get(BackupRun, self._run_id)
            if row is None or row.status != "running":
                return
            row.details = {**(row.details or {}), "progress": asdict(p)}
            db.commit()


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def back_up_source(
    engine: Engine,
    policy: Policy,
    repo: RepositoryAccess,
    tags: Sequence[str],
    progress: Callable[[Progress], None],
    settings: Settings | None = None,
) -> tuple[list[BackupResult], dict[str, Any]]:
    """Back up the policy's source into ``repo``; return the snapshots and the inventory
    (what a restore drill compares against). Raise WatchkeeperError if it fails."""
    source = sources.for_policy(policy, settings)
    results, inventory = await source.back_up(engine, repo, list(tags), progress)
    return list(results), dict(inventory)


async def _hook(command: str, env: dict[str, str]) -> str | None:
    """Run a hook through the shell; return None when it succeeded, else why it failed."""
    try:
        proc = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**tool_environment(), **env},
            start_new_session=True,
        )
    except OSError as exc:
        return f"cannot run it: {exc.strerror}"
    try:
        output, _ = await proc.communicate()
    except asyncio.CancelledError:
        # The whole group: a child of the shell (`sleep 600; ...`) would keep the output pipe
        # open, and on Python 3.11 wait() only returns once every pipe is closed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    if proc.returncode == 0:
        return None
    text = output.decode("utf-8", "replace").strip()[-HOOK_TAIL:]
    return f"exit status {proc.returncode}" + (f": {text}" if text else "")


def _not_run(repos: Sequence[Repository], why: RunInProgress) -> list[RepoOutcome]:
    """Outcomes for the repositories a run stopped before: another process started the
    same work meanwhile (and does them now)."""
    return [RepoOutcome(r.name, 0, False, error=f"not run: {why}") for r in repos]


def _snap(s: Snapshot) -> dict[str, Any]:
    return {"id": s.id, "time": s.time.isoformat(), "tags": list(s.tags)}
