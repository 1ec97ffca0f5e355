"""Escalation: page the policy's steps in order until someone acknowledges.

An escalation is a row in ``escalations`` (the next step and when it is due), so a restart
continues where it stood. Each step resolves its targets (whoever is on call in a schedule,
a person, a channel) to pages: one outbox notification per contact rule of each person,
the delayed rules ("Slack after 2 min") held in the outbox until their time. Acknowledging
the incident stops the escalation and cancels the pages still waiting.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.incidents import links
from watchkeeper.incidents.oncall_config import EscalationPolicy, OncallSection, Person
from watchkeeper.incidents.plan import load_incidents, load_oncall
from watchkeeper.incidents.timeline import add_event
from watchkeeper.notify.interface import AlertItem, Notification, to_payload
from watchkeeper.notify.outbox import cancel_waiting, enqueue
from watchkeeper.store.tables import Alert, Escalation, Incident, IncidentAlert

log = logging.getLogger(__name__)
ACTOR = "watchkeeper"


@dataclass(frozen=True)
class Pager:
    """What paging needs from the running server: its address and its secret key."""

    base_url: str
    secret_key: str = field(repr=False)


def group_prefix(incident_id: int) -> str:
    """The outbox ``group_key`` prefix of an incident's pages."""
    return f"inc:{incident_id}:"


def page_extra(
    incident: Incident, url: str, person: str, address: str, **more: object
) -> dict[str, object]:
    """The ``extra`` of a page or notice about ``incident`` (``incident`` in templates)."""
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "team": incident.team,
            "services": list(incident.services),
            "drill": incident.drill,
            "major": incident.major,
            "url": url,
            "person": person,
            **more,
        },
        "recipient": address,
    }


def current_cycle(db: Session, incident_id: int) -> int:
    """The run of the incident's escalation that signed links must come from (0: none)."""
    row = db.get(Escalation, incident_id)
    return int(row.started_at.timestamp()) if row is not None else 0


def start(db: Session, incident: Incident, policy: str, now: datetime) -> None:
    """Start (or restart from its first step) the incident's escalation under ``policy``."""
    row = db.get(Escalation, incident.id)
    if row is None:
        row = Escalation(
            incident_id=incident.id, policy=policy, state="active", started_at=now, next_at=now
        )
        db.add(row)
    row.policy, row.step, row.loop, row.state = policy, 0, 0, "active"
    row.started_at = row.next_at = now
    incident.escalation_policy = policy


def stop(db: Session, incident_id: int, reason: str, now: datetime) -> int:
    """Stop the escalation and cancel pages still waiting; return how many were cancelled."""
    row = db.get(Escalation, incident_id)
    if row is not None and row.state == "active":
        row.state = "stopped"
    return cancel_waiting(db, group_prefix(incident_id), reason)


def run_due(db: Session, now: datetime, pager: Pager) -> int:
    """Run every escalation step that is due; return the number of pages queued. The caller
    commits (the step's pages and the escalation's new state in one transaction)."""
    due = list(
        db.scalars(
            select(Escalation)
            .where(Escalation.state == "active", Escalation.next_at <= now)
            .order_by(Escalation.next_at)
            .limit(200)
        )
    )
    if not due:
        return 0
    oncall = load_oncall(db)
    policies = {p.name: p for p in oncall.escalation_policies}
    queued = 0
    for esc in due:
        # locked: an acknowledgement committed meanwhile is seen, one in flight waits
        incident = db.get(Incident, esc.incident_id, with_for_update=True, populate_existing=True)
        if incident is None or incident.status != "triggered":
            esc.state = "stopped"
            continue
        policy = policies.get(esc.policy)
        if policy is None:
            esc.state = "exhausted"
            add_event(
                db,
                incident.id,
                "escalated",
                ACTOR,
                f'escalation policy "{esc.policy}" is not in the plan: nobody was paged',
                at=now,
            )
            continue
        queued += _advance(db, esc, incident, policy, oncall, now, pager)
    return queued


