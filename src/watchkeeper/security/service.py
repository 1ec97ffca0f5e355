"""The security service: one per cluster (the ``security`` leadership). Every minute it

- refreshes the patch plan (:func:`watchkeeper.security.patches.refresh`): verifies
  actions the newest inventories show done, plans new ones, marks obsolete those whose
  findings went away, moves planned ones whose patch window passed to the next opening —
  the scans refresh it too, but suppressions expire, windows pass and inventories arrive
  between scans;
- raises and resolves ``VulnerabilityFixOverdue`` (:mod:`watchkeeper.security.alerting`);
- sets the findings and patch-plan gauges on ``/metrics``;
- hourly, prunes verified and obsolete actions older than ``security.history``.

Everything is derived from the store, so a replica that takes over reaches the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.dbmaint.section import load_windows
from watchkeeper.security import alerting, patches
from watchkeeper.security.findings import metric_counts, open_findings
from watchkeeper.security.section import load_section
from watchkeeper.store.tables import PatchAction, utcnow
from watchkeeper.telemetry import PATCH_ACTIONS, SECURITY_FINDINGS, SECURITY_FINDINGS_OVERDUE

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Pass:
    """What one pass found."""

    refresh: patches.Refresh
    firing: list[str]  # hosts VulnerabilityFixOverdue fires for
    actions: dict[str, int]  # patch actions by status


class SecurityService:
    """Keeps the patch plan, the overdue-fix alerts and the gauges current (see the
    module docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        *,
        tick: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._tick = tick
        self._clock = clock
        self._stopping = asyncio.Event()
        self._pruned_at: datetime | None = None

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.run_once)
            except IntegrityError:  # a scan refreshed the plan at the same moment
                log.info("security: patch plan refreshed elsewhere meanwhile; next pass")
            except SQLAlchemyError as exc:  # the store is away: try again next pass
                log.error("security: store error %s; retrying", type(exc).__name__)
            except Exception:  # a bug must not stop the service
                log.exception("security service pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._tick)

    async def stop(self) -> None:
        self._stopping.set()

    def run_once(self) -> Pass:
        """One pass (see the module docstring)."""
        now = self._clock()
        with self._sessions() as db:
            section = load_section(db)
            findings = open_findings(db, section, now)
            done = patches.refresh(
                db, now, section=section, windows=load_windows(db), findings=findings
            )
            firing = alerting.evaluate(db, section, findings, now)
            db.commit()
            actions = dict.fromkeys(patches.STATUSES, 0)
            for status, count in db.execute(
                select(PatchAction.status, func.count()).group_by(PatchAction.status)
            ):
                actions[status] = count
        counts, overdue = metric_counts(findings)
        for (severity, fix, hidden), count in counts.items():
            SECURITY_FINDINGS.labels(severity, str(fix).lower(), str(hidden).lower()).set(count)
        for severity, count in overdue.items():
            SECURITY_FINDINGS_OVERDUE.labels(severity).set(count)
        for status, count in actions.items():
            PATCH_ACTIONS.labels(status).set(count)
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            with self._sessions() as db:
                removed = patches.prune(db, now - section.history)
                db.commit()
            self._pruned_at = now
            if removed:
                log.info("security: pruned %d verified/obsolete patch action(s)", removed)
        return Pass(done, firing, actions)
