"""What users see of the vulnerability findings: each finding with its status (open,
suppressed, resolved), whether a fix exists and since when, whether that fix is overdue,
and the suppression that hides it; counts by severity, by host and by package; one finding
with its OSV record.

The ``security_findings`` rows are written by the scan; this module only reads them. A
finding is *resolved* once the scan no longer sees it, *suppressed* while a suppression in
force covers it, *open* otherwise. A fix is *overdue* when an open finding has had a fixed
version available (``fix_seen``) for longer than ``security.fix_age``.

Rows are read as plain tuples of their columns (no ORM objects: a fleet has tens of
thousands of findings), and listings are filtered, ordered and paged by the store; only
telling open from suppressed needs the suppressions (globs over ids, aliases, packages and
hosts), matched here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, Text, case, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError
from watchkeeper.globs import is_glob
from watchkeeper.security.config import SEVERITIES, SecuritySection
from watchkeeper.security.suppressions import (
    Matchable,
    Suppression,
    active_suppressions,
    suppressed_by,
)
from watchkeeper.store.tables import OsvVulnerability, SecurityFinding

Status = Literal["open", "suppressed", "resolved"]
STATUSES: tuple[Status, ...] = ("open", "suppressed", "resolved")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
"""Severities by rank, worst (critical) 0 to ``unknown``."""
CHUNK = 500
"""Ids per ``IN (...)`` query."""


def severity_rank(severity: str) -> int:
    """The rank of ``severity``: 0 for critical, larger for less severe (unknown last)."""
    return SEVERITY_RANK.get(severity, len(SEVERITIES) - 1)


def at_least(severity: str, threshold: str) -> bool:
    """True when ``severity`` is ``threshold`` or worse."""
    return severity_rank(severity) <= severity_rank(threshold)


@dataclass(frozen=True)
class FindingView:
    """One finding as users see it."""

    id: int
    host: str
    ecosystem: str
    location: str
    package: str
    version: str
    vuln_id: str
    aliases: list[str]
    summary: str
    severity: str
    score: float | None
    fixed_version: str
    first_seen: datetime
    last_seen: datetime
    fix_seen: datetime | None
    resolved_at: datetime | None
    status: Status
    suppression: Suppression | None
    overdue: bool

    @property
    def fix_available(self) -> bool:
        return bool(self.fixed_version)

    def age_s(self, now: datetime) -> float:
        """Seconds since the finding was first seen (until resolved, when it is)."""
        return ((self.resolved_at or now) - self.first_seen).total_seconds()


_COLUMNS = (
    SecurityFinding.id,
    SecurityFinding.host,
    SecurityFinding.ecosystem,
    SecurityFinding.location,
    SecurityFinding.package,
    SecurityFinding.version,
    SecurityFinding.vuln_id,
    SecurityFinding.aliases,
    SecurityFinding.summary,
    SecurityFinding.severity,
    SecurityFinding.score,
    SecurityFinding.fixed_version,
    SecurityFinding.first_seen,
    SecurityFinding.last_seen,
    SecurityFinding.fix_seen,
    SecurityFinding.resolved_at,
)
_ORDER = (
    case(SEVERITY_RANK, value=SecurityFinding.severity, else_=len(SEVERITIES) - 1),
    func.coalesce(SecurityFinding.score, 0.0).desc(),
    SecurityFinding.first_seen,
    SecurityFinding.host,
    SecurityFinding.package,
    SecurityFinding.vuln_id,
    SecurityFinding.id,
)
"""Worst severity, highest CVSS score, oldest first (as :func:`_order` within a status)."""


class Stored(Matchable, Protocol):
    """What a view is made of: a ``SecurityFinding`` row, or a row of :data:`_COLUMNS`."""

    @property
    def id(self) -> int: ...
    @property
    def ecosystem(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def fixed_version(self) -> str: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def last_seen(self) -> datetime: ...
    @property
    def fix_seen(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...


def view_of(
    row: Stored,
    suppressions: Sequence[Suppression],
    section: SecuritySection,
    now: datetime,
) -> FindingView:
    """``row`` (a stored finding, or a row of its columns) with its status, the
    suppression that hides it and whether its fix is overdue at ``now``."""
    hidden = suppressed_by(row, suppressions, now) if row.resolved_at is None else None
    status: Status = (
        "resolved" if row.resolved_at is not None else "suppressed" if hidden else "open"
    )
    overdue = (
        status == "open"
        and bool(row.fixed_version)
        and row.fix_seen is not None
        and now - row.fix_seen > section.fix_age
    )
    return FindingView(
        id=row.id,
        host=row.host,
        ecosystem=row.ecosystem,
        location=row.location,
        package=row.package,
        version=row.version,
        vuln_id=row.vuln_id,
        aliases=list(row.aliases or []),
        summary=row.summary,
        severity=row.severity,
        score=row.score,
        fixed_version=row.fixed_version,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        fix_seen=row.fix_seen,
        resolved_at=row.resolved_at,
        status=status,
        suppression=hidden,
        overdue=overdue,
    )


def _order(view: FindingView) -> tuple[Any, ...]:
    return (
        STATUSES.index(view.status),
        severity_rank(view.severity),
        -(view.score or 0.0),
        view.first_seen,
        view.host,
        view.package,
        view.vuln_id,
        view.id,
    )


def views(
    db: Session,
    where: Iterable[ColumnElement[bool]],
    section: SecuritySection,
    now: datetime,
) -> list[FindingView]:
    """The findings matching every condition of ``where``, as users see them at ``now``,
    open first, then worst severity, highest CVSS score, oldest."""
    suppressions = active_suppressions(db, section, now)
    rows = db.execute(select(*_COLUMNS).where(*where))
    return sorted((view_of(r, suppressions, section, now) for r in rows), key=_order)


@dataclass(frozen=True)
class Page:
    """One page of a listing, and how many findings match in all."""

    total: int
    findings: list[FindingView]


def _filters(
    status: Status,
    host: str | None,
    package: str | None,
    severity: str | None,
    vulnerability: str | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        SecurityFinding.resolved_at.is_not(None)
        if status == "resolved"
        else SecurityFinding.resolved_at.is_(None)
    ]
    if host:
        where.append(SecurityFinding.host == host)
    if package:
        where.append(SecurityFinding.package == package)
    if severity:
        where.append(SecurityFinding.severity == severity)
    if vulnerability:
        where.append(_is_vulnerability(vulnerability))
    return where


def _is_vulnerability(name: str) -> ColumnElement[bool]:
    """The finding's id or one of its aliases is ``name`` (any case): an element of the
    aliases' JSON array is a quoted string, so ``"NAME"`` in its text is an exact match."""
    wanted = name.upper()
    quoted = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        func.upper(SecurityFinding.vuln_id) == wanted,
        func.upper(sql_cast(SecurityFinding.aliases, Text)).like(f'%"{quoted}"%', escape="\\"),
    )


