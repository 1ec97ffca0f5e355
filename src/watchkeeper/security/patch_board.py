"""The patch plan as users see it: each action with the findings it fixes, its exposure and
highest CVSS score, best rank first (the board, the API and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.security.config import SecuritySection
from watchkeeper.security.findings import FindingView, open_findings
from watchkeeper.security.patches import STATUSES, finding_key, is_exposed
from watchkeeper.store.tables import PatchAction


@dataclass(frozen=True)
class ActionView:
    id: int
    host: str
    ecosystem: str
    location: str
    package: str
    from_version: str
    to_version: str
    vulns: list[str]
    severity: str
    rank: float
    status: str
    window: str
    scheduled_for: datetime | None
    created_at: datetime
    updated_at: datetime
    applied_at: datetime | None
    applied_by: str
    verified_at: datetime | None
    exposed: bool
    findings: list[FindingView]
    """The open findings the action fixes (none once verified or obsolete)."""

    @property
    def score(self) -> float | None:
        """The highest CVSS score of its open findings."""
        return max((f.score for f in self.findings if f.score is not None), default=None)

    @property
    def title(self) -> str:
        """``upgrade X a → b fixes N`` (or that no fix exists yet)."""
        n = len(self.vulns)
        plural = "vulnerability" if n == 1 else "vulnerabilities"
        if not self.to_version:
            return f"{self.package} {self.from_version}: no fix yet for {n} {plural}"
        return f"upgrade {self.package} {self.from_version} → {self.to_version} fixes {n} {plural}"


def _view(row: PatchAction, findings: list[FindingView], section: SecuritySection) -> ActionView:
    return ActionView(
        id=row.id,
        host=row.host,
        ecosystem=row.ecosystem,
        location=row.location,
        package=row.package,
        from_version=row.from_version,
        to_version=row.to_version,
        vulns=list(row.vulns or []),
        severity=row.severity,
        rank=row.rank,
        status=row.status,
        window=row.window,
        scheduled_for=row.scheduled_for,
        created_at=row.created_at,
        updated_at=row.updated_at,
        applied_at=row.applied_at,
        applied_by=row.applied_by,
        verified_at=row.verified_at,
        exposed=is_exposed(row.host, section.exposed_hosts),
        findings=findings,
    )


def list_actions(
    db: Session,
    section: SecuritySection,
    now: datetime,
    *,
    status: str | None = None,
    host: str | None = None,
) -> list[ActionView]:
    """The patch actions (of ``status``, of ``host`` when given): planned, applied,
    verified, obsolete; within each, best rank first, then soonest."""
    stmt = select(PatchAction)
    if status:
        stmt = stmt.where(PatchAction.status == status)
    if host:
        stmt = stmt.where(PatchAction.host == host)
    rows = list(db.scalars(stmt))
    by_key: dict[tuple[str, str, str, str, str], list[FindingView]] = {}
    if any(r.status in ("planned", "applied") for r in rows):
        for f in open_findings(db, section, now, hosts=[host] if host else None):
            if f.status == "open":
                by_key.setdefault(finding_key(f), []).append(f)
    views = []
    for row in rows:
        key = (row.host, row.ecosystem, row.location, row.package, row.from_version)
        wanted = set(row.vulns or [])
        mine = [f for f in by_key.get(key, []) if f.vuln_id in wanted]
        views.append(_view(row, mine, section))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(
        views,
        key=lambda a: (STATUSES.index(a.status), -a.rank, a.scheduled_for or far, a.id),
    )


def get_action(
    db: Session, section: SecuritySection, now: datetime, action_id: int
) -> ActionView | None:
    """Patch action ``action_id`` (None when there is none)."""
    row = db.get(PatchAction, action_id)
    if row is None:
        return None
    return next(a for a in list_actions(db, section, now, host=row.host) if a.id == action_id)
