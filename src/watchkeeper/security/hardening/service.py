"""The hardening service: one per cluster (the ``hardening`` leadership). Every ``tick`` it

- audits this server (its machine and Watchkeeper's own posture) when the interval of the
  profile matching the machine (or the default, a day) has passed since its last run;
- audits each TLS endpoint (the plan's and this server's own listener) the same way, with
  the same profile's interval and skipped checks;
- runs the audits an admin asked for now (a request newer than the host's last run; see
  ``audits.audit_now``), woken at once when this process took the request;
- keeps the ``/metrics`` gauges in line with every host's latest run (agents push theirs
  to any replica), and prunes runs older than ``security.history`` every hour.

When a host was last audited and when an audit was asked are read from the store, so a
restart or a replica taking over neither audits again before the interval is up nor loses
a request. Audits run here one after the other, never two at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from watchkeeper.runtime.periodic import Periodic, PeriodicService
from watchkeeper.security.hardening import runs
from watchkeeper.security.hardening.audits import (
    audit_endpoints,
    audit_server,
    pending,
    requests,
    server_host,
    server_profile,
)
from watchkeeper.security.hardening.endpoints import plan_endpoints, with_own_endpoint
from watchkeeper.security.hardening.runner import Report
from watchkeeper.security.section import SectionUnreadable, load_section
from watchkeeper.settings import Settings
from watchkeeper.store.kind_version import KindCache
from watchkeeper.store.tables import utcnow

log = logging.getLogger(__name__)
PRUNE_EVERY = timedelta(hours=1)


class HardeningService(PeriodicService):
    """Runs the server's and the endpoints' hardening audits (see the module docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        settings: Settings,
        *,
        tick: float = 60.0,
        start_delay: float = 0.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._loop = Periodic(
            "hardening",
            self.run_once,
            tick,
            log=log,
            # no audit until the plan is re-applied
            lasting=(SectionUnreadable,),
            lasting_message="hardening: no audit: %s",
            # the server's own headers are checked over HTTP: let the listener come up first
            start_delay=start_delay,
        )
        self._pruned_at: datetime | None = None
        # The plan's endpoints, read again only when the stored checks changed: each pass
        # would otherwise decode every check's spec (ten thousand of them, every minute).
        self._plan_endpoints = KindCache("checks", plan_endpoints)

    async def run_once(self) -> list[Report]:
        """Run what is due, record it, refresh the gauges; return the new reports."""
        return await asyncio.to_thread(self._pass)

    def _pass(self) -> list[Report]:
        now = self._clock()
        host = server_host()
        with self._sessions() as db:
            applied = server_profile(db)
            endpoints = with_own_endpoint(self._plan_endpoints.get(db), self._settings)
            names = [host, *(e.name for e in endpoints)]
            last = runs.last_ran(db, names)
            asked = requests(db, names)
            history = load_section(db).history
        every = applied.profile.interval

        def due(name: str) -> bool:
            at = last.get(name)
            return at is None or now - at >= every or pending(asked.get(name), at)

        reports: list[Report] = []
        if due(host):
            reports.append(audit_server(self._settings, self._sessions, applied))
        reports += audit_endpoints([e for e in endpoints if due(e.name)], applied)
        with self._sessions() as db:
            for report in reports:
                runs.record(db, report)
                log.info(
                    "hardening audit of %s: index %s (%d failed, %d error(s))",
                    report.host,
                    f"{report.index:g}" if report.possible else "n/a",
                    report.count("fail"),
                    report.count("error"),
                )
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                pruned = runs.prune(db, history)
                self._pruned_at = now
                if pruned:
                    log.info("hardening: %d run(s) older than %s pruned", pruned, history)
            db.commit()
            runs.refresh_gauges(db)
        return reports
