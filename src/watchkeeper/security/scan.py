"""The scan: every host's latest inventories matched against the offline vulnerability
database, written as ``security_findings``.

A finding is one (host, inventory ecosystem, location, package, vulnerability). The scan
works set-wise: it reads the latest inventory of each host and location, looks the
distinct package names up in ``osv_affected`` (by OSV ecosystem and normalised name, a few
hundred names per query), evaluates each distinct (package, version) once, whatever the
number of hosts having it, then compares the findings it computed with the stored ones:

- new: inserted (``first_seen``; ``fix_seen`` when a fixed version exists);
- still there: ``last_seen`` moves on (and version, fix, severity follow the record);
- gone: ``resolved_at`` is set; back again: reopened (``resolved_at`` cleared);
- ``fix_seen`` is the first time a fixed version was known for the finding.

Which OSV ecosystem an inventory is matched in: ``PyPI`` and ``npm`` as they are; Debian
inventories (source packages and versions, see ``inventory/debian.py``) in ``Debian:<distro>``
(``Debian:12``), only on Debian itself (a numeric ``distro``). Kernel inventories are not
matched: they hold the running kernel's release (``6.1.0-18-amd64``), which is not the
version of Debian's ``linux`` source package that the records give (``6.1.76-1``); the
installed kernel packages are matched through the Debian inventory instead. OS-update
inventories list upgrades, not installed software.

When one location has several versions of a package (nested npm dependencies, old kernel
packages), the finding names the lowest affected version, and the fix of the highest
affected one (upgrading every copy to it fixes them all).

The matching is pure computation and runs before the scan takes its lock (on SQLite the
database's write lock, which would stop every other writer meanwhile); under the lock the
scan checks that no inventory in its scope and no import of the database changed since,
and matches again if one did, so a slower scan never writes older findings over a newer
one's.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Text, delete, func, insert, select, true, update
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from watchkeeper.security.inventory_store import latest_ids, latest_inventories
from watchkeeper.security.osv.imports import serialise
from watchkeeper.security.osv.match import Entry, evaluate_entries
from watchkeeper.security.patches import after_scan
from watchkeeper.security.section import load_section
from watchkeeper.security.versions import Ordering, VersionError, ordering_for
from watchkeeper.store.tables import (
    HostPackages,
    OsvAffected,
    OsvImport,
    OsvVulnerability,
    SecurityFinding,
)

log = logging.getLogger(__name__)

CHUNK = 500
"""Names or ids per ``IN (...)`` query and rows per bulk update."""

Key = tuple[str, str, str, str, str]
"""(host, inventory ecosystem, location, package, vulnerability id)."""
Facts = tuple[list[str], str, str, Any]
"""What a finding copies from its record: aliases, summary, severity, CVSS score."""
_NO_FACTS: Facts = ([], "", "unknown", None)


@dataclass
class ScanResult:
    """What one scan changed, and what it saw."""

    inventories: int = 0
    packages: int = 0
    new: int = 0
    seen: int = 0
    resolved: int = 0
    reopened: int = 0
    undecided: int = 0
    """Package versions the ecosystem's ordering could not read (not matched)."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Inventories not matched, by ecosystem (``kernel``, ``os-updates``, non-Debian dpkg)."""
    open_by_severity: dict[str, int] = field(default_factory=dict)


def osv_ecosystem(ecosystem: str, distro: str) -> str | None:
    """The OSV ecosystem an inventory of ``ecosystem`` on ``distro`` is matched in (None:
    not matched; see the module docstring)."""
    if ecosystem == "Debian":
        return f"Debian:{distro}" if distro.isdigit() else None
    if ecosystem in ("kernel", "os-updates"):
        return None
    return ecosystem


@dataclass(frozen=True)
class _Hit:
    """One vulnerability of one installed version."""

    version: str
    fixed: str | None


@dataclass
class _Wanted:
    """A finding as the scan computed it."""

    version: str
    fixed: str


