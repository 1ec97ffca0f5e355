"""The release-gate service: one per cluster (the ``releases`` leadership). Every pass it
judges the deploys whose gate is ``pending`` and whose window after the deploy has passed
(:mod:`watchkeeper.releases.gate`), stores the verdict and its figures, and for a regressed
deploy of a service whose gate says ``open_incident`` opens an incident (linked to the diff
and the deploy) through the incidents domain.

A verdict is written with a conditional UPDATE (``WHERE gate = 'pending'``), so a deploy
is judged once even when a replica that takes over runs the same pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.incidents import service as incidents
from watchkeeper.metrics.source import SeriesSource
from watchkeeper.releases.acceptance import accepted
from watchkeeper.releases.config import ReleasesSection, Service
from watchkeeper.releases.deploys import diff_url
from watchkeeper.releases.gate import GateResult, MetricVerdict, evaluate
from watchkeeper.releases.section import load_section
from watchkeeper.releases.views import deploy_url
from watchkeeper.store.tables import Deploy, utcnow
from watchkeeper.telemetry import (
    RELEASE_GATE_LAST_PASS,
    RELEASE_GATE_PASSES,
    RELEASE_GATE_PENDING,
    RELEASE_GATE_VERDICTS,
)

log = logging.getLogger(__name__)
ACTOR = Actor("release-gate")
STARTED_GRACE = timedelta(days=1)
"""How long after its window a deploy may stay ``started`` before the gate gives up."""
BATCH = 100


@dataclass(frozen=True)
class Judged:
    """A deploy the pass gave a verdict to, and the incident it opened (if any)."""

    deploy_id: int
    verdict: str
    incident_id: int | None = None


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _line(m: MetricVerdict) -> str:
    change = f" ({m.relative:+.1%})" if m.relative is not None else ""
    return f"- **{m.name}** ({m.verdict}): {_figure(m.before)} → {_figure(m.after)}{change}"


def incident_summary(deploy: Deploy, result: GateResult, diff: str, link: str) -> str:
    """The incident's summary (Markdown): what regressed, with the figures and the links."""
    replaced = f" (replacing {deploy.previous_version})" if deploy.previous_version else ""
    who = f" by {deploy.author}" if deploy.author else ""
    lines = [
        f"The release gate found {deploy.service} {deploy.version}{replaced} in "
        f"{deploy.environment}, deployed {deploy.deployed_at:%Y-%m-%d %H:%M} UTC{who}, worse "
        f"over the {int(result.window.total_seconds() // 60)} min after the deploy than before:",
        "",
        *(_line(m) for m in result.metrics),
        "",
    ]
    if diff:
        lines.append(f"Diff: {diff}")
    lines.append(f"Deploy: {link}")
    return "\n".join(lines)


