"""Alerts: the rules are being evaluated, every rule's alerts reach a receiver (a routing tree
exists and the channels it names do), and no alert has been firing unacknowledged for
longer than ``compliance.plan_status.unacknowledged_after``.

The evaluator keeps no "last evaluated" time in the store. Its health is judged from what
is there (an active alert whose ``last_true_at`` stopped moving means no replica evaluates
its rule any more) and, in the process that runs it, from its pass counter (see
``evaluator_probe``); otherwise it is unknown here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import AlertRule, AlertsSection, Route
from watchkeeper.alerts.evaluator import VALUE_WRITE_EVERY
from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    declared,
    every,
    load_section,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import Alert, StoredObject

STALE_SLACK = timedelta(minutes=2)


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "alerts"):
        return not_in_plan("alerts")
    section = load_section(db, "alerts", AlertsSection)
    tally = Tally("alerts")
    rules = {r.name: r for r in section.rules}
    active = list(db.scalars(select(Alert).where(Alert.state.in_(("pending", "firing")))))
    _judge_evaluator(db, live, tally, section, rules, active)
    if rules:
        _judge_routing(db, tally, section, rules)
    _judge_unacknowledged(live, tally, active)
    return tally.result()


def _judge_evaluator(
    db: Session,
    live: Live,
    tally: Tally,
    section: AlertsSection,
    rules: Mapping[str, AlertRule],
    active: list[Alert],
) -> None:
    stale: list[tuple[Alert, timedelta]] = []
    fresh = 0
    for alert in active:
        rule = rules.get(alert.rule)
        if alert.rule == INTERNAL_RULE or rule is None:
            continue
        cadence = (
            (rule.interval or section.evaluation_interval) if rule.on_interval else timedelta(0)
        )
        # last_true_at is written at least every VALUE_WRITE_EVERY while the rule holds
        allowed = cadence + rule.keep_firing_for + VALUE_WRITE_EVERY + STALE_SLACK
        if live.now - alert.last_true_at > allowed:
            stale.append((alert, allowed))
        else:
            fresh += 1
    name = "alert evaluator"
    if stale:
        alert, allowed = stale[0]
        tally.failed(
            "service",
            name,
            f"the active alert of {alert.rule} was last evaluated at {at(alert.last_true_at)} "
            f"(expected every {span(allowed)} at most): no replica evaluates the rules",
            f"/alerts/{alert.id}",
        )
        return
    if live.evaluator is not None:
        status, sentence = live.evaluator.judge(db, live.now)
        if status == "ok":
            tally.passed()
            tally.say(sentence)
            return
        if status == "failing":
            tally.failed("service", name, sentence, "/alerts")
            return
        if not fresh:
            tally.cannot_tell("service", name, sentence)
            return
    if fresh:
        tally.passed()
        tally.say(f"The evaluator refreshed {plural(fresh, 'active alert')} recently.")
        return
    tally.cannot_tell(
        "service",
        name,
        "it records no evaluation time in the store and runs in another process; see "
        "watchkeeper_rule_evaluations_total on that process's /metrics",
    )


def _receivers(route: Route) -> set[str]:
    found = set(route.receiver or [])
    for child in route.routes:
        found |= _receivers(child)
    return found


def _judge_routing(
    db: Session, tally: Tally, section: AlertsSection, rules: Mapping[str, AlertRule]
) -> None:
    """Every rule's alerts reach a receiver: the routing tree exists (its root must have a
    receiver, which every child inherits) and every channel it names exists."""
    channels = set(
        db.scalars(select(StoredObject.name).where(StoredObject.kind == "notifications.channels"))
    )
    route = section.route
    missing = sorted(_receivers(route) - channels) if route is not None else []
    for name in rules:
        link = f"/objects/alerts.rules/{quote(name, safe='')}"
        if route is None:
            tally.failed(
                "rule", name, "no routing tree (`alerts.route`): its alerts notify nobody", link
            )
        elif missing:
            tally.failed(
                "rule",
                name,
                f"the routing tree names channels that do not exist: {', '.join(missing)}",
                link,
            )
        else:
            tally.passed()
    if route is not None and not missing:
        tally.say(
            f"{plural(len(rules), 'rule')}, routed to {', '.join(route.receiver or [])} "
            "unless a child route takes them."
        )


def _judge_unacknowledged(live: Live, tally: Tally, active: list[Alert]) -> None:
    limit = live.settings.unacknowledged_after
    late = [
        a
        for a in active
        if a.state == "firing"
        and not a.muted
        and a.acknowledged_at is None
        and a.fired_at is not None
        and live.now - a.fired_at > limit
    ]
    firing = sum(1 for a in active if a.state == "firing")
    for alert in sorted(late, key=lambda a: a.fired_at or live.now):
        assert alert.fired_at is not None
        shown = alert.labels.get("alertname", alert.rule)
        extra = ", ".join(
            f"{k}={v}"
            for k, v in sorted(alert.labels.items())
            if k not in ("alertname", "severity")
        )
        tally.failed(
            "alert",
            f"{shown} {{{extra}}}" if extra else shown,
            f"firing for {span(live.now - alert.fired_at)} without an acknowledgement "
            f"(limit {every(limit)})",
            f"/alerts/{alert.id}",
        )
    tally.say(
        f"{plural(firing, 'alert')} firing; {len(late)} unacknowledged for longer than "
        f"{every(limit)}."
    )
