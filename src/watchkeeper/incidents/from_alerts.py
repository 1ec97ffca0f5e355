"""Incidents from alert groups: one incident per aggregation group, later alerts join it.

An alert group opens an incident when it is first notified (after ``group_wait``; muted
alerts never reach a group's notified set) and one of the plan's ``incidents.auto_open``
entries matches one of its alerts. Alerts the group notifies later join the incident; their
resolution is written on the timeline, and when every alert of an auto-opened incident has
resolved, the incident resolves too (``auto_resolve``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.matchers import matches, parse_matchers
from watchkeeper.auth.audit import Actor
from watchkeeper.incidents import escalation, service
from watchkeeper.incidents.config import AutoOpen, IncidentsSection, Severity
from watchkeeper.incidents.plan import load_incidents
from watchkeeper.incidents.timeline import add_event
from watchkeeper.metrics.labels import Matcher
from watchkeeper.store.tables import Alert, AlertGroup, Incident, IncidentAlert

DRILL_LABEL = "drill"
ROBOT = Actor(escalation.ACTOR)
_RANK = {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4}


@dataclass
class GroupTracker:
    """Remembers which group flushes were handled, so a tick only reads changed groups."""

    seen: dict[str, int] = field(default_factory=dict)

    def changed(self, groups: Sequence[tuple[str, int]]) -> list[str]:
        out = [key for key, flushes in groups if self.seen.get(key) != flushes]
        self.seen = dict(groups)
        return out

    def forget(self, key: str) -> None:
        self.seen.pop(key, None)


def _severity(alerts: Sequence[Alert], plan: IncidentsSection) -> Severity:
    mapped = [getattr(plan.severity_map, a.severity, plan.severity_map.warning) for a in alerts]
    return min(mapped, key=lambda s: _RANK[s]) if mapped else plan.severity_map.warning


def _title(alerts: Sequence[Alert], group_labels: Mapping[str, str]) -> str:
    first = alerts[0]
    summary = " ".join((first.annotations or {}).get("summary", "").split())
    name = first.labels.get("alertname", first.rule) or "alert"
    extra = " ".join(v for k, v in sorted(group_labels.items()) if k != "alertname")
    title = summary or name + (f" {extra}" if extra else "")
    if len(alerts) > 1:
        title += f" (+{len(alerts) - 1} more)"
    return title[:300]


def _rule_for(
    alerts: Sequence[Alert], rules: Sequence[tuple[list[Matcher], AutoOpen]]
) -> AutoOpen | None:
    for ms, rule in rules:
        if any(matches(a.labels, ms) for a in alerts):
            return rule
    return None


def sync(db: Session, now: datetime, tracker: GroupTracker) -> int:
    """Open, join and resolve incidents from the alert groups; return how many changed.
    The caller commits."""
    plan = load_incidents(db)
    changed = 0
    rows = db.execute(
        select(AlertGroup.key, AlertGroup.flushes).where(AlertGroup.last_flush_at.is_not(None))
    ).all()
    keys = tracker.changed([(r.key, r.flushes) for r in rows])
    if keys:
        rules = [(parse_matchers(r.matchers), r) for r in plan.auto_open]
        for key in keys:
            group = db.get(AlertGroup, key)
            if group is not None:
                changed += _group(db, group, plan, rules, now)
    changed += _resolved_alerts(db, plan, now)
    return changed


def _group(
    db: Session,
    group: AlertGroup,
    plan: IncidentsSection,
    rules: Sequence[tuple[list[Matcher], AutoOpen]],
    now: datetime,
) -> int:
    fps = sorted(fp for fp, how in (group.notified or {}).items() if how == "firing")
    if not fps:
        return 0
    alerts: list[Alert] = []
    for i in range(0, len(fps), 500):
        alerts += db.scalars(
            select(Alert).where(Alert.fingerprint.in_(fps[i : i + 500]), Alert.state == "firing")
        )
    if not alerts:
        return 0
    alerts.sort(key=lambda a: a.id)
    incident = db.scalar(
        select(Incident)
        .where(Incident.group_key == group.key, Incident.status != "resolved")
        .order_by(Incident.id.desc())
        .limit(1)
    )
    if incident is None:
        # alerts that were in an incident already (resolved by hand while they still fire)
        # do not open another one; new alerts of the group do
        seen: set[int] = set()
        ids = [a.id for a in alerts]
        for i in range(0, len(ids), 500):
            seen.update(
                db.scalars(
                    select(IncidentAlert.alert_id).where(
                        IncidentAlert.alert_id.in_(ids[i : i + 500])
                    )
                )
            )
        alerts = [a for a in alerts if a.id not in seen]
        if not alerts:
            return 0
        drill = next((a.labels[DRILL_LABEL] for a in alerts if a.labels.get(DRILL_LABEL)), "")
        rule = _rule_for(alerts, rules)
        if rule is None and not drill:
            return 0
        policy = (rule.escalation if rule else None) or ""
        if drill:
            policy = _drill_policy(db, drill) or policy
        incident = service.open_incident(
            db,
            title=_title(alerts, group.group_labels),
            severity=_severity(alerts, plan),
            actor=ROBOT,
            team=rule.team if rule else "",
            services=sorted(
                {a.labels[plan.service_label] for a in alerts if a.labels.get(plan.service_label)}
            ),
            escalation_policy="",  # started below, after the alerts joined (the page lists them)
            group_key=group.key,
            drill=drill,
            now=now,
        )
        _join(db, incident, alerts, plan, now)
        if policy:
            escalation.start(db, incident, policy, now)
        return 1
    return 1 if _join(db, incident, alerts, plan, now) else 0


def _drill_policy(db: Session, drill: str) -> str:
    for d in load_incidents(db).drills:
        if d.name == drill:
            return d.escalation or ""
    return ""


def _join(
    db: Session,
    incident: Incident,
    alerts: Sequence[Alert],
    plan: IncidentsSection,
    now: datetime,
) -> int:
    linked = set(
        db.scalars(select(IncidentAlert.alert_id).where(IncidentAlert.incident_id == incident.id))
    )
    new = [a for a in alerts if a.id not in linked]
    for alert in new:
        db.add(
            IncidentAlert(
                incident_id=incident.id, alert_id=alert.id, joined_at=now, resolved_seen=False
            )
        )
        summary = (alert.annotations or {}).get("summary", "")
        add_event(
            db,
            incident.id,
            "alert_firing",
            escalation.ACTOR,
            f"{alert.labels.get('alertname', alert.rule)} firing"
            + (f": {summary}" if summary else ""),
            {"alert_id": alert.id, "labels": dict(alert.labels)},
            at=now,
        )
    if new and linked:
        severity = _severity(new, plan)
        if _RANK[severity] < _RANK[incident.severity]:
            add_event(
                db,
                incident.id,
                "severity",
                escalation.ACTOR,
                f"severity {incident.severity} → {severity} (a more severe alert joined)",
                at=now,
            )
            incident.severity = severity
        services = {a.labels[plan.service_label] for a in new if a.labels.get(plan.service_label)}
        if not services <= set(incident.services):
            incident.services = sorted(set(incident.services) | services)
    return len(new)


def _resolved_alerts(db: Session, plan: IncidentsSection, now: datetime) -> int:
    rows = db.execute(
        select(IncidentAlert, Alert)
        .join(Alert, Alert.id == IncidentAlert.alert_id)
        .where(IncidentAlert.resolved_seen.is_(False), Alert.state == "resolved")
        .limit(5000)
    ).all()
    touched: set[int] = set()
    for link, alert in rows:
        link.resolved_seen = True
        touched.add(link.incident_id)
        add_event(
            db,
            link.incident_id,
            "alert_resolved",
            escalation.ACTOR,
            f"{alert.labels.get('alertname', alert.rule)} resolved",
            {"alert_id": alert.id},
            at=alert.resolved_at or now,
        )
    if not plan.auto_resolve:
        return len(touched)
    for incident_id in sorted(touched):
        incident = db.get(Incident, incident_id)
        if incident is None or incident.status == "resolved" or incident.group_key is None:
            continue
        open_left = db.scalar(
            select(IncidentAlert.alert_id)
            .join(Alert, Alert.id == IncidentAlert.alert_id)
            .where(IncidentAlert.incident_id == incident_id, Alert.state != "resolved")
            .limit(1)
        )
        if open_left is None:
            service.resolve(db, incident_id, ROBOT, note="all its alerts resolved", now=now)
    return len(touched)
