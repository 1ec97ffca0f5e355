"""The plan-compliance service (one per cluster: the ``plan-compliance`` leadership):
every minute it judges every section of the plan (:mod:`plan_status`), keeps the snapshot,
sets ``watchkeeper_plan_compliance_score`` and ``watchkeeper_plan_section_compliant``, and
once an hour prunes old snapshots."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from watchkeeper.logs.store import LogStore
from watchkeeper.metrics.source import SeriesSource
from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.security.compliance.plan_sections.base import AlertEvaluatorHealth, Live
from watchkeeper.security.compliance.plan_status import (
    PlanStatus,
    evaluate_plan,
    plan_settings,
    prune,
    store,
)
from watchkeeper.store.tables import utcnow
from watchkeeper.telemetry import PLAN_COMPLIANCE_SCORE, PLAN_SECTION_COMPLIANT

log = logging.getLogger(__name__)
EVERY = 60.0
PRUNE_EVERY = timedelta(hours=1)


def set_gauges(status: PlanStatus) -> None:
    """The metrics of ``status``: the score (NaN when nothing could be judged), and 1/0 for
    each section judged ok/failing (no series for the others)."""
    PLAN_COMPLIANCE_SCORE.set(status.score if status.score is not None else math.nan)
    PLAN_SECTION_COMPLIANT.clear()
    for section in status.sections:
        if section.status in ("ok", "failing"):
            PLAN_SECTION_COMPLIANT.labels(section.section).set(1 if section.status == "ok" else 0)


class PlanComplianceService(PeriodicService):
    """Evaluate the plan every ``every`` seconds until stopped (see the module docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        metrics: SeriesSource | None = None,
        logs: Callable[[], LogStore] | None = None,
        evaluator: AlertEvaluatorHealth | None = None,
        every: float = EVERY,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._logs = logs
        self._evaluator = evaluator
        self._clock = clock
        self._loop = Periodic(
            "plan compliance",
            lambda: asyncio.to_thread(self.run_once),
            every,
            log=log,
            store_operation="plan-compliance",
        )
        self._pruned_at: datetime | None = None

    def run_once(self) -> PlanStatus:
        """Evaluate, store the snapshot, prune when due, set the gauges; return the status."""
        now = self._clock()
        with self._sessions() as db:
            live = Live(
                now,
                plan_settings(db),
                metrics=self._metrics,
                logs=self._logs() if self._logs is not None else None,
                evaluator=self._evaluator,
            )
            status = evaluate_plan(db, live)
            store(db, status)
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                removed = prune(db, now, live.settings.history)
                self._pruned_at = now
                if removed:
                    log.info("plan compliance: %d old snapshot(s) pruned", removed)
            db.commit()
        set_gauges(status)
        return status
