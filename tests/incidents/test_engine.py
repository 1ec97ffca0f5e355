"""Alert groups open incidents; escalation pages step by step; acknowledgement stops it;
drills go the same way (on SQLite and PostgreSQL)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.alerts.test_dispatch import fire, resolve
from watchkeeper.alerts.dispatch import Dispatcher
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError
from watchkeeper.incidents import drills, escalation, from_alerts, links, service
from watchkeeper.incidents.escalation import Pager
from watchkeeper.incidents.timeline import events
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import (
    Alert,
    DrillRun,
    Escalation,
    Incident,
    IncidentAlert,
    OutboxNotification,
)

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PAGER = Pager("http://wk.test", "k" * 40)
ALICE = Actor("alice")

PLAN = """
notifications:
  channels:
    - {name: chat, type: webhook, url: "http://127.0.0.1:9/chat"}
    - {name: mail, type: webhook, url: "http://127.0.0.1:9/mail"}
    - {name: sms, type: webhook, url: "http://127.0.0.1:9/sms"}
    - {name: execs, type: webhook, url: "http://127.0.0.1:9/execs"}
alerts:
  route:
    receiver: chat
    group_by: [alertname]
    group_wait: 0s
    group_interval: 1m
oncall:
  people:
    - name: alice
      contact:
        - {channel: mail, address: alice@example.com}
        - {channel: sms, after: 2m}
    - name: bob
      contact: [{channel: mail, address: bob@example.com}]
  escalation_policies:
    - name: default
      repeat: 1
      steps:
        - notify: [{person: alice}]
          escalate_after: 10m
        - notify: [{person: bob}, {channel: chat}]
          escalate_after: 5m
incidents:
  auto_open:
    - matchers: ['severity="critical"']
      escalation: default
      team: platform
  contacts:
    - {name: cto, channel: execs, address: cto@example.com, stakeholder: true}
    - {name: isp, kind: vendor, phone: "+1 555 0100"}
  drills:
    - name: weekly
      labels: {severity: critical, service: web}
      timeout: 30m
"""


def setup(db: Session) -> None:
    apply_plan(db, load_plan_text(textwrap.dedent(PLAN)))
    db.commit()


class Rig:
    """The dispatcher and the incident engine's parts, driven by an explicit clock."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.dispatcher = Dispatcher("http://wk.test")
        self.groups = from_alerts.GroupTracker()
        self.since = T0 - timedelta(minutes=1)

    def run(self, at: datetime) -> list[OutboxNotification]:
        before = set(self.db.scalars(select(OutboxNotification.id)))
        self.dispatcher.tick(self.db, at)
        self.db.commit()
        from_alerts.sync(self.db, at, self.groups)
        self.db.commit()
        escalation.run_due(self.db, at, PAGER)
        self.db.commit()
        drills.tick(self.db, at, self.since)
        self.db.commit()
        self.since = at
        rows = self.db.scalars(select(OutboxNotification).order_by(OutboxNotification.id))
        return [n for n in rows if n.id not in before]


def pages(rows: list[OutboxNotification]) -> list[tuple[str, str]]:
    """(channel, person) of each page (route notifications have no incident)."""
    out = []
    for n in rows:
        incident = (n.payload.get("extra") or {}).get("incident")
        if incident:
            out.append((n.channel, incident["person"] or "-"))
    return sorted(out)


def the_incident(db: Session) -> Incident:
    (incident,) = db.scalars(select(Incident)).all()
    return incident


