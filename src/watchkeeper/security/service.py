"""The security service: one per cluster (the ``security`` leadership). Every minute it

- refreshes the patch plan (:func:`watchkeeper.security.patches.refresh`): verifies
  actions the newest inventories show done, plans new ones, marks obsolete those whose
  findings went away, moves planned ones whose patch window passed to the next opening —
  the scans refresh it too, but suppressions expire, windows pass and inventories arrive
  between scans. Only the hosts whose findings or inventories changed since the last pass,
  or whose slot passed, are refreshed; every host on the first pass, when the patch
  windows or exposed hosts change, and hourly (:mod:`watchkeeper.security.refresh_scope`);
- raises and resolves ``VulnerabilityFixOverdue`` (:mod:`watchkeeper.security.alerting`);
- sets the findings and patch-plan gauges on ``/metrics``;
- hourly, prunes verified and obsolete actions older than ``security.history``.

Everything is derived from the store, so a replica that takes over reaches the same state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.dbmaint.section import load_windows
from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.security import alerting, patches
from watchkeeper.security.config import SecuritySection
from watchkeeper.security.findings import metric_counts, open_findings
from watchkeeper.security.refresh_scope import (
    Inputs,
    changed_hosts,
    full_refresh_due,
    host_inputs,
    plan_inputs,
)
from watchkeeper.security.section import SectionUnreadable, load_section
from watchkeeper.store.tables import PatchAction, utcnow
from watchkeeper.telemetry import PATCH_ACTIONS, SECURITY_FINDINGS, SECURITY_FINDINGS_OVERDUE

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)
FULL_REFRESH_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Pass:
    """What one pass found."""

    refresh: patches.Refresh
    firing: list[str]  # hosts VulnerabilityFixOverdue fires for
    actions: dict[str, int]  # patch actions by status
    refreshed: frozenset[str] | None  # the hosts whose plan was refreshed (None: every one)


class SecurityService(PeriodicService):
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
        self._clock = clock
        self._loop = Periodic(
            "security",
            self._pass,
            tick,
            log=log,
            # the plan, alerts and gauges stay as they are until the plan is re-applied
            lasting=(SectionUnreadable,),
            lasting_message="security: no patch-plan refresh: %s",
        )
        self._pruned_at: datetime | None = None
        self._inputs: Inputs | None = None  # what the plan was last refreshed from
        self._full_at: datetime | None = None  # when every host was last refreshed

    async def _pass(self) -> None:
        try:
            await asyncio.to_thread(self.run_once)
        except IntegrityError:  # a scan refreshed the plan at the same moment
            log.info("security: patch plan refreshed elsewhere meanwhile; next pass")

    def run_once(self) -> Pass:
        """One pass (see the module docstring)."""
        now = self._clock()
        with self._sessions() as db:
            section = load_section(db)
            windows = load_windows(db)
            findings = open_findings(db, section, now)
            inputs = Inputs(plan_inputs(section, windows), host_inputs(db, findings))
            hosts = self._scope(db, inputs, section, windows, now)
            if hosts is None:
                done = patches.refresh(db, now, section=section, windows=windows, findings=findings)
            elif hosts:
                mine = [f for f in findings if f.host in hosts]
                done = patches.refresh(
                    db, now, section=section, windows=windows, findings=mine, hosts=hosts
                )
            else:
                done = patches.Refresh([], [], [], [], [])
            firing = alerting.evaluate(db, section, findings, now)
            db.commit()
            actions = dict.fromkeys(patches.STATUSES, 0)
            for status, count in db.execute(
                select(PatchAction.status, func.count()).group_by(PatchAction.status)
            ):
                actions[status] = count
        # Kept only once committed: after a failed pass, the hosts it meant to refresh are
        # still changed for the next one.
        self._inputs = inputs
        if hosts is None:
            self._full_at = now
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
        return Pass(done, firing, actions, None if hosts is None else frozenset(hosts))

    def _scope(
        self,
        db: Session,
        inputs: Inputs,
        section: SecuritySection,
        windows: Mapping[str, MaintenanceWindow],
        now: datetime,
    ) -> set[str] | None:
        """The hosts whose plan this pass refreshes; None for every host."""
        if full_refresh_due(self._inputs, inputs, self._full_at, now, FULL_REFRESH_EVERY):
            return None
        assert self._inputs is not None
        passed = patches.slots_passed(db, now, list(section.patch_windows), windows)
        return changed_hosts(self._inputs, inputs) | passed
