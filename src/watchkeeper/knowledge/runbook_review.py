"""The runbook review service: one per cluster (the ``runbooks`` leadership). Every few
minutes it raises and resolves ``RunbookReviewDue`` (:mod:`runbook_alerts`) for the runbooks
past their review period and sets the runbook gauges on ``/metrics``.

Everything is derived from the store, so a replica that takes over reaches the same state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from watchkeeper.knowledge import runbook_alerts, runbooks
from watchkeeper.knowledge.runbook_metrics import RUNBOOKS, RUNBOOKS_REVIEW_DUE
from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.store.tables import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReviewPass:
    """What one pass found: the slugs ``RunbookReviewDue`` fires for, runbooks by source."""

    firing: list[str]
    counts: dict[str, int]


class RunbookReviewService(PeriodicService):
    """Keeps ``RunbookReviewDue`` and the runbook gauges current (see the module docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        tick: float = 300.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._loop = Periodic(
            "runbooks", self._pass, tick, log=log, store_operation="runbooks", start_delay=5.0
        )

    async def _pass(self) -> None:
        await asyncio.to_thread(self.run_once)

    def run_once(self) -> ReviewPass:
        """One pass (see the module docstring)."""
        now = self._clock()
        with self._sessions() as db:
            section = runbooks.load_section(db)
            due = runbooks.due_for_review(db, now, section)
            firing = runbook_alerts.evaluate(db, due, section.alert_severity, now)
            db.commit()
            counts = runbooks.counts(db)
        for source, count in counts.items():
            RUNBOOKS.labels(source).set(count)
        RUNBOOKS_REVIEW_DUE.set(len(firing))
        return ReviewPass(firing, counts)
