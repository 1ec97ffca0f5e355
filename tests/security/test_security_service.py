"""The security service's pass: the findings and patch-plan gauges on /metrics, and
``VulnerabilityFixOverdue`` raised per host for an overdue fix of the alert severity or
worse, then resolved once patched or suppressed."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.security.findings_support import (
    NOW,
    PLAN,
    add_finding,
    add_inventory,
    apply_security_plan,
)
from watchkeeper.alerts.internal import INTERNAL_RULE
from watchkeeper.auth.audit import Actor
from watchkeeper.security import suppressions
from watchkeeper.security.alerting import FIX_OVERDUE
from watchkeeper.security.section import SectionUnreadable, load_section
from watchkeeper.security.service import SecurityService
from watchkeeper.store.tables import Alert, PatchAction, SecurityFinding, StoredObject
from watchkeeper.telemetry import REGISTRY


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _firing(db: Session) -> dict[str, Alert]:
    return {
        a.labels["host"]: a
        for a in db.scalars(
            select(Alert).where(Alert.rule == INTERNAL_RULE, Alert.state == "firing")
        )
        if a.labels.get("alertname") == FIX_OVERDUE
    }


def test_metrics_and_the_overdue_alert_raised_then_resolved(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as db:
        apply_security_plan(db)  # fix_age 30d, alert_severity high
        add_finding(db, "GHSA-crit", severity="critical", fix_seen=NOW - timedelta(days=31))
        add_finding(db, "GHSA-med", package="jinja2", severity="medium", score=5.4)  # 40 d
        add_finding(db, "GHSA-fresh", host="db-1", fix_seen=NOW - timedelta(days=3))
        add_finding(db, "GHSA-nofix", host="db-1", package="ecdsa", fixed="", score=None)
        add_finding(
            db, "GHSA-v845", host="batch-1", package="urllib3", aliases=["CVE-2023-43804"]
        )  # overdue, but the plan suppresses it
        db.commit()
    clock = [NOW]
    service = SecurityService(sessions, clock=lambda: clock[0])

    done = service.run_once()
    assert done.firing == ["web-1"]
    assert done.actions == {"planned": 4, "applied": 0, "verified": 0, "obsolete": 0}
    findings = "watchkeeper_security_findings"
    assert _gauge(findings, severity="critical", fix_available="true", suppressed="false") == 1
    assert _gauge(findings, severity="medium", fix_available="true", suppressed="false") == 1
    assert _gauge(findings, severity="high", fix_available="true", suppressed="false") == 1
    assert _gauge(findings, severity="high", fix_available="false", suppressed="false") == 1
    assert _gauge(findings, severity="high", fix_available="true", suppressed="true") == 1
    assert _gauge(findings, severity="low", fix_available="true", suppressed="false") == 0
    overdue = "watchkeeper_security_findings_overdue"
    assert _gauge(overdue, severity="critical") == 1
    assert _gauge(overdue, severity="medium") == 1  # counted, but below the alert's severity
    assert _gauge(overdue, severity="high") == 0  # the suppressed one is not
    assert _gauge("watchkeeper_patch_actions", status="planned") == 4
    assert _gauge("watchkeeper_patch_actions", status="verified") == 0
    with sessions() as db:
        [alert] = _firing(db).values()
        assert alert.labels == {
            "alertname": FIX_OVERDUE,
            "host": "web-1",
            "severity": "warning",
        }
        assert "GHSA-crit in requests, critical" in alert.annotations["summary"]
        assert (
            "requests 2.25.0 → 2.31.0: GHSA-crit (critical, CVSS 7.5"
            in (alert.annotations["description"])
        )
        assert "GHSA-med" not in alert.annotations["description"]

    # A second pass changes nothing (one alert, no new actions).
    clock[0] = NOW + timedelta(minutes=1)
    assert service.run_once().refresh.created == []
    with sessions() as db:
        assert list(_firing(db)) == ["web-1"]
        first = _firing(db)["web-1"]
        first_id, first_annotations = first.id, dict(first.annotations)
        assert "fix available since 2026-02-01)" in first_annotations["description"]
        # Another overdue finding on web-1: the firing alert says so (no second alert).
        add_finding(db, "GHSA-more", package="urllib3", version="1.26.4", fixed="1.26.18")
        db.commit()
    clock[0] = NOW + timedelta(minutes=2)
    service.run_once()
    with sessions() as db:
        [alert] = _firing(db).values()
        assert alert.id == first_id and alert.annotations != first_annotations
        assert alert.annotations["summary"].startswith("web-1: 2 high-or-worse vulnerabilities")
        assert "urllib3 1.26.4 → 1.26.18: GHSA-more" in alert.annotations["description"]

    # db-1's fix becomes overdue a month later; web-1 is patched (the next inventory shows
    # requests 2.31.0 and the scan resolves its findings): its alert resolves, the patch is
    # verified.
    clock[0] = NOW + timedelta(days=28)
    with sessions() as db:
        add_inventory(db, [["requests", "2.31.0"], ["jinja2", "3.1.4"]], collected_at=clock[0])
        db.execute(
            update(SecurityFinding)
            .where(SecurityFinding.host == "web-1")
            .values(resolved_at=clock[0])
        )
        db.commit()
    done = service.run_once()
    assert done.firing == ["db-1"]
    assert done.actions["verified"] == 3  # requests, jinja2 and urllib3 (gone) on web-1
    assert _gauge("watchkeeper_patch_actions", status="verified") == 3
    assert _gauge(overdue, severity="critical") == 0
    assert _gauge(overdue, severity="high") == 1
    with sessions() as db:
        assert list(_firing(db)) == ["db-1"]
        resolved = db.scalars(
            select(Alert).where(Alert.rule == INTERNAL_RULE, Alert.state == "resolved")
        ).one()
        assert resolved.labels["host"] == "web-1" and resolved.resolved_at == clock[0]
        # Suppressing db-1's finding resolves its alert too.
        suppressions.create(
            db,
            Actor("olga"),
            vulnerability="GHSA-fresh",
            host="db-1",
            reason="db-1 is retired next week.",
            now=clock[0],
        )
        db.commit()
    assert service.run_once().firing == []
    with sessions() as db:
        assert _firing(db) == {}
        statuses = {(a.host, a.package): a.status for a in db.scalars(select(PatchAction))}
    assert statuses == {
        ("web-1", "requests"): "verified",
        ("web-1", "jinja2"): "verified",
        ("web-1", "urllib3"): "verified",
        ("db-1", "requests"): "obsolete",  # its one vulnerability is suppressed now
        ("db-1", "ecdsa"): "planned",
    }
    assert _gauge(findings, severity="high", fix_available="true", suppressed="true") == 2


def _actions(db: Session) -> dict[tuple[str, str], PatchAction]:
    return {(a.host, a.package): a for a in db.scalars(select(PatchAction))}


def test_a_pass_refreshes_only_the_hosts_whose_plan_inputs_changed(
    sessions: sessionmaker[Session],
) -> None:
    """After the first pass, a host whose findings and inventories did not change keeps its
    plan rows as they are (db-1's rank, set to 0 behind the service's back, stays 0); a
    change of the plan's exposed hosts refreshes every host, and a passed patch-window
    slot refreshes the hosts planned into it."""
    with sessions() as db:
        apply_security_plan(db)  # sunday-night (Sun 02:00-04:00) first, then first-of-month
        for host in ("web-1", "db-1", "db-2"):
            add_finding(db, f"GHSA-{host}", host=host)
        db.commit()
    clock = [NOW]
    service = SecurityService(sessions, clock=lambda: clock[0])
    assert service.run_once().refreshed is None  # the first pass: every host

    with sessions() as db:
        db.execute(update(PatchAction).where(PatchAction.host == "db-1").values(rank=0.0))
        add_finding(db, "GHSA-jinja", package="jinja2", version="3.0.0", fixed="3.1.4")
        db.commit()
    clock[0] = NOW + timedelta(minutes=1)
    done = service.run_once()
    assert done.refreshed == frozenset({"web-1"})
    assert len(done.refresh.created) == 1 and done.refresh.updated == []  # web-1's jinja2
    with sessions() as db:
        rows = _actions(db)
        assert rows[("db-1", "requests")].rank == 0.0  # untouched: not rewritten
        assert rows[("db-1", "requests")].updated_at == NOW
        assert rows[("web-1", "jinja2")].status == "planned"

    clock[0] = NOW + timedelta(minutes=2)
    assert service.run_once().refreshed == frozenset()  # nothing changed

    with sessions() as db:
        apply_security_plan(db, PLAN.replace('exposed_hosts: ["web-*"]', 'exposed_hosts: ["db-*"]'))
    clock[0] = NOW + timedelta(minutes=3)
    assert service.run_once().refreshed is None  # the plan's part changed: every host
    with sessions() as db:
        rows = _actions(db)
        assert rows[("db-1", "requests")].rank == rows[("db-2", "requests")].rank > 0
        assert rows[("db-1", "requests")].rank > rows[("web-1", "requests")].rank  # exposed
        assert {a.scheduled_for for a in rows.values()} == {
            datetime(2026, 3, 8, 2, tzinfo=UTC)  # the next Sunday night
        }

    # While the window is open the slot holds; once it closed unused, the next pass
    # moves every planned action to the next opening (less than an hour after the last
    # full refresh, so only for that reason).
    clock[0] = datetime(2026, 3, 8, 3, 30, tzinfo=UTC)
    assert service.run_once().refreshed is None  # hourly: every host
    clock[0] = datetime(2026, 3, 8, 3, 45, tzinfo=UTC)
    assert service.run_once().refreshed == frozenset()
    clock[0] = datetime(2026, 3, 8, 4, 10, tzinfo=UTC)
    assert service.run_once().refreshed == frozenset({"web-1", "db-1", "db-2"})
    with sessions() as db:
        assert {a.scheduled_for for a in _actions(db).values()} == {
            datetime(2026, 3, 15, 2, tzinfo=UTC)
        }
    clock[0] = datetime(2026, 3, 8, 4, 11, tzinfo=UTC)
    assert service.run_once().refreshed == frozenset()


def test_an_unreadable_section_is_logged_once(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    with sessions() as db:
        db.add(
            StoredObject(
                kind="security.sources",
                name="bad",
                spec={"name": "bad", "ecosystem": "Cobol", "path": "/srv/osv.zip"},
            )
        )
        db.commit()
        with pytest.raises(SectionUnreadable) as caught:
            load_section(db)
    service = SecurityService(sessions, clock=lambda: NOW)

    async def passes() -> None:
        task = asyncio.create_task(service.run())
        for _ in range(3):
            service.wake()
            await asyncio.sleep(0.05)
        await service.stop()
        await task

    with caplog.at_level(logging.INFO, logger="watchkeeper.security.service"):
        asyncio.run(passes())
    assert [r.getMessage() for r in caplog.records] == [
        f"security: no patch-plan refresh: {caught.value}"
    ]