def test_an_alert_group_opens_an_incident_and_pages_step_by_step(db: Session) -> None:
    setup(db)
    rig = Rig(db)
    fire(db, {"alertname": "Down", "severity": "critical", "service": "web"}, T0)
    new = rig.run(T0)
    incident = the_incident(db)
    assert (incident.severity, incident.status, incident.team) == ("SEV2", "triggered", "platform")
    assert incident.services == ["web"]
    assert pages(new) == [("mail", "alice"), ("sms", "alice")]
    sms = next(n for n in new if n.channel == "sms")
    assert sms.next_attempt_at == T0 + timedelta(minutes=2)  # "SMS after 2 minutes"
    mail = next(n for n in new if n.channel == "mail")
    assert mail.payload["extra"]["recipient"] == "alice@example.com"
    claim = links.verify(
        PAGER.secret_key, mail.payload["extra"]["incident"]["ack_url"].split("/i/")[1], T0
    )
    assert (claim.incident_id, claim.action, claim.person) == (incident.id, "ack", "alice")

    # a later alert of the same group joins the same incident
    fire(
        db,
        {"alertname": "Down", "severity": "critical", "service": "api"},
        T0 + timedelta(minutes=1),
    )
    rig.run(T0 + timedelta(minutes=1))
    assert db.scalar(select(Incident.id).where(Incident.id != incident.id)) is None
    db.refresh(incident)
    assert incident.services == ["api", "web"]
    assert len(db.scalars(select(IncidentAlert)).all()) == 2

    assert pages(rig.run(T0 + timedelta(minutes=9))) == []
    assert pages(rig.run(T0 + timedelta(minutes=10))) == [("chat", "-"), ("mail", "bob")]
    # step 2 waits 5m, then the policy repeats once from step 1, then it is exhausted
    assert pages(rig.run(T0 + timedelta(minutes=15))) == [("mail", "alice"), ("sms", "alice")]
    assert pages(rig.run(T0 + timedelta(minutes=25))) == [("chat", "-"), ("mail", "bob")]
    assert pages(rig.run(T0 + timedelta(minutes=30))) == []
    assert db.get(Escalation, incident.id).state == "exhausted"  # type: ignore[union-attr]
    kinds = [e.kind for e in events(db, incident.id)]
    assert kinds[:3] == ["opened", "alert_firing", "escalated"]
    assert kinds.count("escalated") == 5  # four steps and "ran out of steps"


def test_acknowledging_stops_escalation_and_cancels_waiting_pages(db: Session) -> None:
    setup(db)
    rig = Rig(db)
    alert = fire(db, {"alertname": "Down", "severity": "critical"}, T0)
    rig.run(T0)
    incident = the_incident(db)
    service.acknowledge(db, incident.id, ALICE, via="signed link", now=T0 + timedelta(minutes=1))
    db.commit()
    sms = db.scalar(select(OutboxNotification).where(OutboxNotification.channel == "sms"))
    assert sms is not None and sms.status == "cancelled"
    assert pages(rig.run(T0 + timedelta(minutes=11))) == []
    db.refresh(alert)
    assert alert.acknowledged_by == "alice"  # the route stops repeating it
    assert service.acknowledge(db, incident.id, ALICE).acknowledged_at == T0 + timedelta(minutes=1)

    resolve(db, alert, T0 + timedelta(minutes=20))
    rig.run(T0 + timedelta(minutes=20))
    db.refresh(incident)
    assert (incident.status, incident.resolved_by) == ("resolved", "watchkeeper")
    kinds = [e.kind for e in events(db, incident.id)]
    assert kinds[-3:] == ["acknowledged", "alert_resolved", "resolved"]
    with pytest.raises(ConflictError):
        service.acknowledge(db, incident.id, ALICE)

    service.reopen(db, incident.id, ALICE, "came back", now=T0 + timedelta(minutes=30))
    db.commit()
    assert pages(rig.run(T0 + timedelta(minutes=30))) == [("mail", "alice"), ("sms", "alice")]


def test_a_restarted_engine_continues_the_escalation_without_repeating(db: Session) -> None:
    setup(db)
    rig = Rig(db)
    fire(db, {"alertname": "Down", "severity": "critical"}, T0)
    assert len(pages(rig.run(T0))) == 2
    restarted = Rig(db)  # new dispatcher and engine state, as after a restart
    restarted.dispatcher.tick(db, T0)  # the dispatcher re-reads its groups from the store
    assert pages(restarted.run(T0 + timedelta(minutes=5))) == []
    assert pages(restarted.run(T0 + timedelta(minutes=10))) == [("chat", "-"), ("mail", "bob")]
    assert len(db.scalars(select(Incident)).all()) == 1


def test_warning_alerts_do_not_open_incidents_by_default_and_hand_opened_ones_page(
    db: Session,
) -> None:
    setup(db)
    rig = Rig(db)
    fire(db, {"alertname": "Slow", "severity": "warning"}, T0)
    rig.run(T0)
    assert db.scalars(select(Incident)).all() == []
    incident = service.open_incident(
        db,
        title="Customers report errors",
        severity="SEV3",
        actor=ALICE,
        escalation_policy="default",
        now=T0,
    )
    db.commit()
    assert pages(rig.run(T0)) == [("mail", "alice"), ("sms", "alice")]
    assert incident.opened_by == "alice"


def test_declaring_a_major_incident_notifies_the_stakeholders(db: Session) -> None:
    setup(db)
    incident = service.open_incident(db, title="Outage", severity="SEV3", actor=ALICE, now=T0)
    queued = service.declare_major(db, incident.id, ALICE, "http://wk.test", now=T0)
    db.commit()
    assert queued == 1
    (row,) = db.scalars(select(OutboxNotification)).all()
    assert (row.channel, row.payload["extra"]["recipient"]) == ("execs", "cto@example.com")
    assert (incident.severity, incident.major) == ("SEV1", True)