class _Matcher:
    """Looks packages up in ``osv_affected`` and evaluates each (package, version) once."""

    def __init__(self, db: Session, result: ScanResult) -> None:
        self._db = db
        self._result = result
        self._entries: dict[tuple[str, str], dict[str, list[Entry]]] = {}
        self._cache: dict[tuple[str, str, str], dict[str, str | None]] = {}

    def load(self, ecosystem: str, names: Iterable[str]) -> None:
        """Fetch the affected entries of ``names`` in OSV ``ecosystem``."""
        wanted = sorted(set(names))
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            rows = self._db.execute(
                select(
                    OsvAffected.package,
                    OsvAffected.vuln_id,
                    OsvAffected.ranges,
                    OsvAffected.versions,
                ).where(OsvAffected.ecosystem == ecosystem, OsvAffected.package.in_(chunk))
            )
            for package, vuln_id, ranges, versions in rows:
                by_vuln = self._entries.setdefault((ecosystem, package), {})
                by_vuln.setdefault(vuln_id, []).append((ranges or [], versions or []))

    def vulns(
        self, ecosystem: str, ordering: Ordering | None, package: str, version: str
    ) -> dict[str, str | None]:
        """The vulnerabilities affecting ``package`` at ``version``, with the fix of each."""
        key = (ecosystem, package, version)
        found = self._cache.get(key)
        if found is not None:
            return found
        found = {}
        undecided = False
        for vuln_id, entries in self._entries.get((ecosystem, package), {}).items():
            try:
                match = evaluate_entries(version, entries, ordering)
            except VersionError:
                undecided = True
                continue
            if match.affected:
                found[vuln_id] = match.fixed
        if undecided:
            self._result.undecided += 1
            log.debug("scan: %s %s %s: version not readable in its ordering", *key)
        self._cache[key] = found
        return found


def _sort_key(ordering: Ordering | None) -> Any:
    def key(hit: _Hit) -> Any:
        return hit.version

    if ordering is None:
        return key

    def compare(a: _Hit, b: _Hit) -> int:
        try:
            return ordering.compare(a.version, b.version)
        except VersionError:
            return (a.version > b.version) - (a.version < b.version)

    return functools.cmp_to_key(compare)


def _wanted(db: Session, result: ScanResult, hosts: Collection[str] | None) -> dict[Key, _Wanted]:
    """The findings the latest inventories and the database give now."""
    inventories = latest_inventories(db, hosts)
    result.inventories = len(inventories)
    plan: list[tuple[HostPackages, str, Ordering | None, list[tuple[str, str]]]] = []
    names: dict[str, set[str]] = defaultdict(set)
    for inv in inventories:
        eco = osv_ecosystem(inv.ecosystem, inv.distro)
        if eco is None:
            result.skipped[inv.ecosystem] = result.skipped.get(inv.ecosystem, 0) + 1
            continue
        ordering = ordering_for(eco)
        normalise = ordering.normalise if ordering is not None else str
        pairs = [
            (normalise(row[0]), row[1])
            for row in inv.packages or []
            if len(row) >= 2 and row[0] and row[1]
        ]
        result.packages += len(pairs)
        names[eco].update(name for name, _ in pairs)
        plan.append((inv, eco, ordering, pairs))
    matcher = _Matcher(db, result)
    for eco, wanted_names in names.items():
        matcher.load(eco, wanted_names)
    grouped: dict[Key, list[_Hit]] = defaultdict(list)
    orderings: dict[Key, Ordering | None] = {}
    for inv, eco, ordering, pairs in plan:
        for name, version in pairs:
            for vuln_id, fixed in matcher.vulns(eco, ordering, name, version).items():
                key = (inv.host, inv.ecosystem, inv.location, name, vuln_id)
                grouped[key].append(_Hit(version, fixed))
                orderings[key] = ordering
    wanted: dict[Key, _Wanted] = {}
    for key, hits in grouped.items():
        if len(hits) == 1:
            wanted[key] = _Wanted(hits[0].version, hits[0].fixed or "")
            continue
        ordered = sorted(hits, key=_sort_key(orderings[key]))
        wanted[key] = _Wanted(ordered[0].version, ordered[-1].fixed or "")
    return wanted