def covered_hosts(db: Session, suppression: Suppression) -> set[str]:
    """The hosts with unresolved findings ``suppression`` covers (expiry not considered):
    those whose patch plan a new or removed suppression changes. The store narrows by
    whatever the suppression names without wildcards."""
    where: list[ColumnElement[bool]] = [SecurityFinding.resolved_at.is_(None)]
    if not is_glob(suppression.vulnerability):
        where.append(_is_vulnerability(suppression.vulnerability))
    if not is_glob(suppression.package):
        where.append(func.lower(SecurityFinding.package) == suppression.package.lower())
    if len(suppression.hosts) == 1 and not is_glob(suppression.hosts[0]):
        where.append(func.lower(SecurityFinding.host) == suppression.hosts[0].lower())
    rows = db.execute(
        select(
            SecurityFinding.host,
            SecurityFinding.package,
            SecurityFinding.vuln_id,
            SecurityFinding.aliases,
        ).where(*where)
    )
    return {r.host for r in rows if suppression.matches(r)}


def query(
    db: Session,
    section: SecuritySection,
    now: datetime,
    *,
    host: str | None = None,
    package: str | None = None,
    severity: str | None = None,
    status: Status = "open",
    vulnerability: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Page:
    """The findings of ``status`` matching every filter given (``vulnerability``: the OSV
    id or one of its aliases, any case), worst severity first, then highest CVSS score,
    oldest: ``limit`` of them (all when None) from ``offset``, and how many match.

    The store filters, orders and pages. While suppressions are in force, open and
    suppressed findings differ only by them: the unresolved findings matching the filters
    are then read in order (their ids and what suppressions match) and the page is taken
    from those of ``status``."""
    where = _filters(status, host, package, severity, vulnerability)
    suppressions = active_suppressions(db, section, now)
    if status == "resolved" or not suppressions:
        if status == "suppressed":
            return Page(0, [])
        total = db.scalar(select(func.count()).select_from(SecurityFinding).where(*where)) or 0
        rows = db.execute(
            select(*_COLUMNS).where(*where).order_by(*_ORDER).offset(offset).limit(limit)
        )
        return Page(total, [view_of(r, suppressions, section, now) for r in rows])
    hide = status == "suppressed"
    matching = db.execute(
        select(
            SecurityFinding.id,
            SecurityFinding.host,
            SecurityFinding.package,
            SecurityFinding.vuln_id,
            SecurityFinding.aliases,
        )
        .where(*where)
        .order_by(*_ORDER)
    )
    ids = [r.id for r in matching if (suppressed_by(r, suppressions, now) is not None) == hide]
    page = ids[offset:] if limit is None else ids[offset : offset + limit]
    found: dict[int, FindingView] = {}
    for start in range(0, len(page), CHUNK):
        chunk = page[start : start + CHUNK]
        found.update((v.id, v) for v in views(db, [SecurityFinding.id.in_(chunk)], section, now))
    return Page(len(ids), [found[i] for i in page if i in found])


def open_findings(
    db: Session,
    section: SecuritySection,
    now: datetime,
    *,
    hosts: Collection[str] | None = None,
) -> list[FindingView]:
    """The findings not resolved (of ``hosts``): open and suppressed ones, open first."""
    where = [SecurityFinding.resolved_at.is_(None)]
    if hosts is not None:
        where.append(SecurityFinding.host.in_(sorted(hosts)))
    return views(db, where, section, now)


@dataclass
class Group:
    """The open findings of one host or one package: counts by severity, worst first."""

    name: str
    ecosystem: str = ""
    by_severity: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    fixable: int = 0
    overdue: int = 0
    hosts: set[str] = field(default_factory=set)
    packages: set[str] = field(default_factory=set)
    findings: list[FindingView] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())

    @property
    def worst(self) -> str:
        return next((s for s in SEVERITIES if self.by_severity[s]), "unknown")

    def add(self, finding: FindingView) -> None:
        self.by_severity[finding.severity if finding.severity in SEVERITY_RANK else "unknown"] += 1
        self.fixable += finding.fix_available
        self.overdue += finding.overdue
        self.hosts.add(finding.host)
        self.packages.add(finding.package)
        self.findings.append(finding)


