"""The patch plan: the open, unsuppressed findings turned into patch actions.

One action per (host, ecosystem, location, package, installed version): "upgrade X from a
to b fixes these N vulnerabilities", where b is the smallest version that fixes every one
of them that has a fix (the highest of their fixed versions, in the ecosystem's version
order). When none of them has a fix the action says so (``to_version`` "") and waits.

Actions are ranked by their worst severity, then exposure (hosts matching
``security.exposed_hosts`` first), then the highest CVSS score, then how many
vulnerabilities they fix; and planned into the next open time of the
``security.patch_windows`` maintenance windows (as soon as possible when none is named).

Status: ``planned`` → ``applied`` (a person says so, audited) → ``verified`` (automatic:
the host's newest inventory of that place shows every copy of the package at a version ≥ b,
or the package gone; an inventory that only records an error — the location gone, its
first collection failed — verifies nothing). A planned or applied action whose findings
went away otherwise (suppressed, or the version changed without reaching b) becomes
``obsolete``; it is planned again if they come back.

:func:`refresh` does all of this and is idempotent: it changes nothing when nothing
changed; given hosts, it only looks at theirs (an action belongs to one host). It runs
after each scan for the hosts scanned (:func:`after_scan`), for the hosts whose findings a
new or removed suppression covers (:func:`replan_for`), and every minute for every host in
the security service (suppressions expire, windows pass between scans).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.dbmaint.section import load_windows
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.globs import matches_any
from watchkeeper.security.config import SEVERITIES, SecuritySection
from watchkeeper.security.findings import (
    FindingView,
    covered_hosts,
    open_findings,
    severity_rank,
)
from watchkeeper.security.inventory_store import collected, latest_inventories
from watchkeeper.security.patch_windows import next_slot, schedule, slot_holds
from watchkeeper.security.section import load_section
from watchkeeper.security.suppressions import Suppression
from watchkeeper.security.versions import Ordering, VersionError, ordering_for
from watchkeeper.store.tables import PatchAction

log = logging.getLogger(__name__)

PLANNED, APPLIED, VERIFIED, OBSOLETE = "planned", "applied", "verified", "obsolete"
STATUSES = (PLANNED, APPLIED, VERIFIED, OBSOLETE)
LIVE = (PLANNED, APPLIED)

Key = tuple[str, str, str, str, str]  # host, ecosystem, location, package, installed version


# -- version order ----------------------------------------------------------------------------


def _ordering(ecosystem: str) -> Ordering | None:
    """The ecosystem's version order and name normalisation (None when Watchkeeper has
    none for it); the one place :func:`watchkeeper.security.versions.ordering_for` is used."""
    return ordering_for(ecosystem)


def compare_versions(ecosystem: str, a: str, b: str) -> int | None:
    """-1, 0 or 1 as version ``a`` sorts before, with or after ``b`` in ``ecosystem``'s
    order; None when the ecosystem has no order or either version cannot be read."""
    ordering = _ordering(ecosystem)
    if ordering is None:
        return None
    try:
        return ordering.compare(a, b)
    except VersionError as exc:
        log.warning("security: cannot compare %s versions %r and %r: %s", ecosystem, a, b, exc)
        return None


def highest(ecosystem: str, versions: Iterable[str]) -> str:
    """The highest of ``versions`` ("" for none); one that cannot be compared is passed over
    unless it is the only one."""
    best = ""
    for version in versions:
        if not best or (compare_versions(ecosystem, version, best) or 0) > 0:
            best = version
    return best


# -- proposals from the findings ------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """The action the open, unsuppressed findings of one package version ask for."""

    key: Key
    to_version: str
    vulns: tuple[str, ...]
    severity: str
    score: float | None
    exposed: bool
    last_seen: datetime

    @property
    def rank(self) -> float:
        return rank_of(self.severity, self.exposed, self.score, len(self.vulns))


def rank_of(severity: str, exposed: bool, score: float | None, count: int) -> float:
    """The action's rank, higher first: worst severity, then exposure, then the highest
    CVSS score (0-10), then the number of vulnerabilities fixed."""
    points = len(SEVERITIES) - 1 - severity_rank(severity)  # critical 4 .. unknown 0
    tenths = round(min(max(score or 0.0, 0.0), 10.0) * 10)  # 0..100
    return float(((points * 2 + int(exposed)) * 101 + tenths) * 1000 + min(count, 999))


def is_exposed(host: str, exposed_hosts: Sequence[str]) -> bool:
    """True when ``host`` matches one of the ``exposed_hosts`` globs (any case)."""
    return matches_any(host, exposed_hosts)


def finding_key(f: FindingView) -> Key:
    return (f.host, f.ecosystem, f.location, f.package, f.version)


def propose(findings: Iterable[FindingView], exposed_hosts: Sequence[str]) -> list[Proposal]:
    """One proposal per package version with open (unsuppressed) findings, best rank
    first. The target is the highest fixed version among them; the vulnerabilities are
    those it fixes (all of them, with no target, when none has a fix)."""
    groups: dict[Key, list[FindingView]] = {}
    for f in findings:
        if f.status == "open":
            groups.setdefault(finding_key(f), []).append(f)
    found = []
    for key, group in groups.items():
        fixable = [f for f in group if f.fixed_version]
        target = highest(key[1], (f.fixed_version for f in fixable))
        covered = fixable or group
        found.append(
            Proposal(
                key=key,
                to_version=target,
                vulns=tuple(sorted({f.vuln_id for f in covered})),
                severity=min((f.severity for f in covered), key=severity_rank),
                score=max((f.score for f in covered if f.score is not None), default=None),
                exposed=is_exposed(key[0], exposed_hosts),
                last_seen=max(f.last_seen for f in group),
            )
        )
    return sorted(found, key=lambda p: (-p.rank, p.key))


# -- verification by the inventories ---------------------------------------------------------


def _normaliser(ecosystem: str) -> Callable[[str], str]:
    """How ``ecosystem`` compares package names (PEP 503 for PyPI), lower case when it has
    no rule."""
    ordering = _ordering(ecosystem)
    return ordering.normalise if ordering is not None else str.lower


def package_index(packages: Iterable[Sequence[str]], ecosystem: str) -> dict[str, list[str]]:
    """The versions an inventory lists, by package name as the ecosystem compares names;
    several for nested npm copies. Built once per inventory, looked up once per action."""
    normal = _normaliser(ecosystem)
    index: dict[str, list[str]] = {}
    for entry in packages:
        if len(entry) >= 2:
            index.setdefault(normal(str(entry[0])), []).append(str(entry[1]))
    return index


def installed_versions(index: Mapping[str, list[str]], ecosystem: str, package: str) -> list[str]:
    """The versions of ``package`` in a :func:`package_index`."""
    return list(index.get(_normaliser(ecosystem)(package), []))


def shows_fixed(
    installed: Sequence[str], ecosystem: str, from_version: str, to_version: str
) -> bool:
    """True when an inventory listing ``installed`` (the package's versions) shows the
    action done: the package gone, or every copy at ``to_version`` or later (a copy left
    below it may still be vulnerable; one that cannot be compared is not proof)."""
    if not installed:
        return True
    if from_version in installed or not to_version:
        return False
    for version in installed:
        order = compare_versions(ecosystem, version, to_version)
        if order is None or order < 0:
            return False
    return True


def verify(db: Session, now: datetime, live: Sequence[PatchAction]) -> list[int]:
    """Mark verified those of the planned and applied actions ``live`` the newest
    inventory of their place shows done; return their ids. Caller commits."""
    if not live:
        return []
    places = {(a.host, a.ecosystem, a.location) for a in live}
    inventories = {
        (r.host, r.ecosystem, r.location): r
        for r in latest_inventories(db, {a.host for a in live}, {a.ecosystem for a in live})
        if (r.host, r.ecosystem, r.location) in places and collected(r)
    }
    indexes: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    done = []
    for action in live:
        place = (action.host, action.ecosystem, action.location)
        inventory = inventories.get(place)
        if inventory is None:
            continue
        if place not in indexes:
            indexes[place] = package_index(inventory.packages or [], action.ecosystem)
        installed = installed_versions(indexes[place], action.ecosystem, action.package)
        if shows_fixed(installed, action.ecosystem, action.from_version, action.to_version):
            action.status, action.verified_at, action.updated_at = VERIFIED, now, now
            done.append(action.id)
            log.info(
                "security: patch %d verified: %s on %s shows %s",
                action.id,
                action.package,
                action.host,
                ", ".join(installed) or "the package gone",
            )
    return done


# -- refreshing the plan ---------------------------------------------------------------------


@dataclass
class Refresh:
    """What one refresh changed (action ids)."""

    created: list[int]
    updated: list[int]
    reopened: list[int]
    obsolete: list[int]
    verified: list[int]


def _apply(row: PatchAction, p: Proposal) -> bool:
    """Bring ``row`` to proposal ``p``; return True when something changed."""
    wanted = {
        "to_version": p.to_version,
        "vulns": list(p.vulns),
        "severity": p.severity,
        "rank": p.rank,
    }
    changed = False
    for name, value in wanted.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def refresh(
    db: Session,
    now: datetime,
    *,
    section: SecuritySection | None = None,
    windows: Mapping[str, MaintenanceWindow] | None = None,
    findings: Sequence[FindingView] | None = None,
    hosts: Collection[str] | None = None,
) -> Refresh:
    """Bring the patch plan up to date with the findings (those not resolved, read when
    not given), inventories, suppressions and windows at ``now`` (see the module
    docstring); with ``hosts``, only the actions of those hosts (``findings``, when given,
    must then be theirs). Caller commits."""
    section = section if section is not None else load_section(db)
    windows = windows if windows is not None else load_windows(db)
    if findings is None:
        findings = open_findings(db, section, now, hosts=hosts)
    names = list(section.patch_windows)
    slot_cache: list[tuple[str, datetime] | None] = []

    def slot() -> tuple[str, datetime] | None:
        if not slot_cache:
            slot_cache.append(next_slot(names, windows, now))
        return slot_cache[0]

    actions = select(PatchAction)
    if hosts is not None:
        actions = actions.where(PatchAction.host.in_(sorted(hosts)))
    rows = {
        (r.host, r.ecosystem, r.location, r.package, r.from_version): r for r in db.scalars(actions)
    }
    result = Refresh(
        [], [], [], [], verify(db, now, [r for r in rows.values() if r.status in LIVE])
    )
    proposals = {p.key: p for p in propose(findings, section.exposed_hosts)}
    new: list[PatchAction] = []
    for key, p in proposals.items():
        row = rows.get(key)
        if row is None:
            row = PatchAction(
                host=key[0],
                ecosystem=key[1],
                location=key[2],
                package=key[3],
                from_version=key[4],
                status=PLANNED,
                created_at=now,
                updated_at=now,
                applied_by="",
            )
            _apply(row, p)
            schedule(row, names, windows, now, slot)
            new.append(row)
            continue
        reopen = row.status == OBSOLETE or (
            row.status == VERIFIED and row.verified_at is not None and p.last_seen > row.verified_at
        )
        if reopen:
            row.status, row.applied_at, row.applied_by, row.verified_at = PLANNED, None, "", None
            row.scheduled_for, row.window = None, ""
            result.reopened.append(row.id)
        if row.status not in LIVE:
            continue
        changed = _apply(row, p)
        if row.status == PLANNED:
            changed = schedule(row, names, windows, now, slot) or changed
        if changed or reopen:
            row.updated_at = now
            if not reopen:
                result.updated.append(row.id)
    for key, row in rows.items():
        if row.status in LIVE and key not in proposals:
            row.status, row.updated_at = OBSOLETE, now
            result.obsolete.append(row.id)
    db.add_all(new)
    db.flush()
    result.created.extend(row.id for row in new)
    return result


def slots_passed(
    db: Session, now: datetime, names: Sequence[str], windows: Mapping[str, MaintenanceWindow]
) -> set[str]:
    """The hosts with a planned action (one with a fixed version) whose patch-window slot
    has passed or was never found (see :func:`slot_holds`): a refresh moves it on."""
    # Only the rows that may have passed are read (without windows a slot never passes).
    maybe = (
        or_(
            PatchAction.scheduled_for.is_(None),
            PatchAction.scheduled_for <= now,
            PatchAction.window.not_in(names),
        )
        if names
        else or_(PatchAction.scheduled_for.is_(None), PatchAction.window != "")
    )
    rows = db.execute(
        select(PatchAction.host, PatchAction.window, PatchAction.scheduled_for).where(
            PatchAction.status == PLANNED, PatchAction.to_version != "", maybe
        )
    )
    return {host for host, window, at in rows if not slot_holds(window, at, names, windows, now)}


def replan(db: Session, now: datetime, hosts: Collection[str] | None = None) -> Refresh | None:
    """Refresh the patch plan (of ``hosts``) in a savepoint of the caller's transaction, so
    that a collision with another process refreshing at the same moment (a duplicate
    action) undoes only the refresh: None then, and the security service catches up within
    a minute. Caller commits."""
    try:
        with db.begin_nested():
            return refresh(db, now, hosts=hosts)
    except IntegrityError as exc:
        log.warning("security: patch plan refresh collided with another; retried later: %s", exc)
        return None


def replan_for(db: Session, now: datetime, suppression: Suppression) -> Refresh | None:
    """Refresh (see :func:`replan`) the plan of the hosts whose findings ``suppression``,
    just made or removed, covers. Caller commits."""
    return replan(db, now, covered_hosts(db, suppression))


def after_scan(db: Session, now: datetime, hosts: Collection[str] | None = None) -> None:
    """Refresh the patch plan after a scan (of ``hosts``) wrote its findings (see
    :func:`replan`). Caller commits."""
    done = replan(db, now, hosts)
    if done is not None and (done.created or done.obsolete or done.verified or done.reopened):
        log.info(
            "security: patch plan: %d new, %d obsolete, %d verified, %d planned again",
            len(done.created),
            len(done.obsolete),
            len(done.verified),
            len(done.reopened),
        )


# -- people's part ----------------------------------------------------------------------------


def mark_applied(db: Session, actor: Actor, action_id: int, now: datetime) -> PatchAction:
    """Record that ``actor`` applied planned action ``action_id``, and audit it; raise
    NotFoundError when there is none, ConflictError when it is not planned or has no
    fixed version to apply. Caller commits."""
    row = db.get(PatchAction, action_id)
    if row is None:
        raise NotFoundError(f"there is no patch action {action_id}")
    if row.status != PLANNED:
        raise ConflictError(f"patch action {action_id} is {row.status}, not planned")
    if not row.to_version:
        raise ConflictError(
            f"patch action {action_id} has no fixed version to apply yet "
            f"(no release of {row.package} fixes its vulnerabilities)"
        )
    row.status, row.applied_at, row.applied_by, row.updated_at = APPLIED, now, actor.name[:128], now
    audit.record(
        db,
        actor,
        "security.patch_applied",
        f"patch/{row.id}",
        {
            "host": row.host,
            "package": row.package,
            "from_version": row.from_version,
            "to_version": row.to_version,
            "vulns": list(row.vulns),
        },
    )
    return row


def prune(db: Session, before: datetime) -> int:
    """Delete verified and obsolete actions last changed before ``before``; return how
    many. Caller commits."""
    gone = db.execute(
        delete(PatchAction).where(
            PatchAction.status.in_((VERIFIED, OBSOLETE)), PatchAction.updated_at < before
        )
    )
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
