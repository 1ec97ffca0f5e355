"""Suppressions (the plan's and those made through the API): globs over ids and aliases,
packages and hosts, expiry, validation naming the field, the audit trail; and the findings
as users see them (status, the suppression that hides one and why, filters, counts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.security.findings_support import NOW, add_finding, apply_security_plan
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.security import alerting, findings, suppressions
from watchkeeper.security.section import load_section
from watchkeeper.store.tables import AuditEntry, SecurityFinding

ACTOR = Actor("olga", "10.0.0.5")


def _rule(
    vulnerability: str,
    package: str = "*",
    hosts: tuple[str, ...] = ("*",),
    expires_at: datetime | None = None,
) -> suppressions.Suppression:
    return suppressions.Suppression(
        source="api",
        key="1",
        vulnerability=vulnerability,
        package=package,
        hosts=hosts,
        reason="accepted",
        actor="olga",
        created_at=None,
        expires_at=expires_at,
    )


FINDING = SecurityFinding(
    host="batch-7",
    package="urllib3",
    vuln_id="GHSA-v845-jxx5-vc9f",
    aliases=["CVE-2023-43804", "PYSEC-2023-192"],
)


@pytest.mark.parametrize(
    ("rule", "covers"),
    [
        (_rule("GHSA-v845-jxx5-vc9f"), True),
        (_rule("cve-2023-43804"), True),  # an alias, any case
        (_rule("CVE-2023-*"), True),
        (_rule("PYSEC-*", package="URLLIB3"), True),
        (_rule("CVE-2023-*", package="requests"), False),
        (_rule("CVE-2023-*", hosts=("web-*", "batch-?")), True),
        (_rule("CVE-2023-*", hosts=("web-*",)), False),
        (_rule("CVE-2024-*"), False),
    ],
)
def test_globs_over_ids_aliases_packages_and_hosts(
    rule: suppressions.Suppression, covers: bool
) -> None:
    assert rule.matches(FINDING) is covers
    assert suppressions.is_suppressed(FINDING, [rule], NOW) is covers


def test_an_expired_suppression_no_longer_hides() -> None:
    rule = _rule("CVE-2023-43804", expires_at=NOW + timedelta(hours=1))
    assert suppressions.suppressed_by(FINDING, [rule], NOW) is rule
    assert suppressions.suppressed_by(FINDING, [rule], NOW + timedelta(hours=1)) is None


def test_plan_suppressions_stop_when_their_expiry_day_begins(db: Session) -> None:
    apply_security_plan(db)  # batch-urllib3 expires 2026-06-01
    [rule] = suppressions.all_suppressions(db, load_section(db))
    assert (rule.source, rule.key, rule.label) == ("plan", "batch-urllib3", "plan: batch-urllib3")
    assert rule.expires_at == datetime(2026, 6, 1, tzinfo=UTC)
    assert rule.active(datetime(2026, 5, 31, 23, 59, tzinfo=UTC))
    assert not rule.active(datetime(2026, 6, 1, tzinfo=UTC))


def test_create_validates_each_field_and_audits(db: Session) -> None:
    with pytest.raises(ValidationFailed) as bad:
        suppressions.create(
            db,
            ACTOR,
            vulnerability=" ",
            reason="",
            host="",
            expires_at=NOW - timedelta(days=1),
            now=NOW,
        )
    fields = [f for f, _ in bad.value.errors]
    assert fields == ["vulnerability", "host", "reason", "expires"]
    row = suppressions.create(
        db,
        ACTOR,
        vulnerability="CVE-2023-43804",
        reason="  Not reachable: no TLS client use. ",
        package="urllib3",
        host="batch-*",
        expires_at=NOW + timedelta(days=30),
        now=NOW,
    )
    db.commit()
    assert (row.reason, row.actor) == ("Not reachable: no TLS client use.", "olga")
    entry = db.scalars(select(AuditEntry).where(AuditEntry.target == f"suppression/{row.id}")).one()
    assert entry.action == "security.suppression_create" and entry.client_addr == "10.0.0.5"
    assert entry.detail["reason"] == "Not reachable: no TLS client use."

    suppressions.delete(db, ACTOR, row.id)
    db.commit()
    actions = db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-1] == "security.suppression_delete"
    with pytest.raises(NotFoundError, match="those of the plan are removed there"):
        suppressions.delete(db, ACTOR, row.id)


def test_findings_show_status_suppression_and_counts(db: Session) -> None:
    apply_security_plan(db)
    add_finding(db, "GHSA-crit", severity="critical", score=9.8, fix_seen=NOW - timedelta(days=31))
    add_finding(db, "GHSA-new", fix_seen=NOW - timedelta(days=2))
    add_finding(db, "GHSA-nofix", package="ecdsa", version="0.18.0", fixed="", severity="low")
    hidden = add_finding(
        db, "GHSA-v845", host="batch-1", package="urllib3", aliases=["CVE-2023-43804"]
    )
    add_finding(db, "GHSA-old", host="db-1", resolved_at=NOW - timedelta(days=1))
    db.commit()
    section = load_section(db)
    current = findings.open_findings(db, section, NOW)
    by_id = {f.vuln_id: f for f in current}
    assert "GHSA-old" not in by_id
    assert by_id["GHSA-crit"].overdue and not by_id["GHSA-new"].overdue
    assert not by_id["GHSA-nofix"].fix_available
    suppressed = by_id["GHSA-v845"]
    assert suppressed.status == "suppressed" and not suppressed.overdue
    assert suppressed.suppression is not None
    assert suppressed.suppression.reason == "Batch hosts make no outbound TLS calls."
    assert [f.vuln_id for f in current][:2] == ["GHSA-crit", "GHSA-new"]  # open, worst first

    summary = findings.summarise(current)
    assert summary.by_severity == {"critical": 1, "high": 1, "medium": 0, "low": 1, "unknown": 0}
    assert (summary.open, summary.suppressed, summary.fixable, summary.overdue) == (3, 1, 2, 1)
    assert [(g.name, g.total) for g in summary.hosts] == [("web-1", 3)]
    assert [(g.name, g.ecosystem, g.total) for g in summary.packages] == [
        ("requests", "PyPI", 2),
        ("ecdsa", "PyPI", 1),
    ]
    counts, overdue = findings.metric_counts(current)
    assert counts[("critical", True, False)] == 1
    assert counts[("high", True, True)] == 1  # the suppressed one
    assert counts[("low", False, False)] == 1
    assert sum(counts.values()) == 4 and len(counts) == 20
    assert overdue == {"critical": 1, "high": 0, "medium": 0, "low": 0, "unknown": 0}
    # The store's short list of candidates gives what the full list gives (the suppressed
    # GHSA-v845 is a candidate, but not overdue).
    by_host = alerting.overdue_findings(db, section, NOW)
    assert by_host == alerting.overdue_by_host(current, section)
    assert {h: [f.vuln_id for f in items] for h, items in by_host.items()} == {
        "web-1": ["GHSA-crit"]
    }

    def ids(**kw: object) -> list[str]:
        page = findings.query(db, section, NOW, **kw)  # type: ignore[arg-type]
        return [f.vuln_id for f in page.findings]

    assert ids() == ["GHSA-crit", "GHSA-new", "GHSA-nofix"]  # open ones unless asked
    assert ids(status="resolved") == ["GHSA-old"]
    assert ids(status="suppressed") == ["GHSA-v845"]
    assert ids(host="web-1", severity="low") == ["GHSA-nofix"]
    assert ids(vulnerability="cve-2023-43804", status="suppressed") == ["GHSA-v845"]
    assert ids(vulnerability="cve-2023-43804") == []  # it is suppressed, not open
    assert ids(vulnerability="CVE-2023-4380") == []  # an alias is matched whole
    assert ids(vulnerability="ghsa-crit") == ["GHSA-crit"]
    assert ids(package="requests", status="open") == ["GHSA-crit", "GHSA-new"]
    page = findings.query(db, section, NOW, limit=1, offset=1)
    assert (page.total, [f.vuln_id for f in page.findings]) == (3, ["GHSA-new"])

    # A suppression made through the API hides another; once expired it no longer does.
    suppressions.create(
        db,
        ACTOR,
        vulnerability="GHSA-new",
        reason="Fixed by a WAF rule.",
        expires_at=NOW + timedelta(days=1),
        now=NOW,
    )
    assert ids(status="suppressed") == ["GHSA-v845", "GHSA-new"]  # same rank: by host
    page = findings.query(db, section, NOW, limit=1, offset=1)  # paged past the suppressed
    assert (page.total, [f.vuln_id for f in page.findings]) == (2, ["GHSA-nofix"])
    later = NOW + timedelta(days=2)
    expired = findings.query(db, section, later, status="suppressed")
    assert [f.vuln_id for f in expired.findings] == ["GHSA-v845"]
    detail = findings.get(db, section, NOW, hidden.id)
    assert detail.suppression is not None and detail.suppression.label == "plan: batch-urllib3"
