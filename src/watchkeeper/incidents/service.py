"""An incident's life: open, acknowledge, resolve, reopen; assign, notes, links, severity.

Every change is one transaction with its timeline entry (and, for changes people make, an
audit record). The caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.incidents import escalation
from watchkeeper.incidents.config import SEVERITIES
from watchkeeper.incidents.plan import load_incidents, load_oncall
from watchkeeper.incidents.timeline import add_event
from watchkeeper.notify.interface import Notification, to_payload
from watchkeeper.notify.outbox import enqueue
from watchkeeper.store.tables import (
    Alert,
    DrillRun,
    Incident,
    IncidentAlert,
    utcnow,
)

STATUSES = ("triggered", "acknowledged", "resolved")
_URL = re.compile(r"https?://\S+")


def get(db: Session, incident_id: int, lock: bool = False) -> Incident:
    """The incident; ``lock``: hold its row until commit (PostgreSQL), so that a user's
    acknowledgement and the engine's next escalation step do not cross."""
    incident = db.get(Incident, incident_id, with_for_update=lock, populate_existing=lock)
    if incident is None:
        raise NotFoundError(f"no incident #{incident_id}")
    return incident


def list_incidents(
    db: Session,
    *,
    status: Sequence[str] = (),
    team: str = "",
    service: str = "",
    drills: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Incident], int]:
    """Incidents newest first, and how many match in all."""
    query = select(Incident)
    if status:
        query = query.where(Incident.status.in_(list(status)))
    if team:
        query = query.where(Incident.team == team)
    if not drills:
        query = query.where(Incident.drill == "")
    query = query.order_by(Incident.opened_at.desc(), Incident.id.desc())
    if service:  # a JSON list: filtered here (a team has thousands of incidents, not more)
        rows = [r for r in db.scalars(query) if service in (r.services or [])]
        return rows[offset : offset + limit], len(rows)
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return list(db.scalars(query.limit(limit).offset(offset))), int(total or 0)


def _check(
    title: str,
    severity: str,
    team: str = "",
    commander: str = "",
    services: Sequence[str] = (),
    assignees: Sequence[str] = (),
) -> None:
    """Raise ValidationFailed naming every field that does not fit."""
    errors = []
    if not title.strip():
        errors.append(("title", "must not be empty"))
    elif len(title) > 300:
        errors.append(("title", "at most 300 characters"))
    if severity not in SEVERITIES:
        errors.append(("severity", f"must be one of {', '.join(SEVERITIES)}"))
    for field, value in (("team", team), ("commander", commander)):
        if len(value) > 128:
            errors.append((field, "at most 128 characters"))
    for field, values, most in (("services", services, 50), ("assignees", assignees, 20)):
        if len(values) > most:
            errors.append((field, f"at most {most}"))
        elif any(len(v) > 128 for v in values):
            errors.append((field, "each at most 128 characters"))
    if errors:
        raise ValidationFailed("invalid incident", errors)


def open_incident(
    db: Session,
    *,
    title: str,
    severity: str,
    actor: Actor,
    team: str = "",
    services: Sequence[str] = (),
    summary: str = "",
    commander: str = "",
    assignees: Sequence[str] = (),
    escalation_policy: str = "",
    group_key: str | None = None,
    drill: str = "",
    now: datetime | None = None,
) -> Incident:
    """Open an incident and start its escalation (when a policy is given)."""
    _check(title, severity, team, commander, services, assignees)
    if escalation_policy and escalation_policy not in {
        p.name for p in load_oncall(db).escalation_policies
    }:
        raise ValidationFailed(
            "invalid incident",
            [("escalation_policy", f'no escalation policy is named "{escalation_policy}"')],
        )
    at = now or utcnow()
    incident = Incident(
        title=title.strip(),
        severity=severity,
        status="triggered",
        group_key=group_key,
        team=team,
        services=sorted(set(services)),
        assignees=list(dict.fromkeys(assignees)),
        commander=commander,
        escalation_policy=escalation_policy,
        summary=summary,
        major=False,
        drill=drill,
        opened_at=at,
        opened_by=actor.name,
        acknowledged_by="",
        resolved_by="",
    )
    db.add(incident)
    db.flush()
    how = "from alert group" if group_key else "by hand"
    add_event(db, incident.id, "opened", actor.name, f"opened {how}: {incident.title}", at=at)
    if actor.name != escalation.ACTOR:
        audit.record(db, actor, "incident.open", f"incident:{incident.id}", {"title": title})
    if escalation_policy:
        escalation.start(db, incident, escalation_policy, at)
    return incident


