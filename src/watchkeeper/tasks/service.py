"""The tasks service: one per cluster (the ``tasks`` leadership of ``watchkeeper up``).
Every minute it makes the instances of the occurrences that came, queues the reminders whose
time has come, raises and resolves ``TaskOverdue``, and sets the task gauges on ``/metrics``.

Everything is derived from the store (instances are unique per occurrence, reminders per
outbox key), so a replica that takes over reaches the same state and repeats nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.store.tables import TaskInstance, utcnow
from watchkeeper.tasks import overdue, reminders
from watchkeeper.tasks.metrics import TASK_INSTANCES_MADE, TASK_INSTANCES_OPEN, TASKS
from watchkeeper.tasks.schedule import load_tasks, make_due

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TasksPass:
    """What one pass did: instances made (ids), reminders queued, tasks overdue."""

    made: list[int]
    reminders: int
    overdue: list[str]


class TasksService(PeriodicService):
    """Keeps the task instances, reminders and ``TaskOverdue`` current (module docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        base_url: str = "",
        on_queued: Callable[[], None] | None = None,
        tick: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._base_url = base_url.rstrip("/")
        self._on_queued = on_queued
        self._clock = clock
        self._loop = Periodic(
            "tasks", self._pass, tick, log=log, store_operation="tasks", start_delay=5.0
        )

    async def _pass(self) -> None:
        await asyncio.to_thread(self.run_once)

    def run_once(self) -> TasksPass:
        """One pass (see the module docstring)."""
        now = self._clock()
        with self._sessions() as db:
            tasks = load_tasks(db)
            made = [row.id for row in make_due(db, now, tasks)]
            db.commit()
            queued = reminders.send_due(db, tasks, now, self._base_url)
            firing = overdue.evaluate(db, tasks, now)
            db.commit()
            open_total, late_total = db.execute(
                select(func.count(), func.sum(case((TaskInstance.due_at < now, 1), else_=0))).where(
                    TaskInstance.status == "open"
                )
            ).one()
        if made:
            TASK_INSTANCES_MADE.inc(len(made))
            log.info("tasks: %d instance(s) made", len(made))
        if queued and self._on_queued is not None:
            self._on_queued()
        late = int(late_total or 0)
        TASK_INSTANCES_OPEN.labels("due").set(int(open_total) - late)
        TASK_INSTANCES_OPEN.labels("overdue").set(late)
        TASKS.labels("plan").set(sum(1 for t in tasks if t.managed))
        TASKS.labels("ui").set(sum(1 for t in tasks if not t.managed))
        return TasksPass(made, queued, firing)