class ReleaseGateService:
    """Judges pending deploys (see the module docstring)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        metrics: SeriesSource,
        *,
        base_url: str = "",
        tick: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._base_url = base_url
        self._tick = tick
        self._clock = clock
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.run_once)
                RELEASE_GATE_PASSES.labels("ok").inc()
            except SQLAlchemyError as exc:  # the store is away: try again next pass
                RELEASE_GATE_PASSES.labels("error").inc()
                log.error("release gate: store error %s; retrying", type(exc).__name__)
            except WatchkeeperError as exc:  # e.g. the stored section does not validate
                RELEASE_GATE_PASSES.labels("error").inc()
                log.error("release gate: %s", exc)
            except Exception:  # a bug must not stop the service
                RELEASE_GATE_PASSES.labels("error").inc()
                log.exception("release gate pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._tick)

    async def stop(self) -> None:
        self._stopping.set()

    def run_once(self) -> list[Judged]:
        """One pass: judge every pending deploy whose window has passed."""
        now = self._clock()
        done: list[Judged] = []
        with self._sessions() as db:
            section = load_section(db)
            pending = list(
                db.scalars(
                    select(Deploy)
                    .where(Deploy.gate == "pending")
                    .order_by(Deploy.deployed_at, Deploy.id)
                    .limit(BATCH)
                )
            )
            for deploy in pending:
                judged = self._judge(db, section, deploy, now)
                if judged is not None:
                    db.commit()
                    done.append(judged)
                    RELEASE_GATE_VERDICTS.labels(deploy.service, judged.verdict).inc()
            waiting = db.scalar(select(func.count()).where(Deploy.gate == "pending"))
        RELEASE_GATE_PENDING.set(int(waiting or 0))
        RELEASE_GATE_LAST_PASS.set(now.timestamp())
        for j in done:
            log.info(
                "release gate: deploy #%d %s%s",
                j.deploy_id,
                j.verdict,
                f"; opened incident #{j.incident_id}" if j.incident_id else "",
            )
        return done

    def _judge(
        self, db: Session, section: ReleasesSection, deploy: Deploy, now: datetime
    ) -> Judged | None:
        """Give ``deploy`` its verdict when it is due; None while it is not."""
        service = next((s for s in section.services if s.name == deploy.service), None)
        if service is None or service.gate is None:
            reason = "the service has no release gate in the plan any more"
            return self._store(db, deploy, now, "skipped", {"reason": reason})
        window = service.gate.window
        if deploy.status in ("failed", "rolled_back"):
            reason = f"the deploy {deploy.status.replace('_', ' ')}"
            return self._store(db, deploy, now, "skipped", {"reason": reason})
        if deploy.status == "started":
            if now < deploy.deployed_at + window + STARTED_GRACE:
                return None
            reason = "the deploy never reported success"
            return self._store(db, deploy, now, "skipped", {"reason": reason})
        if now < deploy.deployed_at + window:
            return None
        found = accepted(db, section, deploy) if service.gate.require_acceptance else None
        if service.gate.require_acceptance and found is None:
            reason = (
                f"no accepted release acceptance (UAT) sign-off of a planned release of "
                f"{deploy.service} {deploy.version} to {deploy.environment}"
            )
            return self._store(db, deploy, now, "unaccepted", {"reason": reason})
        result = evaluate(self._metrics, service.gate, deploy.deployed_at)
        detail = result.detail()
        if found is not None:
            detail["acceptance"] = {
                "release": found.release,
                "by": found.by,
                "at": found.at.isoformat(),
            }
            if not service.gate.metrics:  # the sign-off is the whole gate
                detail["verdict"] = "healthy"
                detail["reason"] = f"accepted by {found.by} (planned release {found.release})"
        judged = self._store(db, deploy, now, detail["verdict"], detail)
        if judged is None or result.verdict != "regressed" or not service.gate.open_incident:
            return judged
        incident_id = self._open_incident(db, service, deploy, result, now)
        return Judged(judged.deploy_id, judged.verdict, incident_id)

    def _store(
        self, db: Session, deploy: Deploy, now: datetime, verdict: str, detail: dict[str, object]
    ) -> Judged | None:
        result = db.execute(
            update(Deploy)
            .where(Deploy.id == deploy.id, Deploy.gate == "pending")
            .values(gate=verdict, gate_detail=detail, gate_checked_at=now)
            .execution_options(synchronize_session=False)
        )
        # judged meanwhile (another replica, or a PATCH): leave it
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return Judged(deploy.id, verdict)

    def _open_incident(
        self, db: Session, service: Service, deploy: Deploy, result: GateResult, now: datetime
    ) -> int:
        assert service.gate is not None
        diff = diff_url(service, deploy)
        link = self._base_url.rstrip("/") + deploy_url(deploy)
        incident = incidents.open_incident(
            db,
            title=f"{deploy.service} {deploy.version} regressed in {deploy.environment}"[:300],
            severity=service.gate.severity,
            actor=ACTOR,
            team=service.team,
            services=[deploy.service],
            summary=incident_summary(deploy, result, diff, link),
            now=now,
        )
        if diff.startswith(("http://", "https://")):
            incidents.add_link(db, incident.id, ACTOR, diff, "Diff of the deploy", now=now)
        if link.startswith(("http://", "https://")):
            incidents.add_link(db, incident.id, ACTOR, link, f"Deploy #{deploy.id}", now=now)
        db.execute(
            update(Deploy)
            .where(Deploy.id == deploy.id)
            .values(incident_id=incident.id)
            .execution_options(synchronize_session=False)
        )
        return incident.id
