"""Muting, routing, grouping and flushing into the outbox (on SQLite and PostgreSQL)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.dispatch import Dispatcher, inhibited_by
from watchkeeper.alerts.matchers import parse_matchers
from watchkeeper.alerts.rules import alert_fingerprint
from watchkeeper.alerts.silences import create_silence, expire_silence
from watchkeeper.auth.audit import Actor
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import Alert, AlertEvent, AlertGroup, OutboxNotification

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

PLAN = """
notifications:
  channels:
    - {name: pager, type: webhook, url: "http://127.0.0.1:9/pager"}
    - {name: chat, type: webhook, url: "http://127.0.0.1:9/chat"}
    - {name: db-team, type: webhook, url: "http://127.0.0.1:9/db"}
alerts:
  route:
    receiver: chat
    group_by: [alertname]
    group_interval: 5m
    repeat_interval: 4h
    routes:
      - matchers: ['severity="critical"']
        receiver: [pager, chat]
      - matchers: ['team="db"']
        receiver: db-team
        group_by: [alertname, host]
  inhibit_rules:
    - source_matchers: ['alertname="HostDown"']
      target_matchers: ['severity!="critical"']
      equal: [host]
  maintenance_windows:
    - name: sunday
      matchers: ['team="db"']
      weekly: [{days: [sun], start: "02:00", end: "04:00"}]
"""


def setup(db: Session, extra: str = "") -> None:
    apply_plan(db, load_plan_text(textwrap.dedent(PLAN) + extra))
    db.commit()


def fire(db: Session, labels: dict[str, str], at: datetime, rule: str = "r") -> Alert:
    full = {"severity": "warning", **labels}
    alert = Alert(
        rule=rule,
        fingerprint=alert_fingerprint(full),
        labels=full,
        annotations={"summary": "s"},
        severity=full["severity"],
        state="firing",
        value=1.0,
        active_at=at,
        fired_at=at,
        last_true_at=at,
        muted="",
        muted_by=[],
    )
    db.add(alert)
    db.commit()
    return alert


def resolve(db: Session, alert: Alert, at: datetime) -> None:
    alert.state, alert.resolved_at = "resolved", at
    db.commit()


def tick(db: Session, d: Dispatcher, at: datetime) -> list[OutboxNotification]:
    before = {n.id for n in db.scalars(select(OutboxNotification))}
    d.tick(db, at)
    db.commit()
    return [n for n in db.scalars(select(OutboxNotification)) if n.id not in before]


def sent(rows: list[OutboxNotification]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(channel, status, [(alertname, status)]) per new outbox row."""
    out = []
    for n in sorted(rows, key=lambda n: n.channel):
        alerts: list[dict[str, Any]] = n.payload["alerts"]
        out.append(
            (
                n.channel,
                n.payload["status"],
                sorted((a["labels"]["alertname"], a["status"]) for a in alerts),
            )
        )
    return out


def test_critical_pages_at_once_on_every_receiver(db: Session) -> None:
    setup(db)
    d = Dispatcher("http://wk.example")
    fire(db, {"alertname": "ApiDown", "severity": "critical"}, T0)
    rows = tick(db, d, T0)
    assert sent(rows) == [
        ("chat", "firing", [("ApiDown", "firing")]),
        ("pager", "firing", [("ApiDown", "firing")]),
    ]
    assert len({n.batch for n in rows}) == 1 and len({n.key for n in rows}) == 2
    alert = rows[0].payload["alerts"][0]
    assert alert["url"].startswith("http://wk.example/alerts/")
    assert "matcher=alertname" in alert["silence_url"]
    assert tick(db, d, T0 + timedelta(seconds=1)) == []  # nothing new: nothing sent


