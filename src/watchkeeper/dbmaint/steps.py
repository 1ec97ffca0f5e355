"""What the maintenance modules of every database type share: choosing tables by the task's
globs, the run's time budget, and the texts of steps that did not run."""

from __future__ import annotations

import time
from dataclasses import replace
from fnmatch import fnmatchcase

from watchkeeper.dbmaint.config import MaintenanceTask
from watchkeeper.dbmaint.interface import Step
from watchkeeper.plan.types import format_duration


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
