"""Incidents as the API and UI show them: the full timeline, with the notifications sent for
the incident and their delivery results merged in from the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from watchkeeper.incidents.escalation import group_prefix
from watchkeeper.incidents.service import get
from watchkeeper.incidents.timeline import events
from watchkeeper.store.tables import (
    Alert,
    Escalation,
    Incident,
    IncidentAlert,
    IncidentEvent,
    OutboxNotification,
)


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str
    actor: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRef:
    id: int
    name: str
    state: str
    severity: str
    labels: dict[str, str]
    since: datetime


@dataclass(frozen=True)
class EscalationState:
    policy: str
    state: str
    step: int
    loop: int
    next_at: datetime | None


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    timeline: list[Entry]
    alerts: list[AlertRef]
    escalation: EscalationState | None

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        i = self.incident
        return i.acknowledged_at - i.opened_at if i.acknowledged_at else None

    @property
    def time_to_resolve(self) -> timedelta | None:
        i = self.incident
        return i.resolved_at - i.opened_at if i.resolved_at else None


def _delivery(row: OutboxNotification, now: datetime) -> Entry:
    """One timeline entry for an outbox row: what was sent to whom, and how it went."""
    extra = (row.payload or {}).get("extra") or {}
    incident = extra.get("incident") or {}
    person = incident.get("person", "")
    if incident and person:
        what = f"{'notice' if incident.get('major') and not incident.get('ack_url') else 'page'}"
        what += f" to {person} via {row.channel}"
    else:
        what = f"notification via {row.channel}"
    at = row.created_at
    if row.status == "delivered":
        result, how, at = "delivered", "delivered", row.delivered_at or row.created_at
    elif row.status in ("failed", "cancelled"):
        result, how = row.status, f"{row.status} ({row.last_error})"
    elif row.next_attempt_at > now and row.attempts == 0:
        result, how = "waiting", f"waiting until {row.next_attempt_at:%H:%M:%S} UTC"
    else:
        tries = f" after {row.attempts} attempt(s): {row.last_error}" if row.attempts else ""
        result, how = "sending", f"sending{tries}"
    return Entry(
        at, "notified", "watchkeeper", f"{what}: {how}", {"channel": row.channel, "result": result}
    )


def _group_keys(incident: Incident, entries: list[IncidentEvent]) -> set[str]:
    """The outbox groups of the incident's pages and notices, from its timeline (exact
    keys: the group_key index serves them)."""
    keys: set[str] = set()
    for e in entries:
        data = e.data or {}
        if e.kind == "escalated":
            keys.update((group_prefix(incident.id) + p)[:64] for p in data.get("people", []))
            keys.update(
                (group_prefix(incident.id) + f"#{c}")[:64] for c in data.get("channels", [])
            )
        elif e.kind == "major":
            keys.update(f"major:{incident.id}:{name}"[:64] for name in data.get("stakeholders", []))
    return keys


def notifications_of(
    db: Session, incident: Incident, entries: list[IncidentEvent]
) -> list[OutboxNotification]:
    """The incident's pages and notices, and its alert group's route notifications sent
    while it was open."""
    conditions: list[ColumnElement[bool]] = []
    keys = sorted(_group_keys(incident, entries))
    if keys:
        conditions.append(OutboxNotification.group_key.in_(keys))
    if incident.group_key:
        during = OutboxNotification.created_at >= incident.opened_at - timedelta(minutes=1)
        if incident.resolved_at is not None:
            during &= OutboxNotification.created_at <= incident.resolved_at + timedelta(minutes=1)
        conditions.append((OutboxNotification.group_key == incident.group_key) & during)
    if not conditions:
        return []
    return list(
        db.scalars(
            select(OutboxNotification).where(or_(*conditions)).order_by(OutboxNotification.id)
        )
    )


def incident_view(db: Session, incident_id: int, now: datetime) -> IncidentView:
    incident = get(db, incident_id)
    stored = events(db, incident_id)
    timeline = [Entry(e.at, e.kind, e.actor, e.text, dict(e.data or {})) for e in stored]
    timeline += [_delivery(n, now) for n in notifications_of(db, incident, stored)]
    timeline.sort(key=lambda e: e.at)
    alerts = [
        AlertRef(
            a.id,
            a.labels.get("alertname", a.rule),
            a.state,
            a.severity,
            dict(a.labels),
            a.fired_at or a.active_at,
        )
        for a in db.scalars(
            select(Alert)
            .join(IncidentAlert, IncidentAlert.alert_id == Alert.id)
            .where(IncidentAlert.incident_id == incident_id)
            .order_by(Alert.id)
        )
    ]
    esc = db.get(Escalation, incident_id)
    state = (
        EscalationState(
            esc.policy,
            esc.state,
            esc.step,
            esc.loop,
            esc.next_at if esc.state == "active" else None,
        )
        if esc is not None
        else None
    )
    return IncidentView(incident, timeline, alerts, state)