def _inputs(db: Session, hosts: Collection[str] | None) -> tuple[Any, ...]:
    """What the matching reads, in brief: the latest inventory ids in scope (a location's
    packages never change under its id) and the imports of the database that ended (an
    import writes its records before it ends)."""
    ids = tuple(sorted(db.scalars(latest_ids(hosts))))
    imports = db.execute(
        select(func.count(OsvImport.finished_at), func.max(OsvImport.finished_at))
    ).one()
    return ids, tuple(imports)


def _match(
    db: Session, hosts: Collection[str] | None
) -> tuple[tuple[Any, ...], ScanResult, dict[Key, _Wanted], dict[str, Facts]]:
    """The findings wanted now and their records' facts, with the :func:`_inputs` read
    before them."""
    inputs = _inputs(db, hosts)
    result = ScanResult()
    wanted = _wanted(db, result, hosts)
    return inputs, result, wanted, _vuln_facts(db, sorted({key[4] for key in wanted}))


def _vuln_facts(db: Session, ids: Sequence[str]) -> dict[str, Facts]:
    facts = {}
    for start in range(0, len(ids), CHUNK):
        for vid, aliases, summary, severity, score in db.execute(
            select(
                OsvVulnerability.id,
                OsvVulnerability.aliases,
                OsvVulnerability.summary,
                OsvVulnerability.severity,
                OsvVulnerability.score,
            ).where(OsvVulnerability.id.in_(ids[start : start + CHUNK]))
        ):
            facts[vid] = (list(aliases or []), summary[:2000], severity, score)
    return facts


def _refresh_facts(db: Session, facts: dict[str, Facts], scope: Any) -> None:
    """Bring the record's aliases, summary, severity and score into the unresolved findings
    of the vulnerabilities whose record changed: compared once per vulnerability (the
    distinct values the findings hold), not once per finding."""
    held = db.execute(
        select(
            SecurityFinding.vuln_id,
            cast_(SecurityFinding.aliases, Text),
            SecurityFinding.summary,
            SecurityFinding.severity,
            SecurityFinding.score,
        )
        .where(SecurityFinding.resolved_at.is_(None), scope)
        .distinct()
    ).all()
    stale = set()
    for vuln_id, aliases, summary, severity, score in held:
        now_facts = facts.get(vuln_id)
        if now_facts is None:
            continue  # the finding goes (or the record went): resolved below
        if (json.loads(aliases or "[]"), summary, severity, score) != now_facts:
            stale.add(vuln_id)
    for vuln_id in sorted(stale):
        new_aliases, new_summary, new_severity, new_score = facts[vuln_id]
        db.execute(
            update(SecurityFinding)
            .where(SecurityFinding.vuln_id == vuln_id, SecurityFinding.resolved_at.is_(None), scope)
            .values(
                aliases=new_aliases, summary=new_summary, severity=new_severity, score=new_score
            )
            .execution_options(synchronize_session=False)
        )


def _same_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rows`` grouped by their keys (an executemany needs the same columns in each)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())