def _advance(
    db: Session,
    esc: Escalation,
    incident: Incident,
    policy: EscalationPolicy,
    oncall: OncallSection,
    now: datetime,
    pager: Pager,
) -> int:
    if esc.step >= len(policy.steps):
        if esc.loop < policy.repeat:
            esc.loop, esc.step = esc.loop + 1, 0
        else:
            esc.state = "exhausted"
            add_event(
                db,
                incident.id,
                "escalated",
                ACTOR,
                f"escalation {policy.name} ran out of steps: nobody acknowledged",
                data={"policy": policy.name},
                at=now,
            )
            return 0
    step = policy.steps[esc.step]
    people: list[str] = []
    channels: list[str] = []
    notes: list[str] = []
    for target in step.notify:
        if target.schedule:
            on_call = _on_call(db, target.schedule, now)
            if not on_call:
                notes.append(f'nobody is on call in schedule "{target.schedule}"')
            people += [p for p in on_call if p not in people]
        elif target.person and target.person not in people:
            people.append(target.person)
        elif target.channel and target.channel not in channels:
            channels.append(target.channel)
    directory = {p.name: p for p in oncall.people}
    queued = 0
    message = _message(db, incident, pager)
    ttl = load_incidents(db).ack_link_ttl
    label = f"step {esc.step + 1}" + (f", round {esc.loop + 1}" if esc.loop else "")
    for name in people:
        person = directory.get(name)
        if person is None or not person.contact:
            notes.append(f"{name} has no contact rules: not paged")
            continue
        queued += _page_person(db, incident, person, message, esc, now, pager, ttl)
    for channel in channels:
        queued += _enqueue(db, incident, channel, "", "", message, esc, 0, now, now, pager, ttl)
    whom = ", ".join(people + [f"channel {c}" for c in channels]) or "nobody"
    add_event(
        db,
        incident.id,
        "escalated",
        ACTOR,
        f"{label} of {policy.name}: paged {whom}" + ("; " + "; ".join(notes) if notes else ""),
        data={
            "policy": policy.name,
            "step": esc.step,
            "loop": esc.loop,
            "people": people,
            "channels": channels,
        },
        at=now,
    )
    esc.next_at = now + step.escalate_after
    esc.step += 1
    return queued


def _on_call(db: Session, schedule: str, now: datetime) -> list[str]:
    from watchkeeper.incidents.overrides import who_is_on_call

    return who_is_on_call(db, schedule, now)


def _page_person(
    db: Session,
    incident: Incident,
    person: Person,
    message: Notification,
    esc: Escalation,
    now: datetime,
    pager: Pager,
    ttl: timedelta,
) -> int:
    queued = 0
    for i, rule in enumerate(person.contact):
        queued += _enqueue(
            db,
            incident,
            rule.channel,
            person.name,
            rule.address,
            message,
            esc,
            i,
            now,
            now + rule.after,
            pager,
            ttl,
        )
    return queued


def _enqueue(
    db: Session,
    incident: Incident,
    channel: str,
    person: str,
    address: str,
    message: Notification,
    esc: Escalation,
    rule: int,
    now: datetime,
    at: datetime,
    pager: Pager,
    ttl: timedelta,
) -> int:
    base = f"{pager.base_url}/incidents/{incident.id}"
    who = person or f"channel {channel}"
    cycle = int(esc.started_at.timestamp())
    signed = {
        action: f"{pager.base_url}/i/"
        + links.sign(pager.secret_key, incident.id, action, who, ttl, now, cycle)
        # a channel reaches a whole team (and its service): it may acknowledge, not resolve
        for action in (("ack", "resolve") if person else ("ack",))
    }
    extra = page_extra(
        incident,
        base,
        person,
        address,
        ack_url=signed["ack"],
        resolve_url=signed.get("resolve", ""),
        step=esc.step + 1,
    )
    payload = to_payload(message)
    payload["extra"] = extra
    batch = f"inc:{incident.id}:{cycle}:{esc.loop}:{esc.step}"
    key = hashlib.sha256(f"{batch}:{person}:{rule}:{channel}".encode()).hexdigest()
    group = (group_prefix(incident.id) + (person or f"#{channel}"))[:64]
    return int(
        enqueue(
            db,
            key=key,
            batch=batch,
            channel=channel,
            group_key=group,
            payload=payload,
            now=now,
            not_before=at,
        )
    )


def _message(db: Session, incident: Incident, pager: Pager) -> Notification:
    """The page: the incident's firing alerts (or none, for an incident opened by hand)."""
    rows = db.scalars(
        select(Alert)
        .join(IncidentAlert, IncidentAlert.alert_id == Alert.id)
        .where(IncidentAlert.incident_id == incident.id, Alert.state == "firing")
        .order_by(Alert.id)
        .limit(50)
    ).all()
    alerts = [
        AlertItem(
            fingerprint=a.fingerprint,
            status="firing",
            labels=dict(a.labels),
            annotations=dict(a.annotations or {}),
            starts_at=a.fired_at or a.active_at,
            value=a.value,
            rule=a.rule,
            url=f"{pager.base_url}/alerts/{a.id}",
        )
        for a in rows
    ]
    return Notification(
        id=0,
        key="",
        channel="",
        status="firing",
        group_key=group_prefix(incident.id),
        group_labels={},
        common_labels={},
        common_annotations={"summary": incident.title},
        alerts=alerts,
        external_url=pager.base_url,
        group_url=f"{pager.base_url}/incidents/{incident.id}",
    )
