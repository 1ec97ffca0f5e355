"""What the API, the CLI and the pages show of the offline vulnerability database: each
source with its last import and record count, one import, one vulnerability record. A
source's mirror URL is a secret and is never shown: only that it is a mirror."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from croniter import croniter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError
from watchkeeper.security.config import SecuritySection, VulnerabilitySource
from watchkeeper.security.osv import imports
from watchkeeper.store.tables import OsvAffected, OsvImport, OsvVulnerability


@dataclass(frozen=True)
class ImportView:
    id: int
    source: str
    ecosystem: str
    status: str
    trigger: str
    forced: bool
    started_at: datetime
    finished_at: datetime | None
    records_total: int
    records_added: int
    records_updated: int
    records_removed: int
    records_skipped: int
    error: str

    @classmethod
    def of(cls, row: OsvImport) -> ImportView:
        return cls(
            row.id,
            row.source,
            row.ecosystem,
            row.status,
            row.trigger,
            row.forced,
            row.started_at,
            row.finished_at,
            row.records_total,
            row.records_added,
            row.records_updated,
            row.records_removed,
            row.records_skipped,
            row.error,
        )


@dataclass(frozen=True)
class SourceView:
    name: str
    ecosystem: str
    kind: str
    """``file`` or ``mirror``."""
    path: str
    """The dump's path (a mirror's URL is not shown)."""
    schedule: str
    next_import: datetime
    timeout_s: float
    in_plan: bool
    """False for a source removed from the plan whose records are still stored."""
    records: int
    last_import: ImportView | None
    last_good: ImportView | None


def list_sources(db: Session, section: SecuritySection, now: datetime) -> list[SourceView]:
    """The plan's sources, then any other source with stored records or imports, each with
    its newest import, newest good import and record count."""
    last = imports.last_imports(db)
    counts = dict(
        db.execute(
            select(OsvVulnerability.source, func.count()).group_by(OsvVulnerability.source)
        ).all()
    )
    found = [_view(s, last, counts, now) for s in section.sources]
    planned = {s.name for s in section.sources}
    for name in sorted((set(last) | set(counts)) - planned):
        got = last.get(name, imports.LastImports(None, None))
        latest = got.latest or got.good
        found.append(
            SourceView(
                name=name,
                ecosystem=latest.ecosystem if latest else "",
                kind="",
                path="",
                schedule="",
                next_import=now,
                timeout_s=0.0,
                in_plan=False,
                records=int(counts.get(name, 0)),
                last_import=ImportView.of(got.latest) if got.latest else None,
                last_good=ImportView.of(got.good) if got.good else None,
            )
        )
    return found


def _view(
    source: VulnerabilitySource,
    last: dict[str, imports.LastImports],
    counts: dict[str, int],
    now: datetime,
) -> SourceView:
    got = last.get(source.name, imports.LastImports(None, None))
    return SourceView(
        name=source.name,
        ecosystem=source.ecosystem,
        kind="mirror" if source.url else "file",
        path=source.path or "",
        schedule=source.schedule,
        next_import=croniter(source.schedule, now).get_next(datetime),
        timeout_s=source.timeout.total_seconds(),
        in_plan=True,
        records=int(counts.get(source.name, 0)),
        last_import=ImportView.of(got.latest) if got.latest else None,
        last_good=ImportView.of(got.good) if got.good else None,
    )


def find_source(section: SecuritySection, name: str) -> VulnerabilitySource:
    """Return the plan's source ``name``; raise NotFoundError naming the sources it has."""
    for source in section.sources:
        if source.name == name:
            return source
    known = ", ".join(s.name for s in section.sources) or "none"
    raise NotFoundError(f'there is no vulnerability source "{name}" (the plan has: {known})')


def get_import(db: Session, import_id: int) -> ImportView:
    """Return import ``import_id``; raise NotFoundError."""
    row = db.get(OsvImport, import_id)
    if row is None:
        raise NotFoundError(f"there is no vulnerability database import {import_id}")
    return ImportView.of(row)


@dataclass(frozen=True)
class AffectedView:
    ecosystem: str
    package: str
    ranges: list[dict[str, Any]]
    versions: list[str]


@dataclass(frozen=True)
class VulnerabilityView:
    id: str
    source: str
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    summary: str
    aliases: list[str]
    severity: str
    score: float | None
    affected: list[AffectedView]
    record: dict[str, Any]


def get_vulnerability(db: Session, vuln_id: str) -> VulnerabilityView:
    """Return the stored record ``vuln_id`` (an OSV id such as ``GHSA-...`` or
    ``DSA-5532-1``); raise NotFoundError."""
    row = db.get(OsvVulnerability, vuln_id)
    if row is None:
        raise NotFoundError(f'the vulnerability database has no record "{vuln_id}"')
    affected = [
        AffectedView(a.ecosystem, a.package, list(a.ranges or []), list(a.versions or []))
        for a in db.scalars(
            select(OsvAffected).where(OsvAffected.vuln_id == vuln_id).order_by(OsvAffected.id)
        )
    ]
    return VulnerabilityView(
        id=row.id,
        source=row.source,
        modified=row.modified,
        published=row.published,
        withdrawn=row.withdrawn,
        summary=row.summary,
        aliases=list(row.aliases or []),
        severity=row.severity,
        score=row.score,
        affected=affected,
        record=dict(row.record or {}),
    )
