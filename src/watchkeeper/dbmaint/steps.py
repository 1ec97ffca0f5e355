"""What the maintenance modules of every database type share: choosing tables by the task's
globs, the run's time budget, running the steps one by one on one connection, and the texts
of steps that did not run."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import TypeVar

from watchkeeper.dbmaint.config import MaintenanceTask
from watchkeeper.dbmaint.interface import DbError, Step
from watchkeeper.plan.types import format_duration

C = TypeVar("C")


def _match(name: str, pattern: str) -> bool:
    # ``orders`` (no dot) means the table in any schema; ``public.*`` a whole schema
    if "." not in pattern and "." in name:
        return fnmatchcase(name.split(".", 1)[1], pattern)
    return fnmatchcase(name, pattern)


def wanted(name: str, task: MaintenanceTask, *, qualified: str = "") -> bool:
    """True when table ``name`` (``schema.table``, or a bare name where the type has no
    schemas; ``qualified`` is also matched, e.g. MariaDB's ``database.table``) passes the
    task's ``tables`` globs (empty: every table) and no ``exclude`` glob."""
    names = [n for n in (name, qualified) if n]
    if task.tables and not any(_match(n, p) for n in names for p in task.tables):
        return False
    return not any(_match(n, p) for n in names for p in task.exclude)


def percent(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def mib(value: float) -> str:
    return f"{value / (1024 * 1024):.1f} MiB"


class Budget:
    """The task's ``max_runtime``: no step starts once it is spent."""

    def __init__(self, task: MaintenanceTask) -> None:
        self._limit = task.max_runtime.total_seconds()
        self._start = time.monotonic()
        self.text = format_duration(task.max_runtime)

    @property
    def spent(self) -> bool:
        return time.monotonic() - self._start >= self._limit


def not_started(step: Step, budget: Budget) -> Step:
    """``step`` marked skipped because the run's time was up."""
    return replace(
        step,
        status="skipped",
        error=f"not started: the task's max_runtime ({budget.text}) was reached",
    )


def ran(
    step: Step,
    before: Mapping[str, float],
    after: Mapping[str, float],
    seconds: float,
    error: str,
) -> Step:
    """``step`` once its statement ran: succeeded, or failed with ``error``."""
    return replace(
        step,
        status="failed" if error else "succeeded",
        before=before,
        after=after,
        duration_s=round(seconds, 3),
        error=error,
    )


def lock_error(task: MaintenanceTask, target: str) -> str:
    return (
        f"lock on {target} not granted within lock_timeout "
        f"({format_duration(task.lock_timeout)}): another session holds a conflicting lock; "
        "nothing was changed"
    )


def timeout_error(task: MaintenanceTask) -> str:
    return (
        f"stopped by statement_timeout ({format_duration(task.statement_timeout)}); "
        "the statement was cancelled and the data is unchanged"
    )


async def run_each(
    steps: list[Step],
    task: MaintenanceTask,
    *,
    connect: Callable[[], Awaitable[C]],
    run_step: Callable[[C, Step], Awaitable[Step]],
    close: Callable[[C], Awaitable[None]],
    usable: Callable[[C], bool] = lambda _: True,
) -> list[Step]:
    """Run the planned ``steps`` one by one with ``run_step`` on one connection (``connect``
    makes it, again once ``usable`` says it was lost; ``close`` ends it) and return them:
    a step planned as skipped stays so, none starts once ``max_runtime`` is spent, and a
    step whose connection cannot be made fails with the reason (the next one tries
    again). Raise what ``run_step`` raises (CancelledError)."""
    budget = Budget(task)
    done: list[Step] = []
    conn: C | None = None
    try:
        for step in steps:
            if step.status != "planned":
                done.append(step)
                continue
            if budget.spent:
                done.append(not_started(step, budget))
                continue
            if conn is not None and not usable(conn):
                await close(conn)
                conn = None
            if conn is None:
                try:
                    conn = await connect()
                except DbError as exc:
                    done.append(replace(step, status="failed", error=str(exc)))
                    continue
            done.append(await run_step(conn, step))
    finally:
        if conn is not None:
            await close(conn)
    return done
