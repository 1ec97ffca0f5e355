"""Restore drills: prove that a policy's latest backup restores, and measure how long.

A drill restores the snapshots of the latest successful backup of a policy in one
repository into scratch targets (a temporary PostgreSQL or MariaDB database, created and
always dropped; a temporary directory), then verifies them against the inventory taken at
backup time: row counts of the largest tables, the policy's SQL assertions, checksums of a
sample of files. It records the restore duration (the measured RTO), the snapshot's age when
the restore began (the RPO), the size restored and pass/fail with reasons as a
``backup_runs`` row of kind ``drill``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.backups.config import MariadbSource, Policy, PostgresSource
from watchkeeper.backups.drill_targets import (
    Outcome,
    Verification,
    restore_into_temp,
    restore_mariadb,
    restore_postgres,
    verify_basebackup,
    verify_files,
    verify_sqlite,
)
from watchkeeper.backups.engine import Engine, EngineError, RepositoryAccess, Snapshot
from watchkeeper.backups.latest_runs import latest_runs
from watchkeeper.backups.sources.base import Part, SourceError
from watchkeeper.backups.sources.myconn import MyTarget
from watchkeeper.backups.sources.pgconn import PgTarget
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logging_setup import redact
from watchkeeper.settings import Settings
from watchkeeper.store.tables import BackupRun, utcnow
from watchkeeper.telemetry import BACKUP_RUNS

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = timedelta(hours=2)
_INVENTORY_LOOKBACK = 20


class DrillError(WatchkeeperError):
    """The drill cannot start (no backup to restore, a snapshot gone from the repository)."""


@dataclass(frozen=True)
class DrillResult:
    """What a drill found. ``ok`` only when every part restored and every check passed."""

    policy: str
    repository: str
    ok: bool
    reasons: tuple[str, ...]
    checks: tuple[Verification, ...]
    snapshots: tuple[str, ...]
    rto_s: float | None
    rpo_s: float | None
    bytes_restored: int
    seconds: float
    scratch: tuple[str, ...] = ()  # where it restored to (all removed afterwards)
    run_id: int | None = None


def latest_inventory(db: Session, policy: str, repository: str) -> dict[str, Any] | None:
    """The inventory of the newest successful backup of ``policy`` into ``repository``."""
    for row in latest_runs(db, policy, "backup", repository=repository, limit=_INVENTORY_LOOKBACK):
        inventory = (row.details or {}).get("inventory")
        if isinstance(inventory, dict) and inventory.get("parts"):
            return inventory
    return None


async def run_drill(
    engine: Engine,
    repo: RepositoryAccess,
    policy: Policy,
    *,
    sessions: Callable[[], Session] | None = None,
    inventory: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    trigger: str = "schedule",
    scratch_dir: Path | None = None,
) -> DrillResult:
    """Restore the policy's latest backup from ``repo`` into scratch targets and verify it.

    The inventory defaults to that of the latest successful backup recorded in the store
    (``sessions``); with ``sessions`` the drill is recorded as a ``drill`` run. Never raises
    for a failed restore or check: the result says why it failed."""
    run_id = await asyncio.to_thread(_start, sessions, policy.name, repo.name, trigger)
    started = time.monotonic()
    if inventory is None and sessions is not None:
        inventory = await asyncio.to_thread(_latest, sessions, policy.name, repo.name)
    timeout = policy.drill.timeout if policy.drill else DEFAULT_TIMEOUT
    drill = _Drill(engine, repo, policy, settings, scratch_dir)
    try:
        async with asyncio.timeout(timeout.total_seconds()):
            await drill.run(inventory)
    except TimeoutError:
        drill.reasons.append(f"the drill did not finish within {timeout}")
    except (EngineError, SourceError, DrillError) as exc:
        drill.reasons.append(str(exc))
    except asyncio.CancelledError:
        drill.reasons.append("the drill was cancelled (shutdown?)")
        BACKUP_RUNS.labels(policy.name, "drill", "failed").inc()
        if run_id is not None:
            ended = drill.result(time.monotonic() - started, run_id)
            await asyncio.shield(asyncio.to_thread(_finish, sessions, run_id, ended))
        raise
    except Exception as exc:  # a bug must still end the run row, not leave it "running"
        log.exception("drill of %s from %s crashed", policy.name, repo.name)
        drill.reasons.append(f"internal error: {type(exc).__name__}")
    result = drill.result(time.monotonic() - started, run_id)
    if run_id is not None:
        await asyncio.to_thread(_finish, sessions, run_id, result)
    BACKUP_RUNS.labels(policy.name, "drill", "succeeded" if result.ok else "failed").inc()
    if result.ok:
        log.info("drill of %s from %s passed", policy.name, repo.name)
    else:
        log.warning(
            "drill of %s from %s failed: %s", policy.name, repo.name, "; ".join(result.reasons)
        )
    return result


class _Drill:
    def __init__(
        self,
        engine: Engine,
        repo: RepositoryAccess,
        policy: Policy,
        settings: Settings | None,
        scratch_dir: Path | None,
    ) -> None:
        self.engine = engine
        self.repo = repo
        self.policy = policy
        self.settings = settings
        self.scratch_dir = scratch_dir
        self.reasons: list[str] = []
        self.checks: list[Verification] = []
        self.outcomes: list[Outcome] = []
        self.snapshots: list[str] = []
        self.restore_s: float | None = None
        self.rpo_s: float | None = None
        self.bytes = 0

    async def run(self, inventory: Mapping[str, Any] | None) -> None:
        parts: list[Part] = list((inventory or {}).get("parts") or [])
        if not parts:
            raise DrillError(
                f"no successful backup of {self.policy.name} into {self.repo.name} is "
                "recorded with an inventory: run a backup first"
            )
        found = await self.engine.snapshots(self.repo)
        times = []
        for part in parts:
            snap = _find(found, str(part.get("snapshot", "")))
            if snap is None:
                raise DrillError(
                    f"snapshot {part.get('snapshot')} ({part.get('file') or 'files'}) is no "
                    f"longer in repository {self.repo.name} (removed by retention?)"
                )
            self.snapshots.append(snap.id)
            times.append(snap.time)
        self.rpo_s = max(0.0, (utcnow() - min(times)).total_seconds())
        self.restore_s = 0.0
        assertions = list(self.policy.drill.assertions) if self.policy.drill else []
        target = next((p for p in parts if p["kind"] in ("postgres", "mariadb", "sqlite")), None)
        for part in parts:
            out = Outcome()
            self.outcomes.append(out)
            await self._restore(out, part, assertions if part is target else [])
            self.restore_s += out.restore_s
            self.bytes += int(part.get("bytes") or 0)
        if assertions and target is None:
            self.checks.append(
                Verification("assertions", False, "this source has no database to run them on")
            )

    async def _restore(self, out: Outcome, part: Part, assertions: Sequence[str]) -> None:
        kind = part["kind"]
        if kind == "postgres":
            server = self._pg_server()
            await restore_postgres(
                out, self.engine, self.repo, part, server, self.policy.name, assertions
            )
            return
        if kind == "mariadb":
            target = self._my_server()
            await restore_mariadb(
                out, self.engine, self.repo, part, target, self.policy.name, assertions
            )
            return
        if kind == "sqlite":
            verify = partial(verify_sqlite, part, assertions)
        elif kind == "files":
            verify = partial(verify_files, part)
        elif kind == "pg_basebackup":
            verify = partial(verify_basebackup, part)
        else:
            raise DrillError(f"the inventory has a part of unknown kind {kind!r}")
        await restore_into_temp(out, self.engine, self.repo, part, self.scratch_dir, verify)

    def _scratch_url(self) -> str:
        if self.policy.drill and self.policy.drill.scratch_url:
            return self.policy.drill.scratch_url
        source = self.policy.source
        if isinstance(source, PostgresSource | MariadbSource):
            return source.url
        if self.settings is not None and not self.settings.uses_default_database:
            return self.settings.database_url
        raise DrillError("set drill.scratch_url: there is no server to restore the database to")

    def _pg_server(self) -> PgTarget:
        return PgTarget.parse(self._scratch_url())

    def _my_server(self) -> MyTarget:
        target = MyTarget.parse(self._scratch_url())
        return replace(target, database=None)

    def result(self, seconds: float, run_id: int | None) -> DrillResult:
        checks = [c for out in self.outcomes for c in out.checks] + self.checks
        failed = [f"{c.what}: {c.detail}" if c.detail else c.what for c in checks if not c.ok]
        problems = [p for out in self.outcomes for p in out.problems]
        # Tool and server messages (a drop that failed, an assertion's error) may quote a
        # connection string: the reasons are stored and shown, so they are redacted.
        reasons = tuple(redact(r) for r in self.reasons + problems + failed)
        return DrillResult(
            policy=self.policy.name,
            repository=self.repo.name,
            ok=not reasons and bool(checks or self.snapshots),
            reasons=reasons,
            checks=tuple(checks),
            snapshots=tuple(self.snapshots),
            rto_s=self.restore_s if not (self.reasons or problems) else None,
            rpo_s=self.rpo_s,
            bytes_restored=self.bytes,
            seconds=seconds,
            scratch=tuple(out.scratch for out in self.outcomes if out.scratch),
            run_id=run_id,
        )


def _find(snapshots: Sequence[Snapshot], wanted: str) -> Snapshot | None:
    """The snapshot whose id is ``wanted`` (restic reports short ids in backup summaries)."""
    if not wanted:
        return None
    for snap in snapshots:
        if snap.id == wanted or snap.id.startswith(wanted) or wanted.startswith(snap.id):
            return snap
    return None


def _latest(sessions: Callable[[], Session], policy: str, repository: str) -> Any:
    with sessions() as db:
        return latest_inventory(db, policy, repository)


def _start(
    sessions: Callable[[], Session] | None, policy: str, repository: str, trigger: str
) -> int | None:
    if sessions is None:
        return None
    with sessions() as db:
        row = BackupRun(
            policy=policy,
            repository=repository,
            kind="drill",
            status="running",
            trigger=trigger,
            started_at=utcnow(),
            details={},
        )
        db.add(row)
        db.commit()
        return row.id


def _finish(sessions: Callable[[], Session] | None, run_id: int, result: DrillResult) -> None:
    if sessions is None:
        return
    with sessions() as db:
        row = db.get(BackupRun, run_id)
        if row is None:
            return
        row.status = "succeeded" if result.ok else "failed"
        row.finished_at = utcnow()
        row.duration_s = result.seconds
        row.rto_s = result.rto_s
        row.rpo_s = result.rpo_s
        row.bytes_total = result.bytes_restored
        row.snapshot_id = result.snapshots[0] if result.snapshots else ""
        row.error = "; ".join(result.reasons)[:4000]
        row.details = {
            "passed": result.ok,
            "reasons": list(result.reasons),
            "checks": [c.as_json() for c in result.checks],
            "snapshots": list(result.snapshots),
            "scratch": list(result.scratch),
            "restore_s": result.rto_s,
        }
        db.commit()
