"""Evaluating the controls: a control flips from passing to failing when its evidence
changes (an admin without MFA is added) and its history shows it; when evaluation is due;
a broken query; the service and the gauge."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.security.compliance.support import NOW, add_user, apply
from watchkeeper.security.compliance import views
from watchkeeper.security.compliance.evaluate import (
    SectionUnreadable,
    due,
    evaluate_all,
    load_section,
)
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceQuery,
    NoParams,
    registry,
)
from watchkeeper.security.compliance.plan_sections.base import Unreadable
from watchkeeper.security.compliance.service import ComplianceService
from watchkeeper.store.engine import session_factory
from watchkeeper.store.tables import ComplianceEvent, ComplianceState, StoredObject
from watchkeeper.telemetry import REGISTRY

PLAN = """
compliance:
  interval: 15m
  controls:
    - name: WK-MFA
      title: Administrators sign in with a second factor
      references: [SOC 2 CC6.1]
      evidence: [{query: admins_have_mfa}]
    - name: WK-TRAIL
      title: The audit trail is intact
      evidence: [{query: audit_trail_intact}]
"""


def _gauge(status: str, framework: str) -> float | None:
    return REGISTRY.get_sample_value(
        "watchkeeper_compliance_controls", {"status": status, "framework": framework}
    )


def test_a_control_flips_to_failing_when_an_admin_without_mfa_is_added(db: Session) -> None:
    apply(db, PLAN)
    add_user(db, "alice", mfa="totp")
    db.commit()
    evaluate_all(db, NOW)
    db.commit()
    state = db.get(ComplianceState, "WK-MFA")
    assert state is not None
    assert (state.status, state.since, state.last_pass_at) == ("pass", NOW, NOW)
    assert _gauge("pass", "plan") == 2 and _gauge("fail", "plan") == 0

    later = NOW + timedelta(minutes=15)
    add_user(db, "mallory", mfa=None)  # a new admin, no second factor
    db.commit()
    evaluate_all(db, later)
    db.commit()
    db.expire_all()
    state = db.get(ComplianceState, "WK-MFA")
    assert state is not None
    assert (state.status, state.since, state.last_pass_at) == ("fail", later, NOW)
    assert state.evidence[0]["summary"] == (
        "Admin users with a second factor: 1 of 2; without: mallory."
    )
    assert _gauge("fail", "plan") == 1

    evaluate_all(db, later + timedelta(minutes=15))  # no change: no new event
    db.commit()
    history = views.history(db, "WK-MFA")
    assert [(e.at, e.status) for e in history] == [(NOW, "pass"), (later, "fail")]
    assert "without: mallory" in history[1].summary
    assert views.get_control(db, "WK-MFA").evaluated_at == later + timedelta(minutes=15)
    # The period's share: passing 15 of the 30 minutes since the first evaluation.
    segments = views.segments(history, NOW, later + timedelta(minutes=15))
    assert [(s.status, round(s.share, 2)) for s in segments] == [("pass", 0.5), ("fail", 0.5)]


def test_evaluation_is_due_on_interval_and_when_the_controls_change(db: Session) -> None:
    apply(db, PLAN)
    assert due(db, load_section(db), NOW)  # never evaluated
    evaluate_all(db, NOW)
    db.commit()
    assert not due(db, load_section(db), NOW + timedelta(minutes=5))
    assert due(db, load_section(db), NOW + timedelta(minutes=15))
    # A control's evidence changes in the plan: due at once.
    apply(
        db, PLAN.replace("{query: admins_have_mfa}", "{query: admins_have_mfa, roles: [operator]}")
    )
    assert due(db, load_section(db), NOW + timedelta(minutes=1))
    evaluate_all(db, NOW + timedelta(minutes=1))
    db.commit()
    # A control leaves the plan: its state goes, its history stays.
    apply(db, PLAN.split("    - name: WK-TRAIL")[0])
    assert due(db, load_section(db), NOW + timedelta(minutes=2))
    evaluate_all(db, NOW + timedelta(minutes=2))
    db.commit()
    assert db.scalars(select(ComplianceState.control)).all() == ["WK-MFA"]
    assert db.scalars(
        select(ComplianceEvent.status).where(ComplianceEvent.control == "WK-TRAIL")
    ).all() == ["pass"]


@pytest.fixture
def broken_query() -> Iterator[str]:
    """Evidence queries that raise (as a plugin with a bug would): a driver's error, whose
    message holds SQL and parameters, and one of ours, written for people."""

    def explode(db: Session, params: NoParams, now: datetime) -> Evidence:
        raise RuntimeError("(psycopg) SELECT token FROM api_tokens WHERE secret = 's3cr3t'")

    def unreadable(db: Session, params: NoParams, now: datetime) -> Evidence:
        raise Unreadable("the stored security section does not validate; re-apply the plan")

    registry.add(EvidenceQuery("test_explodes", "A query that always raises.", NoParams, explode))
    registry.add(EvidenceQuery("test_unreadable", "A bad stored section.", NoParams, unreadable))
    yield "test_explodes"
    del registry.queries["test_explodes"], registry.queries["test_unreadable"]


def test_a_failing_query_is_unknown_and_the_others_still_run(
    db: Session, broken_query: str, caplog: pytest.LogCaptureFixture
) -> None:
    apply(
        db,
        PLAN
        + f"""    - name: WK-BROKEN
      title: Broken evidence
      evidence:
        - {{query: {broken_query}}}
        - {{query: test_unreadable}}
        - {{query: audit_trail_intact}}