def acknowledge(
    db: Session, incident_id: int, actor: Actor, via: str = "", now: datetime | None = None
) -> Incident:
    """Acknowledge: stop the escalation (idempotent on an acknowledged incident)."""
    incident = get(db, incident_id, lock=True)
    if incident.status == "resolved":
        raise ConflictError(f"incident #{incident_id} is resolved; reopen it first")
    if incident.status == "acknowledged":
        return incident
    at = now or utcnow()
    incident.status = "acknowledged"
    incident.acknowledged_at = incident.acknowledged_at or at
    incident.acknowledged_by = incident.acknowledged_by or actor.name
    cancelled = escalation.stop(db, incident.id, f"incident acknowledged by {actor.name}", at)
    text = "acknowledged" + (f" via {via}" if via else "")
    if cancelled:
        text += f"; {cancelled} waiting page(s) cancelled"
    add_event(db, incident.id, "acknowledged", actor.name, text, {"via": via}, at=at)
    # its alerts are acknowledged too: their route notifications stop repeating
    db.execute(
        update(Alert)
        .where(
            Alert.id.in_(
                select(IncidentAlert.alert_id).where(IncidentAlert.incident_id == incident.id)
            ),
            Alert.state == "firing",
            Alert.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=at, acknowledged_by=actor.name[:128])
        .execution_options(synchronize_session=False)
    )
    _drill_acknowledged(db, incident, actor.name, at)
    audit.record(db, actor, "incident.acknowledge", f"incident:{incident.id}", {"via": via})
    return incident


def resolve(
    db: Session,
    incident_id: int,
    actor: Actor,
    note: str = "",
    via: str = "",
    now: datetime | None = None,
) -> Incident:
    incident = get(db, incident_id, lock=True)
    if incident.status == "resolved":
        return incident
    at = now or utcnow()
    incident.status = "resolved"
    incident.resolved_at = at
    incident.resolved_by = actor.name
    escalation.stop(db, incident.id, f"incident resolved by {actor.name}", at)
    text = "resolved" + (f" via {via}" if via else "") + (f": {note}" if note else "")
    add_event(db, incident.id, "resolved", actor.name, text, {"via": via}, at=at)
    if actor.name != escalation.ACTOR:
        audit.record(db, actor, "incident.resolve", f"incident:{incident.id}", {"via": via})
    _drill_closed(db, incident, at)
    return incident


def reopen(
    db: Session, incident_id: int, actor: Actor, reason: str = "", now: datetime | None = None
) -> Incident:
    """Reopen a resolved incident: triggered again, its escalation from the first step."""
    incident = get(db, incident_id)
    if incident.status != "resolved":
        raise ConflictError(f"incident #{incident_id} is not resolved")
    at = now or utcnow()
    incident.status = "triggered"
    incident.resolved_at, incident.resolved_by = None, ""
    incident.acknowledged_at, incident.acknowledged_by = None, ""
    add_event(db, incident.id, "reopened", actor.name, reason or "reopened", at=at)
    if incident.escalation_policy:
        escalation.start(db, incident, incident.escalation_policy, at)
    if actor.name != escalation.ACTOR:
        audit.record(db, actor, "incident.reopen", f"incident:{incident.id}", {})
    return incident


