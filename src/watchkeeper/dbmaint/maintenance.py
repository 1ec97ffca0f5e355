"""Running a maintenance task, whatever the database type: the window check, the dry run,
and the ``db_maintenance_runs`` row that records every step with its SQL and its
before/after figures.

The type's ``run`` is called one step at a time so the row shows progress as it goes (and
keeps what was done if the process dies); the time budget (``max_runtime``) is the whole
run's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.alerts.windows import is_open
from watchkeeper.dbmaint import claims
from watchkeeper.dbmaint.config import DatabaseConfig, MaintenanceTask
from watchkeeper.dbmaint.interface import Step
from watchkeeper.dbmaint.registry import database_type
from watchkeeper.dbmaint.steps import Budget, not_started
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logging_setup import redact
from watchkeeper.store.tables import DbMaintenanceRun

log = logging.getLogger(__name__)

Progress = Callable[[int, int, Step], None]
"""Called after each step with (steps done, steps in all, the finished step)."""


@dataclass(frozen=True)
class TaskRun:
    """What one call of :func:`run_task` did (the ``db_maintenance_runs`` row's content)."""

    run_id: int
    database: str
    task: str
    action: str
    status: str  # succeeded, failed, skipped
    dry_run: bool
    trigger: str
    error: str = ""
    steps: list[Step] = field(default_factory=list)
    duration_s: float = 0.0


def closed_reason(
    task: MaintenanceTask, windows: Mapping[str, MaintenanceWindow], now: datetime
) -> str:
    """Why ``task`` may not start at ``now`` ("" when one of its windows is open)."""
    unknown = [w for w in task.windows if w not in windows]
    if any(is_open(windows[w], now) for w in task.windows if w in windows):
        return ""
    names = ", ".join(task.windows)
    reason = f"outside its maintenance windows ({names}) at {now:%Y-%m-%d %H:%M} UTC"
    if unknown:
        reason += f"; not defined in alerts.maintenance_windows: {', '.join(unknown)}"
    return reason


async def run_task(
    sessions: Callable[[], Session],
    target: DatabaseConfig,
    task: MaintenanceTask,
    *,
    dry_run: bool,
    trigger: str,
    windows: Mapping[str, MaintenanceWindow],
    now: datetime,
    force: bool = False,
    progress: Progress | None = None,
    run_id: int | None = None,
) -> TaskRun:
    """Run ``task`` on ``target`` and return what it did, recorded in ``db_maintenance_runs``
    (in the row ``run_id`` when given, e.g. a queued request the caller claimed, else in a
    new row, claimed by :func:`watchkeeper.dbmaint.claims.claim` unless a dry run).

    Outside all of the task's windows it is refused (status ``skipped``, with the reason)
    unless ``force`` (an operator's "run now"). A dry run plans and records the steps with
    their SQL and ``before`` figures and executes nothing. A run fails when a step failed,
    when ``max_runtime`` left steps unstarted, or when nothing could be done at all; a
    database that cannot be reached fails it too. Raise RunInProgress, recording nothing,
    when another run of the database is live; else nothing but CancelledError (the row
    then ends ``failed``, "cancelled")."""
    base = TaskRun(0, target.name, task.name, task.action, "running", dry_run, trigger)
    reason = "" if force else closed_reason(task, windows, now)
    row_id = await asyncio.to_thread(_start, sessions, target, base, now, run_id)
    base = replace(base, run_id=row_id)
    if reason:
        log.info("maintenance %s/%s skipped: %s", target.name, task.name, reason)
        return await _finish(sessions, replace(base, status="skipped", error=reason), now)
    started = time.monotonic()
    steps: list[Step] = []
    kind = database_type(target)
    try:
        budget = Budget(task)
        steps = await kind.plan(target, task)
        await asyncio.to_thread(_save_steps, sessions, row_id, steps)
        if not dry_run:
            for i, step in enumerate(steps):
                if step.status == "planned" and budget.spent:
                    steps[i] = not_started(step, budget)
                elif step.status == "planned":
                    steps[i] = (await kind.run(target, task, [step]))[0]
                await asyncio.to_thread(_save_steps, sessions, row_id, steps)
                if progress is not None:
                    progress(i + 1, len(steps), steps[i])
    except asyncio.CancelledError:
        steps = [
            replace(s, status="failed", error="cancelled") if s.status == "planned" else s
            for s in steps
        ]
        ended = replace(
            base,
            status="failed",
            error="cancelled",
            steps=steps,
            duration_s=time.monotonic() - started,
        )
        await asyncio.shield(_finish(sessions, ended, now))
        raise
    except WatchkeeperError as exc:
        ended = replace(base, status="failed", error=str(exc), steps=steps)
        return await _finish(sessions, replace(ended, duration_s=time.monotonic() - started), now)
    except Exception as exc:  # a bug in a type module must not leave the row "running"
        log.exception("maintenance %s/%s failed unexpectedly", target.name, task.name)
        ended = replace(
            base, status="failed", error=f"internal error: {type(exc).__name__}", steps=steps
        )
        return await _finish(sessions, replace(ended, duration_s=time.monotonic() - started), now)
    status, error = _outcome(steps, dry_run)
    ended = replace(
        base, status=status, error=error, steps=steps, duration_s=time.monotonic() - started
    )
    return await _finish(sessions, ended, now)


def _outcome(steps: Sequence[Step], dry_run: bool) -> tuple[str, str]:
    if dry_run or not steps:
        return "succeeded", ""
    failed = [s for s in steps if s.status == "failed"]
    unstarted = [s for s in steps if s.status == "skipped" and "max_runtime" in s.error]
    if failed:
        first = failed[0]
        return (
            "failed",
            f"{len(failed)} of {len(steps)} steps failed ({first.target}: {first.error})",
        )
    if unstarted:
        return "failed", f"{len(unstarted)} of {len(steps)} steps not started: {unstarted[0].error}"
    if all(s.status == "skipped" for s in steps):
        return "failed", f"nothing could be done: {steps[0].error}"
    return "succeeded", ""


# -- the row ----------------------------------------------------------------------------------


def _start(
    sessions: Callable[[], Session],
    target: DatabaseConfig,
    run: TaskRun,
    now: datetime,
    run_id: int | None,
) -> int:
    with sessions() as db:
        row = db.get(DbMaintenanceRun, run_id) if run_id is not None else None
        if row is None and not run.dry_run:
            return claims.claim(db, target, run.task, run.action, run.trigger, now)
        if row is None:
            row = DbMaintenanceRun(database=run.database, task=run.task, started_at=now)
            db.add(row)
        row.started_at, row.action, row.trigger = now, run.action, run.trigger
        row.status = "running"
        row.dry_run, row.steps, row.error = run.dry_run, [], ""
        db.commit()
        return int(row.id)


def _save_steps(sessions: Callable[[], Session], run_id: int, steps: Sequence[Step]) -> None:
    with sessions() as db:
        row = db.get(DbMaintenanceRun, run_id)
        if row is not None:
            row.steps = [_json(s) for s in steps]
            db.commit()


def _json(step: Step) -> dict[str, Any]:
    data = step.as_json()
    data["error"] = redact(step.error)
    return data


async def _finish(sessions: Callable[[], Session], run: TaskRun, now: datetime) -> TaskRun:
    run = replace(run, error=redact(run.error)[:4000], duration_s=round(run.duration_s, 3))

    def write() -> None:
        with sessions() as db:
            row = db.get(DbMaintenanceRun, run.run_id)
            if row is None:
                return
            row.status, row.error = run.status, run.error
            row.steps = [_json(s) for s in run.steps]
            row.duration_s = run.duration_s
            row.finished_at = now + timedelta(seconds=run.duration_s)
            db.commit()

    await asyncio.to_thread(write)
    if run.status == "failed":
        log.warning("maintenance %s/%s failed: %s", run.database, run.task, run.error)
    elif run.status == "succeeded":
        done = sum(1 for s in run.steps if s.status == "succeeded")
        log.info(
            "maintenance %s/%s %s: %d of %d steps",
            run.database,
            run.task,
            "planned (dry run)" if run.dry_run else "done",
            len(run.steps) if run.dry_run else done,
            len(run.steps),
        )
    return run