def test_a_drill_goes_the_real_path_and_closes_itself_once_acknowledged(db: Session) -> None:
    setup(db)
    rig = Rig(db)
    run = drills.start(db, "weekly", ALICE, T0)
    db.commit()
    rig.run(T0)
    incident = the_incident(db)
    assert incident.drill == "weekly"
    assert incident.escalation_policy == "default"  # auto_open matched severity=critical
    db.refresh(run)
    assert run.incident_id == incident.id
    service.acknowledge(db, incident.id, Actor("bob"), now=T0 + timedelta(seconds=95))
    db.commit()
    rig.run(T0 + timedelta(seconds=96))
    db.refresh(run)
    db.refresh(incident)
    assert (run.result, run.acknowledged_by) == ("acknowledged", "bob")
    assert run.acknowledged_at == T0 + timedelta(seconds=95)
    assert incident.status == "resolved"
    alert = db.get(Alert, run.alert_id)
    assert alert is not None and alert.state == "resolved"


def test_an_unacknowledged_drill_closes_as_missed(db: Session) -> None:
    setup(db)
    rig = Rig(db)
    drills.start(db, "weekly", ALICE, T0)
    db.commit()
    rig.run(T0)
    rig.run(T0 + timedelta(minutes=31))
    (run,) = db.scalars(select(DrillRun)).all()
    assert run.result == "missed" and run.closed_at is not None
    assert the_incident(db).status == "resolved"


def test_signed_links_expire_and_cannot_be_forged() -> None:
    token = links.sign("secret", 7, "ack", "alice", timedelta(hours=1), T0)
    assert links.verify("secret", token, T0).incident_id == 7
    with pytest.raises(links.LinkError, match="expired"):
        links.verify("secret", token, T0 + timedelta(hours=1))
    with pytest.raises(links.LinkError):
        links.verify("other secret", token, T0)
    body, mac = token.split(".")
    forged = links.sign("x", 8, "ack", "alice", timedelta(hours=1), T0).split(".")[0]
    with pytest.raises(links.LinkError):
        links.verify("secret", f"{forged}.{mac}", T0)
    with pytest.raises(links.LinkError):
        links.verify("secret", "garbage", T0)


def test_an_incident_resolved_by_hand_is_not_opened_again_after_a_restart(db: Session) -> None:
    setup(db)
    rig = Rig(db)
    fire(db, {"alertname": "Down", "severity": "critical"}, T0)
    rig.run(T0)
    incident = the_incident(db)
    service.resolve(db, incident.id, ALICE, now=T0 + timedelta(minutes=1))
    db.commit()
    restarted = Rig(db)  # forgets which group flushes it handled
    assert pages(restarted.run(T0 + timedelta(minutes=2))) == []
    assert len(db.scalars(select(Incident)).all()) == 1
    # a new alert of the group opens a new incident
    fire(db, {"alertname": "Down", "severity": "critical", "host": "b"}, T0 + timedelta(minutes=3))
    restarted.run(T0 + timedelta(minutes=3))
    assert len(db.scalars(select(Incident)).all()) == 2


def test_a_blank_summary_still_opens_an_incident_named_after_the_alert(db: Session) -> None:
    setup(db)
    rig = Rig(db)
    alert = fire(db, {"alertname": "Down", "severity": "critical"}, T0)
    alert.annotations = {"summary": "   "}
    db.commit()
    rig.run(T0)
    assert the_incident(db).title == "Down"


def test_acknowledging_cancels_a_page_waiting_for_a_retry(db: Session) -> None:
    setup(db)
    rig = Rig(db)
    fire(db, {"alertname": "Down", "severity": "critical"}, T0)
    rig.run(T0)
    mail = db.scalar(select(OutboxNotification).where(OutboxNotification.channel == "mail"))
    assert mail is not None
    mail.attempts, mail.next_attempt_at = 2, T0 + timedelta(seconds=30)  # failed twice
    db.commit()
    service.acknowledge(db, the_incident(db).id, ALICE, now=T0 + timedelta(seconds=5))
    db.commit()
    db.refresh(mail)
    assert mail.status == "cancelled"


def test_links_carry_the_escalation_run_they_were_sent_in() -> None:
    token = links.sign("secret", 7, "ack", "alice", timedelta(hours=1), T0, cycle=1234)
    assert links.verify("secret", token, T0).cycle == 1234