def update_fields(
    db: Session,
    incident_id: int,
    actor: Actor,
    *,
    title: str | None = None,
    severity: str | None = None,
    team: str | None = None,
    services: Sequence[str] | None = None,
    assignees: Sequence[str] | None = None,
    commander: str | None = None,
    summary: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Change the given fields; each change is a timeline entry."""
    incident = get(db, incident_id)
    _check(
        title if title is not None else incident.title,
        severity if severity is not None else incident.severity,
        team or "",
        commander or "",
        services or (),
        assignees or (),
    )
    at = now or utcnow()
    changes: dict[str, object] = {}
    if title is not None and title.strip() != incident.title:
        incident.title = changes["title"] = title.strip()
    if severity is not None and severity != incident.severity:
        add_event(
            db,
            incident.id,
            "severity",
            actor.name,
            f"severity {incident.severity} → {severity}",
            at=at,
        )
        incident.severity = changes["severity"] = severity
    if team is not None and team != incident.team:
        incident.team = changes["team"] = team
    if services is not None and sorted(set(services)) != incident.services:
        incident.services = changes["services"] = sorted(set(services))
    if summary is not None and summary != incident.summary:
        incident.summary = changes["summary"] = summary
    who = []
    if assignees is not None and list(dict.fromkeys(assignees)) != incident.assignees:
        incident.assignees = changes["assignees"] = list(dict.fromkeys(assignees))
        who.append("assignees: " + (", ".join(incident.assignees) or "nobody"))
    if commander is not None and commander != incident.commander:
        incident.commander = changes["commander"] = commander
        who.append(f"commander: {commander or 'nobody'}")
    if who:
        add_event(db, incident.id, "assigned", actor.name, "; ".join(who), at=at)
    other = {k: v for k, v in changes.items() if k in ("title", "team", "services", "summary")}
    if other:
        add_event(
            db,
            incident.id,
            "note",
            actor.name,
            "changed " + ", ".join(sorted(other)),
            {"changes": other},
            at=at,
        )
    if changes:
        audit.record(db, actor, "incident.update", f"incident:{incident.id}", changes)
    return incident


def add_note(
    db: Session, incident_id: int, actor: Actor, text: str, now: datetime | None = None
) -> None:
    get(db, incident_id)
    if not text.strip():
        raise ValidationFailed("invalid note", [("text", "must not be empty")])
    if len(text) > 20_000:
        raise ValidationFailed("invalid note", [("text", "at most 20,000 characters")])
    add_event(db, incident_id, "note", actor.name, text.strip(), at=now)


def add_link(
    db: Session,
    incident_id: int,
    actor: Actor,
    url: str,
    title: str = "",
    now: datetime | None = None,
) -> None:
    get(db, incident_id)
    if not _URL.fullmatch(url.strip()):
        raise ValidationFailed("invalid link", [("url", "must be an http(s) URL")])
    add_event(
        db,
        incident_id,
        "link",
        actor.name,
        title.strip() or url.strip(),
        {"url": url.strip()},
        at=now,
    )


def declare_major(
    db: Session, incident_id: int, actor: Actor, base_url: str, now: datetime | None = None
) -> int:
    """Declare a major incident: raise the severity, start the major-incident escalation,
    and notify every stakeholder of the emergency directory. Return notifications queued."""
    incident = get(db, incident_id)
    if incident.status == "resolved":
        raise ConflictError(f"incident #{incident_id} is resolved; reopen it first")
    at = now or utcnow()
    plan = load_incidents(db)
    major = plan.major_incident
    incident.major = True
    if incident.severity != major.severity:
        add_event(
            db,
            incident.id,
            "severity",
            actor.name,
            f"severity {incident.severity} → {major.severity}",
            at=at,
        )
        incident.severity = major.severity
    queued, told = 0, []
    url = f"{base_url}/incidents/{incident.id}"
    for contact in plan.contacts:
        if not contact.stakeholder or not contact.channel:
            continue
        message = Notification(
            id=0,
            key="",
            channel="",
            status="firing",
            group_key=f"major:{incident.id}",
            group_labels={},
            common_labels={},
            common_annotations={"summary": f"Major incident declared: {incident.title}"},
            alerts=[],
            external_url=base_url,
            group_url=url,
        )
        payload = to_payload(message)
        payload["extra"] = escalation.page_extra(incident, url, contact.name, contact.address)
        key = f"major:{incident.id}:{contact.name}"[:64]
        if enqueue(
            db,
            key=key,
            batch=f"major:{incident.id}",
            channel=contact.channel,
            group_key=key,
            payload=payload,
            now=at,
        ):
            queued += 1
            told.append(contact.name)
    if major.escalation and incident.status == "triggered":
        escalation.start(db, incident, major.escalation, at)
    add_event(
        db,
        incident.id,
        "major",
        actor.name,
        "declared a major incident; stakeholders notified: " + (", ".join(told) or "none"),
        {"stakeholders": told},
        at=at,
    )
    audit.record(db, actor, "incident.major", f"incident:{incident.id}", {"stakeholders": told})
    return queued


def counts(db: Session) -> dict[str, int]:
    """Open incidents by status (for the navigation and /metrics)."""
    rows = db.execute(
        select(Incident.status, func.count())
        .where(Incident.status != "resolved")
        .group_by(Incident.status)
    ).all()
    return {str(s): int(n) for s, n in rows}


def _drill_acknowledged(db: Session, incident: Incident, who: str, at: datetime) -> None:
    if not incident.drill:
        return
    run = db.scalar(
        select(DrillRun).where(DrillRun.incident_id == incident.id, DrillRun.result == "running")
    )
    if run is not None:
        run.acknowledged_at, run.acknowledged_by, run.result = at, who, "acknowledged"
        add_event(
            db,
            incident.id,
            "drill",
            escalation.ACTOR,
            f"drill acknowledged after {int((at - run.started_at).total_seconds())} s",
            at=at,
        )


def _drill_closed(db: Session, incident: Incident, at: datetime) -> None:
    if not incident.drill:
        return
    for run in db.scalars(
        select(DrillRun).where(DrillRun.incident_id == incident.id, DrillRun.closed_at.is_(None))
    ):
        run.closed_at = at
        if run.result == "running":
            run.result = "missed"