def test_group_wait_collects_then_group_interval_batches_changes(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    fire(db, {"alertname": "DiskFull", "instance": "a"}, T0)
    assert tick(db, d, T0) == []  # warning: 30 s group_wait
    fire(db, {"alertname": "DiskFull", "instance": "b"}, T0 + timedelta(seconds=10))
    assert tick(db, d, T0 + timedelta(seconds=29)) == []
    rows = tick(db, d, T0 + timedelta(seconds=30))
    assert sent(rows) == [("chat", "firing", [("DiskFull", "firing"), ("DiskFull", "firing")])]
    c = fire(db, {"alertname": "DiskFull", "instance": "c"}, T0 + timedelta(minutes=1))
    assert tick(db, d, T0 + timedelta(minutes=2)) == []  # group_interval 5m since the flush
    rows = tick(db, d, T0 + timedelta(minutes=5, seconds=30))
    assert len(rows) == 1 and len(rows[0].payload["alerts"]) == 3
    resolve(db, c, T0 + timedelta(minutes=6))
    assert tick(db, d, T0 + timedelta(minutes=7)) == []
    rows = tick(db, d, T0 + timedelta(minutes=10, seconds=30))
    assert sent(rows) == [
        (
            "chat",
            "firing",
            [("DiskFull", "firing"), ("DiskFull", "firing"), ("DiskFull", "resolved")],
        )
    ]
    # nothing changes: repeat after 4 h, not before
    assert tick(db, d, T0 + timedelta(hours=2)) == []
    rows = tick(db, d, T0 + timedelta(hours=4, minutes=11))
    assert len(rows) == 1 and rows[0].payload["status"] == "firing"


def test_all_resolved_sends_resolved_and_forgets_the_group(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    a = fire(db, {"alertname": "ApiDown", "severity": "critical"}, T0)
    tick(db, d, T0)
    resolve(db, a, T0 + timedelta(minutes=1))
    assert tick(db, d, T0 + timedelta(minutes=2)) == []  # group_interval
    rows = tick(db, d, T0 + timedelta(minutes=5))
    assert sent(rows) == [
        ("chat", "resolved", [("ApiDown", "resolved")]),
        ("pager", "resolved", [("ApiDown", "resolved")]),
    ]
    assert db.scalar(select(AlertGroup)) is None


def test_an_alert_resolved_before_group_wait_is_never_sent(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    a = fire(db, {"alertname": "Blip"}, T0)
    tick(db, d, T0)
    resolve(db, a, T0 + timedelta(seconds=5))
    assert tick(db, d, T0 + timedelta(seconds=40)) == []
    assert db.scalar(select(AlertGroup)) is None


def test_routing_splits_groups_by_the_routes_group_by(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    fire(db, {"alertname": "SlowQuery", "team": "db", "host": "db-1"}, T0)
    fire(db, {"alertname": "SlowQuery", "team": "db", "host": "db-2"}, T0)
    assert tick(db, d, T0) == []
    rows = tick(db, d, T0 + timedelta(seconds=30))
    assert sorted(n.payload["group_labels"]["host"] for n in rows) == ["db-1", "db-2"]
    assert {n.channel for n in rows} == {"db-team"}


def test_silence_mutes_and_its_end_renotifies_a_still_firing_alert(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    alert = fire(db, {"alertname": "ApiDown", "severity": "critical", "instance": "a"}, T0)
    view = create_silence(
        db,
        Actor("alice"),
        ['alertname="ApiDown"'],
        starts_at=T0 - timedelta(minutes=1),
        ends_at=T0 + timedelta(hours=1),
        created_by="alice",
        comment="deploying",
        now=T0,
    )
    db.commit()
    assert tick(db, d, T0) == []
    db.refresh(alert)
    assert (alert.muted, alert.muted_by) == ("silenced", [view.id])
    events = [
        e.event for e in db.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert.id))
    ]
    assert events == ["silenced"]
    expire_silence(db, Actor("alice"), view.id, now=T0 + timedelta(minutes=10))
    db.commit()
    rows = tick(db, d, T0 + timedelta(minutes=10))
    assert sent(rows) == [
        ("chat", "firing", [("ApiDown", "firing")]),
        ("pager", "firing", [("ApiDown", "firing")]),
    ]
    db.refresh(alert)
    assert alert.muted == ""


def test_inhibition_mutes_a_hosts_service_alerts_while_the_host_is_down(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    fire(db, {"alertname": "HostDown", "host": "web-1", "severity": "critical"}, T0)
    svc = fire(db, {"alertname": "HighLatency", "host": "web-1"}, T0)
    other = fire(db, {"alertname": "HighLatency", "host": "web-2"}, T0)
    rows = tick(db, d, T0)
    rows += tick(db, d, T0 + timedelta(seconds=30))
    db.refresh(svc)
    db.refresh(other)
    assert svc.muted == "inhibited" and other.muted == ""
    names = [a["labels"]["host"] for n in rows for a in n.payload["alerts"]]
    assert "web-2" in names and names.count("web-1") == 2  # HostDown to pager and chat


def test_inhibited_by_never_lets_an_alert_mute_itself() -> None:
    rules = [_inhibit('severity="critical"', 'severity=~".+"', ["host"])]
    alerts = [
        ("a", {"severity": "critical", "host": "h"}),
        ("b", {"severity": "warning", "host": "h"}),
    ]
    assert inhibited_by(alerts, rules) == {"b": ["a"]}


def _inhibit(source: str, target: str, equal: list[str]) -> Any:
    from watchkeeper.alerts.dispatch import _Inhibit

    return _Inhibit(tuple(parse_matchers([source])), tuple(parse_matchers([target])), tuple(equal))


def test_maintenance_window_mutes_but_records(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    sunday_3am = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    alert = fire(db, {"alertname": "SlowQuery", "team": "db", "host": "db-1"}, sunday_3am)
    assert tick(db, d, sunday_3am + timedelta(minutes=1)) == []
    db.refresh(alert)
    assert (alert.muted, alert.muted_by) == ("maintenance", ["sunday"])
    rows = tick(db, d, sunday_3am + timedelta(hours=1))  # the window closed at 04:00
    assert [n.channel for n in rows] == []  # group_wait starts again at the window's end
    rows = tick(db, d, sunday_3am + timedelta(hours=1, seconds=30))
    assert [n.channel for n in rows] == ["db-team"]


def test_a_restarted_dispatcher_does_not_resend(db: Session) -> None:
    setup(db)
    fire(db, {"alertname": "ApiDown", "severity": "critical"}, T0)
    assert len(tick(db, Dispatcher(), T0)) == 2
    assert tick(db, Dispatcher(), T0 + timedelta(seconds=5)) == []  # state is in the store


def test_an_acknowledged_alert_is_not_repeated_but_its_resolution_is_sent(db: Session) -> None:
    from watchkeeper.alerts.ack import acknowledge

    setup(db)
    d = Dispatcher()
    alert = fire(db, {"alertname": "ApiDown", "severity": "critical"}, T0)
    assert len(tick(db, d, T0)) == 2
    acknowledge(db, Actor("bob"), alert.id, now=T0 + timedelta(minutes=1))
    db.commit()
    assert tick(db, d, T0 + timedelta(hours=5)) == []
    resolve(db, alert, T0 + timedelta(hours=5))
    rows = tick(db, d, T0 + timedelta(hours=5, minutes=1))
    assert {n.payload["status"] for n in rows} == {"resolved"}
    events = [
        e.event for e in db.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert.id))
    ]
    assert events == ["acknowledged"]


def test_a_group_that_comes_back_after_resolving_is_notified_again(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    first = fire(db, {"alertname": "ApiDown", "severity": "critical"}, T0)
    assert len(tick(db, d, T0)) == 2
    resolve(db, first, T0 + timedelta(minutes=1))
    assert len(tick(db, d, T0 + timedelta(minutes=6))) == 2  # resolved
    again = T0 + timedelta(minutes=30)
    fire(db, {"alertname": "ApiDown", "severity": "critical"}, again)
    rows = tick(db, d, again)
    assert sent(rows) == [
        ("chat", "firing", [("ApiDown", "firing")]),
        ("pager", "firing", [("ApiDown", "firing")]),
    ]


def test_a_paged_alert_silenced_then_unsilenced_is_paged_again(db: Session) -> None:
    setup(db)
    d = Dispatcher()
    fire(db, {"alertname": "ApiDown", "severity": "critical"}, T0)
    assert len(tick(db, d, T0)) == 2
    view = create_silence(
        db,
        Actor("alice"),
        ['alertname="ApiDown"'],
        ends_at=T0 + timedelta(hours=1),
        created_by="alice",
        comment="looking",
        now=T0 + timedelta(minutes=1),
    )
    db.commit()
    assert tick(db, d, T0 + timedelta(minutes=2)) == []
    expire_silence(db, Actor("alice"), view.id, now=T0 + timedelta(minutes=20))
    db.commit()
    assert len(tick(db, d, T0 + timedelta(minutes=20))) == 2


def test_alerts_matching_both_sides_of_an_inhibit_rule_do_not_mute_each_other() -> None:
    rules = [_inhibit('severity="critical"', 'severity=~".+"', ["host"])]
    alerts = [
        ("a", {"severity": "critical", "host": "h"}),
        ("b", {"severity": "critical", "host": "h"}),
        ("c", {"severity": "warning", "host": "h"}),
    ]
    assert inhibited_by(alerts, rules) == {"c": ["a", "b"]}


def test_skipped_ticks_still_see_every_change_and_timer(db: Session) -> None:
    """With ``force=False`` (the evaluator saw no change) a tick may be skipped; new alerts,
    silences, acknowledgements and group timers must still be acted on."""
    setup(db)
    d = Dispatcher()

    def quiet(at: datetime) -> list[OutboxNotification]:
        before = {n.id for n in db.scalars(select(OutboxNotification))}
        d.tick(db, at, force=False)
        db.commit()
        return [n for n in db.scalars(select(OutboxNotification)) if n.id not in before]

    fire(db, {"alertname": "DiskFull", "instance": "a"}, T0)
    assert quiet(T0) == []
    assert len(quiet(T0 + timedelta(seconds=30))) == 1  # group_wait timer
    b = fire(db, {"alertname": "DiskFull", "instance": "b"}, T0 + timedelta(minutes=1))
    assert quiet(T0 + timedelta(minutes=1)) == []
    assert len(quiet(T0 + timedelta(minutes=5, seconds=30))) == 1  # group_interval timer
    create_silence(
        db,
        Actor("alice"),
        ['instance="b"'],
        ends_at=T0 + timedelta(hours=10),
        created_by="alice",
        comment="c",
        now=T0 + timedelta(minutes=6),
    )
    db.commit()
    quiet(T0 + timedelta(minutes=6))
    db.refresh(b)
    assert b.muted == "silenced"
    rows = quiet(T0 + timedelta(hours=4, minutes=6))  # repeat timer
    assert len(rows) == 1 and [a["labels"]["instance"] for a in rows[0].payload["alerts"]] == ["a"]