def scan(db: Session, now: datetime, *, hosts: Collection[str] | None = None) -> ScanResult:
    """Match the latest inventories against the vulnerability database and bring
    ``security_findings`` up to date (see the module docstring); with ``hosts``, only those
    hosts' (after a new inventory of one host). Resolved findings older than
    ``security.history`` are deleted. Concurrent scans write one after the other. Caller
    commits."""
    inputs, result, wanted, facts = _match(db, hosts)
    serialise(db, "security-scan")
    if _inputs(db, hosts) != inputs:  # a newer inventory or import came meanwhile
        log.info("scan: the inventories or the database changed while matching; again")
        _, result, wanted, facts = _match(db, hosts)
    scope = SecurityFinding.host.in_(list(hosts)) if hosts is not None else true()
    _refresh_facts(db, facts, scope)
    stored = select(
        SecurityFinding.id,
        SecurityFinding.host,
        SecurityFinding.ecosystem,
        SecurityFinding.location,
        SecurityFinding.package,
        SecurityFinding.vuln_id,
        SecurityFinding.version,
        SecurityFinding.fixed_version,
        SecurityFinding.fix_seen.is_not(None).label("fix_known"),
        SecurityFinding.resolved_at.is_not(None).label("resolved"),
    ).where(scope)
    existing = {
        (f.host, f.ecosystem, f.location, f.package, f.vuln_id): f for f in db.execute(stored)
    }
    inserts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for key, want in wanted.items():
        version, fixed = want.version[:255], want.fixed[:255]
        old = existing.get(key)
        if old is None:
            aliases, summary, severity, score = facts.get(key[4], _NO_FACTS)
            inserts.append(
                {
                    "host": key[0],
                    "ecosystem": key[1],
                    "location": key[2],
                    "package": key[3][:255],
                    "vuln_id": key[4],
                    "version": version,
                    "fixed_version": fixed,
                    "severity": severity,
                    "score": score,
                    "summary": summary,
                    "aliases": aliases,
                    "first_seen": now,
                    "last_seen": now,
                    "fix_seen": now if fixed else None,
                    "resolved_at": None,
                }
            )
            continue
        fix_appears = bool(fixed) and not old.fix_known
        if old.resolved or fix_appears or old.version != version or old.fixed_version != fixed:
            change: dict[str, Any] = {
                "id": old.id,
                "version": version,
                "fixed_version": fixed,
                "last_seen": now,
                "resolved_at": None,
            }
            if fix_appears:
                change["fix_seen"] = now
            changes.append(change)
        result.reopened += int(old.resolved)
        result.seen += int(not old.resolved)
    gone = [f.id for key, f in existing.items() if not f.resolved and key not in wanted]
    result.new, result.resolved = len(inserts), len(gone)
    table = cast(Table, SecurityFinding.__table__)
    for start in range(0, len(inserts), CHUNK):
        db.execute(insert(table), inserts[start : start + CHUNK])
    for group in _same_columns(changes):
        db.execute(update(SecurityFinding), group)
    for start in range(0, len(gone), CHUNK):
        db.execute(
            update(table).where(table.c.id.in_(gone[start : start + CHUNK])).values(resolved_at=now)
        )
    # Every finding left unresolved in scope is one the scan wants: still there.
    db.execute(
        update(table)
        .where(table.c.resolved_at.is_(None), table.c.last_seen < now, scope)
        .values(last_seen=now)
    )
    history = load_section(db).history
    db.execute(delete(table).where(table.c.resolved_at < now - history))
    for key in wanted:
        severity = facts.get(key[4], _NO_FACTS)[2]
        result.open_by_severity[severity] = result.open_by_severity.get(severity, 0) + 1
    log.info(
        "scan: %d inventories, %d packages: %d new finding(s), %d resolved, %d reopened, %d open",
        result.inventories,
        result.packages,
        result.new,
        result.resolved,
        result.reopened,
        len(wanted),
    )
    return result


def run_scan(db: Session, now: datetime, host: str | None = None) -> ScanResult:
    """Scan (``host``'s inventories, after a new one of it; every host's when None) and
    commit, then bring the patch plan (of ``host``) up to date and commit; return what the
    scan changed. The plan is refreshed once the scan's lock is released: other scans need
    not wait for it, and a refresh that fails is caught up by the security service."""
    hosts = None if host is None else [host]
    result = scan(db, now, hosts=hosts)
    db.commit()
    after_scan(db, now, hosts)
    db.commit()
    return result
