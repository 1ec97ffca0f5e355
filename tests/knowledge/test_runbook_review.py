"""The review reminder on a controllable clock: ``RunbookReviewDue`` fires once a runbook is
older than its review period (the plan's default or its own), resolves when someone marks it
still correct, follows the plan's severity, and the gauges on /metrics follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge import runbooks
from watchkeeper.knowledge.runbook_alerts import REVIEW_DUE
from watchkeeper.knowledge.runbook_review import RunbookReviewService
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import Alert
from watchkeeper.telemetry import REGISTRY

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def alerts(db: Session) -> list[tuple[str, dict[str, str], str]]:
    rows = db.scalars(select(Alert).where(Alert.rule == INTERNAL_RULE).order_by(Alert.id))
    return [(a.state, a.labels, a.annotations["summary"]) for a in rows]


def test_review_due_fires_and_a_review_resolves_it(sessions: sessionmaker[Session]) -> None:
    clock = Clock(T0)
    service = RunbookReviewService(sessions, clock=clock)
    with sessions() as db:
        runbooks.create_runbook(db, "---\nowner: team-data\n---\n# Failover\n", Actor("alice"), T0)
        runbooks.create_runbook(
            db, "---\nreview_period: 30d\n---\n# Rotate keys\n", Actor("alice"), T0
        )
        db.commit()

    assert service.run_once().firing == []
    clock.now = T0 + timedelta(days=31)
    assert service.run_once().firing == ["rotate-keys"]
    assert service.run_once().firing == ["rotate-keys"]  # raised once, not again
    with sessions() as db:
        assert alerts(db) == [
            (
                "firing",
                {"alertname": REVIEW_DUE, "runbook": "rotate-keys", "severity": "info"},
                'Runbook "Rotate keys" is due for review: last confirmed correct on 2026-01-10 '
                "by alice, review period 30d",
            )
        ]
        runbooks.review_runbook(db, "rotate-keys", Actor("bob"), clock.now)  # resolves at once
        db.commit()
        assert [a[0] for a in alerts(db)] == ["resolved"]
    assert service.run_once().firing == []
    assert REGISTRY.get_sample_value("watchkeeper_runbooks_review_due") == 0
    assert REGISTRY.get_sample_value("watchkeeper_runbooks", {"source": "store"}) == 2

    clock.now = T0 + timedelta(days=181)  # the plan's default period: 180 days
    # rotate-keys is due again (reviewed 150 days ago, every 30 days).
    assert service.run_once().firing == ["failover", "rotate-keys"]
    assert REGISTRY.get_sample_value("watchkeeper_runbooks_review_due") == 2
    with sessions() as db:
        firing = {a[1]["runbook"]: a[1] for a in alerts(db) if a[0] == "firing"}
        assert firing["failover"] == {
            "alertname": REVIEW_DUE,
            "owner": "team-data",
            "runbook": "failover",
            "severity": "info",
        }


def test_the_plan_sets_the_period_and_the_severity(sessions: sessionmaker[Session]) -> None:
    clock = Clock(T0 + timedelta(days=8))
    with sessions() as db:
        runbooks.create_runbook(db, "# Failover\n", Actor("alice"), T0)
        db.commit()
    service = RunbookReviewService(sessions, clock=clock)
    assert service.run_once().firing == []
    with sessions() as db:
        plan = "runbooks: {review_period: 7d, alert_severity: warning}\n"
        apply_plan(db, load_plan_text(plan), actor="plan")
        db.commit()
    assert service.run_once().firing == ["failover"]
    with sessions() as db:
        assert alerts(db)[0][1]["severity"] == "warning"
        runbooks.delete_runbook(db, "failover", Actor("admin"), clock.now)  # resolves it
        db.commit()
        assert [a[0] for a in alerts(db)] == ["resolved"]