""",
    )
    outcomes = {o.control.id: o for o in evaluate_all(db, NOW)}
    db.commit()
    broken = outcomes["WK-BROKEN"]
    assert broken.status == "unknown"
    # Viewers and signed reports see the error's type; the server log has its message.
    assert broken.evidence[0]["summary"] == (
        "The evidence could not be gathered: RuntimeError (the server log has the details)."
    )
    assert "SELECT token FROM api_tokens" in caplog.text  # the details, for the operator
    assert broken.evidence[1]["summary"] == (
        "The evidence could not be gathered: the stored security section does not validate; "
        "re-apply the plan."
    )
    assert broken.evidence[2]["status"] == "pass"
    assert outcomes["WK-TRAIL"].status == "pass"


def test_the_service_evaluates_when_due(module_engine: Engine, db: Session) -> None:
    apply(db, PLAN)
    clock = [NOW]
    service = ComplianceService(session_factory(module_engine), clock=lambda: clock[0])

    async def passes() -> list[bool]:
        done = [await service.run_once()]
        clock[0] += timedelta(minutes=1)
        done.append(await service.run_once())
        clock[0] += timedelta(minutes=15)
        done.append(await service.run_once())
        return done

    assert asyncio.run(passes()) == [True, False, True]
    db.expire_all()
    assert {s.control: s.evaluated_at for s in db.scalars(select(ComplianceState))} == {
        "WK-MFA": NOW + timedelta(minutes=16),
        "WK-TRAIL": NOW + timedelta(minutes=16),
    }


def test_an_unreadable_stored_section_keeps_the_last_states(
    module_engine: Engine, db: Session
) -> None:
    """A stored section that no longer validates (a disabled id an upgrade renamed) stops
    the evaluation instead of dropping every control's state."""
    apply(db, PLAN)
    evaluate_all(db, NOW)
    db.commit()
    settings = db.scalars(
        select(StoredObject).where(
            StoredObject.kind == "settings", StoredObject.name == "compliance"
        )
    ).one()
    settings.spec = {**settings.spec, "disabled": ["SOC2-RENAMED"]}
    db.commit()
    with pytest.raises(SectionUnreadable, match="re-apply the plan"):
        load_section(db)
    service = ComplianceService(
        session_factory(module_engine), clock=lambda: NOW + timedelta(days=1)
    )
    assert asyncio.run(service.run_once()) is False
    db.expire_all()
    assert sorted(db.scalars(select(ComplianceState.control))) == ["WK-MFA", "WK-TRAIL"]