def rank_groups(groups: Iterable[Group]) -> list[Group]:
    """Most critical findings first, then most high ones, and so on; then by name."""
    return sorted(
        groups,
        key=lambda g: (
            tuple(-g.by_severity[s] for s in SEVERITIES),
            g.name,
            g.ecosystem,
        ),
    )


@dataclass
class Summary:
    """Counts of the findings not resolved: open ones by severity, by host and by package
    (worst first), and how many are suppressed, fixable and overdue."""

    by_severity: dict[str, int]
    suppressed: int
    fixable: int
    overdue: int
    hosts: list[Group]
    packages: list[Group]

    @property
    def open(self) -> int:
        return sum(self.by_severity.values())


def summarise(findings: Iterable[FindingView]) -> Summary:
    """Count ``findings`` (those resolved are left out; suppressed ones only counted)."""
    by_severity = dict.fromkeys(SEVERITIES, 0)
    hosts: dict[str, Group] = {}
    packages: dict[tuple[str, str], Group] = {}
    suppressed = fixable = overdue = 0
    for f in findings:
        if f.status == "suppressed":
            suppressed += 1
        if f.status != "open":
            continue
        by_severity[f.severity if f.severity in by_severity else "unknown"] += 1
        fixable += f.fix_available
        overdue += f.overdue
        hosts.setdefault(f.host, Group(f.host)).add(f)
        packages.setdefault((f.ecosystem, f.package), Group(f.package, f.ecosystem)).add(f)
    return Summary(
        by_severity=by_severity,
        suppressed=suppressed,
        fixable=fixable,
        overdue=overdue,
        hosts=rank_groups(hosts.values()),
        packages=rank_groups(packages.values()),
    )


