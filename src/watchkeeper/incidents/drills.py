"""Drills (game days): a synthetic alert, labelled ``drill="<name>"``, sent through the real
path — routing, grouping, the incident, escalation, notifications — then closed by itself.

A run records when it started and when someone acknowledged its incident. Acknowledged runs
close at the next tick (the alert and the incident resolve); runs nobody acknowledges within
the drill's ``timeout`` close as missed.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError
from watchkeeper.incidents import service
from watchkeeper.incidents.config import Drill
from watchkeeper.incidents.from_alerts import DRILL_LABEL, ROBOT
from watchkeeper.incidents.plan import load_incidents
from watchkeeper.incidents.timeline import add_event
from watchkeeper.store.tables import Alert, AlertEvent, DrillRun, IncidentAlert

DRILL_RULE = "watchkeeper:drill"
log = logging.getLogger(__name__)


def _drill(db: Session, name: str) -> Drill:
    for drill in load_incidents(db).drills:
        if drill.name == name:
            return drill
    raise NotFoundError(f'no drill is named "{name}" (declare it in `incidents.drills`)')


def start(db: Session, name: str, actor: Actor, now: datetime) -> DrillRun:
    """Fire the drill's synthetic alert and record the run. The caller commits."""
    drill = _drill(db, name)
    labels = {
        "severity": "critical",
        **drill.labels,
        "alertname": f"Drill {drill.name}",
        DRILL_LABEL: drill.name,
    }
    fingerprint = hashlib.sha256(f"{drill.name}:{now.isoformat()}".encode()).hexdigest()[:16]
    alert = Alert(
        rule=DRILL_RULE,
        fingerprint=fingerprint,
        labels=labels,
        annotations={
            "summary": drill.summary,
            "description": "This is a drill, not a real problem. Acknowledge it as you would "
            "a real incident; it closes by itself.",
        },
        severity=labels["severity"]
        if labels["severity"] in ("critical", "warning", "info")
        else "critical",
        state="firing",
        active_at=now,
        fired_at=now,
        last_true_at=now,
        muted="",
        muted_by=[],
    )
    db.add(alert)
    db.flush()
    db.add(AlertEvent(alert_id=alert.id, at=now, event="firing", detail="drill"))
    run = DrillRun(
        name=drill.name,
        alert_id=alert.id,
        started_at=now,
        started_by=actor.name,
        acknowledged_by="",
        result="running",
    )
    db.add(run)
    db.flush()
    if actor.name != ROBOT.name:
        audit.record(db, actor, "drill.start", f"drill:{drill.name}", {"run": run.id})
    log.info("drill %s started (run %d)", drill.name, run.id)
    return run


def _resolve_alert(db: Session, alert_id: int | None, now: datetime) -> None:
    alert = db.get(Alert, alert_id) if alert_id is not None else None
    if alert is not None and alert.state == "firing":
        alert.state, alert.resolved_at = "resolved", now
        db.add(AlertEvent(alert_id=alert.id, at=now, event="resolved", detail="drill closed"))


def tick(db: Session, now: datetime, since: datetime) -> int:
    """Link runs to their incidents, close acknowledged and timed-out runs, start scheduled
    drills that came due after ``since``; return how many runs changed. Caller commits."""
    changed = 0
    drills = {d.name: d for d in load_incidents(db).drills}
    for run in db.scalars(select(DrillRun).where(DrillRun.closed_at.is_(None))):
        if run.incident_id is None:
            run.incident_id = db.scalar(
                select(IncidentAlert.incident_id).where(IncidentAlert.alert_id == run.alert_id)
            )
        drill = drills.get(run.name)
        timed_out = drill is None or now >= run.started_at + drill.timeout
        if run.result == "acknowledged" or timed_out:
            if run.result == "running":
                run.result = "missed"
            run.closed_at = now
            _resolve_alert(db, run.alert_id, now)
            if run.incident_id is not None:
                incident = service.get(db, run.incident_id)
                if incident.status != "resolved":
                    add_event(
                        db,
                        incident.id,
                        "drill",
                        ROBOT.name,
                        f"drill {run.name} closed: {run.result}",
                        at=now,
                    )
                    service.resolve(db, incident.id, ROBOT, note="drill closed", now=now)
            changed += 1
    for drill in drills.values():
        if drill.schedule is None:
            continue
        zone = ZoneInfo(drill.time_zone)
        last = db.scalar(select(func.max(DrillRun.started_at)).where(DrillRun.name == drill.name))
        base = max(since, last) if last is not None else since
        due = croniter(drill.schedule, base.astimezone(zone)).get_next(datetime)
        if due <= now:
            start(db, drill.name, ROBOT, now)
            changed += 1
    return changed


def runs(db: Session, limit: int = 200) -> list[DrillRun]:
    return list(db.scalars(select(DrillRun).order_by(DrillRun.started_at.desc()).limit(limit)))
