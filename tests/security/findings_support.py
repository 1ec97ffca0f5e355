"""Findings test support: rows of ``security_findings`` and ``host_packages`` as the scan
and the agents write them, and a plan with a ``security`` section and patch windows."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.store.tables import HostPackages, OsvVulnerability, SecurityFinding

VENV = "/srv/shop/.venv"
# Sunday 2026-03-01 is a Sunday; "now" in these tests is Wednesday 2026-03-04 10:00 UTC.
NOW = datetime.fromisoformat("2026-03-04T10:00:00+00:00")

PLAN = """
alerts:
  maintenance_windows:
    - name: sunday-night
      weekly: [{days: [sun], start: "02:00", end: "04:00"}]
    - name: first-of-month
      cron: "0 3 1 * *"
      duration: 2h
security:
  patch_windows: [sunday-night, first-of-month]
  exposed_hosts: ["web-*"]
  fix_age: 30d
  alert_severity: high
  suppressions:
    - name: batch-urllib3
      vulnerability: CVE-2023-*
      package: urllib3
      hosts: ["batch-*"]
      reason: Batch hosts make no outbound TLS calls.
      expires: 2026-06-01
"""


def apply_security_plan(db: Session, text: str = PLAN) -> None:
    apply_plan(db, load_plan_text(textwrap.dedent(text), env={}))
    db.commit()


def add_finding(
    db: Session,
    vuln_id: str,
    *,
    host: str = "web-1",
    package: str = "requests",
    version: str = "2.25.0",
    fixed: str = "2.31.0",
    severity: str = "high",
    score: float | None = 7.5,
    ecosystem: str = "PyPI",
    location: str = VENV,
    aliases: list[str] | None = None,
    summary: str = "",
    first_seen: datetime = NOW - timedelta(days=40),
    fix_seen: datetime | None = None,
    last_seen: datetime = NOW - timedelta(hours=1),
    resolved_at: datetime | None = None,
) -> SecurityFinding:
    row = SecurityFinding(
        host=host,
        ecosystem=ecosystem,
        location=location,
        package=package,
        version=version,
        vuln_id=vuln_id,
        aliases=aliases or [],
        summary=summary or f"{vuln_id} in {package}",
        severity=severity,
        score=score,
        fixed_version=fixed,
        first_seen=first_seen,
        last_seen=last_seen,
        fix_seen=(fix_seen or first_seen) if fixed else None,
        resolved_at=resolved_at,
    )
    db.add(row)
    db.flush()
    return row


def add_inventory(
    db: Session,
    packages: list[list[str]],
    *,
    host: str = "web-1",
    ecosystem: str = "PyPI",
    location: str = VENV,
    collected_at: datetime = NOW,
) -> HostPackages:
    row = HostPackages(
        host=host,
        ecosystem=ecosystem,
        location=location,
        collected_at=collected_at,
        received_at=collected_at,
        packages=packages,
    )
    db.add(row)
    db.flush()
    return row


def add_record(db: Session, vuln_id: str, **fields: Any) -> OsvVulnerability:
    """An imported OSV record, in the shape of a real PyPI advisory."""
    record = {
        "id": vuln_id,
        "summary": fields.get("summary", "Requests leaks Proxy-Authorization headers"),
        "details": fields.get(
            "details",
            "Requests forwards `Proxy-Authorization` headers to destination servers "
            "when following HTTPS redirects.",
        ),
        "aliases": fields.get("aliases", ["CVE-2023-32681"]),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}],
        "references": [
            {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2023-32681"},
            {"type": "WEB", "url": "https://github.com/psf/requests/releases/tag/v2.31.0"},
            {"type": "WEB", "url": "javascript:alert(1)"},
        ],
    }
    row = OsvVulnerability(
        id=vuln_id,
        source="pypi",
        modified=NOW - timedelta(days=100),
        published=NOW - timedelta(days=300),
        summary=record["summary"],
        aliases=record["aliases"],
        severity="medium",
        score=6.1,
        record=record,
    )
    db.add(row)
    db.flush()
    return row