def metric_counts(
    findings: Iterable[FindingView],
) -> tuple[dict[tuple[str, bool, bool], int], dict[str, int]]:
    """For ``/metrics``: the findings not resolved by (severity, fix available,
    suppressed), every combination present; and the overdue ones by severity."""
    counts: Counter[tuple[str, bool, bool]] = Counter()
    overdue: Counter[str] = Counter()
    for f in findings:
        if f.status == "resolved":
            continue
        severity = f.severity if f.severity in SEVERITY_RANK else "unknown"
        counts[(severity, f.fix_available, f.status == "suppressed")] += 1
        overdue[severity] += f.overdue
    every = {
        (s, fix, hidden): counts[(s, fix, hidden)]
        for s in SEVERITIES
        for fix in (True, False)
        for hidden in (True, False)
    }
    return every, {s: overdue[s] for s in SEVERITIES}


@dataclass(frozen=True)
class Reference:
    type: str
    url: str


@dataclass(frozen=True)
class Record:
    """What the OSV record says about a vulnerability, for the detail page."""

    id: str
    summary: str
    details: str
    aliases: list[str]
    published: datetime | None
    modified: datetime
    withdrawn: datetime | None
    severity: str
    score: float | None
    vectors: list[str]
    references: list[Reference]


def record_of(db: Session, vuln_id: str) -> Record | None:
    """The imported OSV record ``vuln_id`` (None when it is not, or no longer, imported)."""
    row = db.get(OsvVulnerability, vuln_id)
    if row is None:
        return None
    raw = row.record or {}
    refs = [
        Reference(str(r.get("type", "WEB")), str(r["url"]))
        for r in raw.get("references") or []
        if isinstance(r, dict) and isinstance(r.get("url"), str)
    ]
    vectors = [
        f"{s.get('type', '')}: {s.get('score', '')}"
        for s in raw.get("severity") or []
        if isinstance(s, dict)
    ]
    return Record(
        id=row.id,
        summary=row.summary,
        details=str(raw.get("details") or ""),
        aliases=list(row.aliases or []),
        published=row.published,
        modified=row.modified,
        withdrawn=row.withdrawn,
        severity=row.severity,
        score=row.score,
        vectors=vectors,
        references=refs,
    )


def get(db: Session, section: SecuritySection, now: datetime, finding_id: int) -> FindingView:
    """Finding ``finding_id``; raise NotFoundError when there is none."""
    found = views(db, [SecurityFinding.id == finding_id], section, now)
    if not found:
        raise NotFoundError(f"there is no finding {finding_id}")
    return found[0]


def same_vulnerability(
    db: Session, section: SecuritySection, now: datetime, finding: FindingView
) -> list[FindingView]:
    """The other findings of the same vulnerability (other hosts or places), open first."""
    where = [SecurityFinding.vuln_id == finding.vuln_id, SecurityFinding.id != finding.id]
    return views(db, where, section, now)
