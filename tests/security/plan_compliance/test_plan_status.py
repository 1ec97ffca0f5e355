"""The overall score, snapshots (last_ok carried from one to the next, pruning, the trend),
the service's pass with its metrics, and the alert evaluator probe."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.security.plan_compliance.support import apply_text, declared_at
from watchkeeper.security.compliance import plan_status
from watchkeeper.security.compliance.evaluator_probe import EvaluatorProbe, lock_held
from watchkeeper.security.compliance.plan_sections.base import (
    NOTHING_TO_JUDGE,
    Live,
    SectionResult,
    Tally,
    not_in_plan,
)
from watchkeeper.security.compliance.plan_service import PlanComplianceService
from watchkeeper.store.tables import CheckStatus, PlanComplianceSnapshot, utcnow
from watchkeeper.telemetry import REGISTRY

NOW = utcnow()
CHECKS = """
checks:
  - {name: api, type: tcp, host: 127.0.0.1, port: 1, interval: 30s}
  - {name: web, type: tcp, host: 127.0.0.1, port: 2, interval: 30s}
"""


def test_a_section_scores_the_share_of_its_objects_that_are_ok() -> None:
    tally = Tally("checks")
    tally.passed(3)
    tally.failed("check", "web", "down")
    tally.cannot_tell("check", "far", "not here")  # not judged: does not count
    result = tally.result()
    assert (result.status, result.score, result.judged, result.ok) == ("failing", 75.0, 4, 3)
    only_unknown = Tally("logs")
    only_unknown.cannot_tell("retention", "logs", "not here")
    assert (only_unknown.result().status, only_unknown.result().score) == ("unknown", None)
    # Declared, but only settings (say `security: {fix_age: 7d}`): nothing to judge, so it
    # neither counts as followed nor lifts the overall score.
    nothing = Tally("security").result()
    assert (nothing.status, nothing.score, nothing.counted) == ("empty", None, False)
    assert nothing.evidence[-1] == NOTHING_TO_JUDGE
    assert plan_status.overall_score([nothing, SectionResult("checks", "failing", 50.0)]) == 50.0


def test_the_overall_score_is_the_mean_of_the_sections_that_count() -> None:
    sections = [
        SectionResult("checks", "failing", 50.0),
        SectionResult("backups", "ok", 100.0),
        SectionResult("alerts", "failing", 0.0),
        SectionResult("logs", "unknown", None),  # cannot be read here: left out
        not_in_plan("security"),  # not in the plan: left out
    ]
    assert plan_status.overall_score(sections) == 50.0
    assert plan_status.overall_score([not_in_plan("checks")]) is None


def test_last_ok_is_carried_from_snapshot_to_snapshot(db: Session) -> None:
    apply_text(db, CHECKS)
    declared_at(db, NOW - timedelta(days=1))
    db.add_all(
        CheckStatus(name=n, status="up", last_run_at=NOW - timedelta(seconds=5))
        for n in ("api", "web")
    )
    db.commit()
    first = plan_status.evaluate_plan(db, Live(NOW))
    assert first.followed and first.score == 100.0 and first.last_all_ok == NOW
    plan_status.store(db, first)
    db.commit()
    later = NOW + timedelta(minutes=5)  # nothing ran since: both checks stopped
    second = plan_status.evaluate_plan(db, Live(later))
    checks = next(s for s in second.sections if s.section == "checks")
    assert checks.status == "failing" and checks.last_ok == NOW
    assert second.score == 0.0 and second.last_all_ok == NOW and not second.followed
    plan_status.store(db, second)
    db.commit()
    shown = plan_status.latest(db)
    assert shown is not None and shown.stored and shown.evaluated_at == later
    assert [s.section for s in shown.worst_first()][:1] == ["checks"]
    assert next(s for s in shown.sections if s.section == "checks").last_ok == NOW
    assert next(s for s in shown.sections if s.section == "backups").status == "empty"


def _snapshot(db: Session, ago: timedelta, score: float, checks: str = "ok") -> None:
    db.add(
        PlanComplianceSnapshot(
            evaluated_at=NOW - ago,
            score=score,
            sections={},
            summary={"sections": {"checks": [checks, score]}, "last_all_ok": None},
        )
    )


def test_snapshots_are_thinned_to_one_an_hour_after_two_days_and_dropped_after_history(
    db: Session,
) -> None:
    for minutes in range(0, 3 * 24 * 60, 10):  # every 10 minutes for 3 days
        _snapshot(db, timedelta(minutes=minutes), 100.0)
    _snapshot(db, timedelta(days=401), 50.0)
    db.commit()
    removed = plan_status.prune(db, NOW, timedelta(days=400))
    db.commit()
    kept = list(db.scalars(select(PlanComplianceSnapshot.evaluated_at)))
    recent = [t for t in kept if t >= NOW - plan_status.KEEP_ALL]
    older = [t for t in kept if t < NOW - plan_status.KEEP_ALL]
    assert len(recent) == 2 * 24 * 6 + 1  # every one of the last two days
    assert len({t.replace(minute=0, second=0, microsecond=0) for t in older}) == len(older)
    assert 24 <= len(older) <= 25 and min(kept) > NOW - timedelta(days=400)
    assert removed == 3 * 24 * 6 + 1 - len(kept)
    assert plan_status.prune(db, NOW, timedelta(days=400)) == 0  # nothing more to do


def test_the_trend_keeps_the_worst_of_each_bucket(db: Session) -> None:
    _snapshot(db, timedelta(minutes=50), 100.0)
    _snapshot(db, timedelta(minutes=40), 60.0, "failing")
    _snapshot(db, timedelta(minutes=30), 100.0)
    db.commit()
    raw = plan_status.history(db, NOW - timedelta(hours=2))
    assert [p.score for p in raw] == [100.0, 60.0, 100.0]
    hourly = plan_status.history(db, NOW - timedelta(hours=2), step=timedelta(days=1))
    assert len(hourly) == 1
    assert hourly[0].score == 60.0 and hourly[0].sections["checks"] == ("failing", 60.0)


def test_the_service_stores_a_snapshot_and_sets_its_metrics(db: Session) -> None:
    apply_text(db, CHECKS)
    declared_at(db, NOW - timedelta(days=1))
    db.add(CheckStatus(name="api", status="up", last_run_at=NOW - timedelta(seconds=5)))
    db.add(CheckStatus(name="web", status="down", last_run_at=NOW - timedelta(seconds=5)))
    db.commit()
    sessions = db.get_bind()
    service = PlanComplianceService(lambda: Session(sessions), clock=lambda: NOW)
    status = service.run_once()
    assert status.score == 50.0
    assert db.scalar(select(PlanComplianceSnapshot.score)) == 50.0
    assert REGISTRY.get_sample_value("watchkeeper_plan_compliance_score") == 50.0
    compliant = "watchkeeper_plan_section_compliant"
    assert REGISTRY.get_sample_value(compliant, {"section": "checks"}) == 0.0
    assert REGISTRY.get_sample_value(compliant, {"section": "backups"}) is None
    apply_text(db, "checks: []\n")
    empty = service.run_once()
    assert empty.score is None
    assert math.isnan(REGISTRY.get_sample_value("watchkeeper_plan_compliance_score") or 0.0)


def test_the_probe_watches_the_evaluator_pass_counter(db: Session) -> None:
    counter = [10.0]
    leads = [True]
    probe = EvaluatorProbe(lambda: leads[0], passes=lambda: counter[0])
    assert probe.judge(db, NOW)[0] == "ok"  # first look: it runs here
    counter[0] = 70.0
    status, sentence = probe.judge(db, NOW + timedelta(minutes=1))
    assert status == "ok" and sentence.startswith("The alert evaluator made 60 passes")
    status, sentence = probe.judge(db, NOW + timedelta(minutes=2))
    assert status == "failing" and "made no pass since" in sentence
    leads[0] = False
    status, _ = probe.judge(db, NOW)
    if db.get_bind().dialect.name == "sqlite":
        assert status == "unknown"  # one node: another process cannot be seen
    else:
        assert status == "failing"  # nobody holds the alerts lock


def test_the_probe_sees_the_alerts_lock_held_by_another_replica(db: Session) -> None:
    engine = db.get_bind()
    if engine.dialect.name != "postgresql":
        pytest.skip("leadership locks are PostgreSQL advisory locks")
    from sqlalchemy import text

    from watchkeeper.runtime.leader import lock_key

    with engine.connect() as other:  # type: ignore[union-attr]
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("alerts")})
        assert lock_held(db, "alerts")
        status, sentence = EvaluatorProbe().judge(db, NOW)
        assert status == "ok" and "holds the alerts lock" in sentence
        other.execute(text("SELECT pg_advisory_unlock_all()"))
    assert not lock_held(db, "alerts")
