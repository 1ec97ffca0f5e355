"""Watchkeeper's own alert about vulnerabilities left unpatched, routed like any other alert:

- ``VulnerabilityFixOverdue`` (warning), one per host: an open, unsuppressed finding of
  ``security.alert_severity`` or worse has had a fixed version available (``fix_seen``)
  for longer than ``security.fix_age``. It resolves when no such finding is left on the
  host (patched, suppressed, or the plan's threshold changed). While it fires, its summary
  and description follow the host's overdue findings (they name the day each fix appeared,
  not an age that would go stale).

Derived from the findings and suppressions in the store, so whichever replica runs the
security service reaches the same alerts. :func:`overdue_findings` asks the store for the
few candidates (unresolved, severe enough, fix older than ``fix_age``) rather than reading
every finding, for whoever needs the overdue hosts without the full list.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.internal import INTERNAL_RULE, raise_internal, resolve_internal
from watchkeeper.security.config import SEVERITIES, SecuritySection
from watchkeeper.security.findings import FindingView, at_least, severity_rank, views
from watchkeeper.store.tables import Alert, SecurityFinding

FIX_OVERDUE = "VulnerabilityFixOverdue"
ALERT_SEVERITY = "warning"
LISTED = 10  # findings named in the alert's description


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:.0f} d" if days >= 1 else f"{seconds / 3600:.0f} h"


def overdue_by_host(
    findings: Iterable[FindingView], section: SecuritySection
) -> dict[str, list[FindingView]]:
    """The findings among ``findings`` that make each host's alert fire, worst first."""
    found: dict[str, list[FindingView]] = {}
    for f in findings:
        if f.overdue and at_least(f.severity, section.alert_severity):
            found.setdefault(f.host, []).append(f)
    for items in found.values():
        items.sort(key=lambda f: (severity_rank(f.severity), -(f.score or 0.0), f.fix_seen))
    return found


def overdue_findings(
    db: Session, section: SecuritySection, now: datetime
) -> dict[str, list[FindingView]]:
    """What :func:`overdue_by_host` gives for every finding not resolved at ``now``, read
    from the store: only the findings that could be overdue (unresolved, of
    ``alert_severity`` or worse, with a fix seen more than ``fix_age`` ago) are loaded and
    matched against the suppressions."""
    severe = [s for s in SEVERITIES if at_least(s, section.alert_severity)]
    candidates = views(
        db,
        [
            SecurityFinding.resolved_at.is_(None),
            SecurityFinding.fixed_version != "",
            SecurityFinding.fix_seen < now - section.fix_age,
            SecurityFinding.severity.in_(severe),
        ],
        section,
        now,
    )
    return overdue_by_host(candidates, section)


def _annotations(host: str, items: list[FindingView], section: SecuritySection) -> dict[str, str]:
    worst = items[0]
    lines = [
        f"{f.package} {f.version} → {f.fixed_version}: {f.vuln_id} ({f.severity}"
        + (f", CVSS {f.score:g}" if f.score is not None else "")
        + f", fix available since {f.fix_seen:%Y-%m-%d})"
        for f in items[:LISTED]
        if f.fix_seen is not None
    ]
    if len(items) > LISTED:
        lines.append(f"and {len(items) - LISTED} more")
    return {
        "summary": f"{host}: {len(items)} {section.alert_severity}-or-worse "
        f"vulnerabilit{'y' if len(items) == 1 else 'ies'} with a fix available for "
        f"more than {_days(section.fix_age.total_seconds())} (worst: {worst.vuln_id} in "
        f"{worst.package}, {worst.severity})",
        "description": "\n".join(lines),
        "fix": "See the patch plan: /security/patches",
    }


def evaluate(
    db: Session, section: SecuritySection, findings: Iterable[FindingView], now: datetime
) -> list[str]:
    """Raise ``VulnerabilityFixOverdue`` for every host with overdue findings among
    ``findings`` (the findings not resolved), bring the annotations of those firing
    already up to date, and resolve it for the other hosts; return the hosts it fires for.
    Caller commits."""
    wanted = overdue_by_host(findings, section)
    firing = {
        alert.labels.get("host", ""): alert
        for alert in db.scalars(
            select(Alert).where(Alert.rule == INTERNAL_RULE, Alert.state == "firing")
        )
        if alert.labels.get("alertname") == FIX_OVERDUE
    }
    for host, items in sorted(wanted.items()):
        annotations = _annotations(host, items, section)
        alert = firing.get(host)
        if alert is None:
            raise_internal(
                db, FIX_OVERDUE, {"host": host, "severity": ALERT_SEVERITY}, annotations, now
            )
        elif alert.annotations != annotations:
            alert.annotations = annotations
    for host, alert in firing.items():
        if host not in wanted:
            bare = {k: v for k, v in alert.labels.items() if k != "alertname"}
            resolve_internal(db, FIX_OVERDUE, bare, now)
    return sorted(wanted)
