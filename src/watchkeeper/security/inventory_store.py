"""Inventories on the server: which inventory specs apply to a host, storing what agents
report, and reading it back.

History is the changes: a report stores a new ``HostPackages`` row for an inventory only
when its digest differs from the latest row of that host and location; otherwise the
latest row's ``collected_at``/``received_at`` move on. So each row says "these packages,
first collected at ``first_seen_at``, last confirmed at ``collected_at``". Rows of a key are
created in the order of their collection (an older report arriving late is ignored), so the
latest row is both the newest id and the newest ``collected_at``. Rows older than the
plan's ``security.history`` are deleted, except the latest of each location.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError
from watchkeeper.security.config import Inventory
from watchkeeper.security.inventory.model import packages_digest
from watchkeeper.security.inventory.spec import InventorySpec, spec_for_host
from watchkeeper.security.inventory.wire import InventoryKey, PackagesReport, PackagesResult
from watchkeeper.security.section import load_section
from watchkeeper.store.tables import HostPackages, StoredObject
from watchkeeper.telemetry import SECURITY_INVENTORIES_RECEIVED

log = logging.getLogger(__name__)

INVENTORIES_KIND = "security.inventories"
GONE = "no longer found on the host"
"""The ``error`` of the empty row that records a location gone from its host."""

Key = tuple[str, str]


def spec_for(db: Session, host: str) -> InventorySpec:
    """Return the merged spec of the stored inventories that apply to ``host``. A stored
    inventory that no longer validates is left out and logged."""
    inventories = []
    for row in db.scalars(
        select(StoredObject).where(StoredObject.kind == INVENTORIES_KIND).order_by(StoredObject.id)
    ):
        try:
            inventories.append(Inventory.model_validate(row.spec))
        except ValidationError as exc:
            log.error(
                "%s %s: stored configuration is invalid: %s",
                row.kind,
                row.name,
                _where_invalid(exc),
            )
    return spec_for_host(inventories, host)


def _where_invalid(exc: ValidationError) -> str:
    """How many errors ``exc`` holds and where, never the values (input may hold secrets):
    ``2 error(s) at interval (time_delta_parsing), hosts.0 (string_type)``."""
    places = [
        f"{'.'.join(str(part) for part in error['loc']) or '(top)'} ({error['type']})"
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return f"{exc.error_count()} error(s) at {', '.join(places)}"


def latest_ids(
    hosts: Collection[str] | None = None, ecosystems: Collection[str] | None = None
) -> Select[int]:
    """The ids of the latest row of each host and location (of ``hosts``, of
    ``ecosystems``): the newest id, as rows of a location are written in the order of their
    collection (see the module docstring). The one definition of "latest inventory"."""
    newest = select(func.max(HostPackages.id)).group_by(
        HostPackages.host, HostPackages.ecosystem, HostPackages.location
    )
    if hosts is not None:
        newest = newest.where(HostPackages.host.in_(sorted(hosts)))
    if ecosystems is not None:
        newest = newest.where(HostPackages.ecosystem.in_(sorted(ecosystems)))
    return newest


def latest_inventories(
    db: Session,
    hosts: Collection[str] | None = None,
    ecosystems: Collection[str] | None = None,
) -> list[HostPackages]:
    """The latest row of every host and location (of ``hosts``, of ``ecosystems``), by
    host, ecosystem and location; rows recording only an error included (see
    :func:`collected`)."""
    return list(
        db.scalars(
            select(HostPackages)
            .where(HostPackages.id.in_(latest_ids(hosts, ecosystems)))
            .order_by(HostPackages.host, HostPackages.ecosystem, HostPackages.location)
        )
    )


def latest_rows(db: Session, host: str) -> dict[Key, HostPackages]:
    """The latest row of each of ``host``'s locations."""
    return {(row.ecosystem, row.location): row for row in latest_inventories(db, [host])}


def collected(row: HostPackages) -> bool:
    """False for a row that records only an error: the location's first collection
    failed, or the location is gone from the host (:data:`GONE`). Its empty package list
    says nothing about what is installed. (A failure after a good collection keeps that
    collection's packages and digest: True.)"""
    return bool(row.digest) or not row.error


def _is_gone(row: HostPackages) -> bool:
    return not row.digest and row.error == GONE


def record_report(db: Session, report: PackagesReport, now: datetime) -> PackagesResult:
    """Store ``report`` (see ``wire.py`` for its three kinds of entries); return what was
    done. The caller commits."""
    when = min(report.collected_at.astimezone(UTC), now)
    latest = latest_rows(db, report.host)
    result = PackagesResult(stored=0, unchanged=0, failed=0, gone=0)

    def add(key: Key, packages: list[list[str]], digest: str, distro: str, **extra: object) -> None:
        db.add(
            HostPackages(
                host=report.host,
                ecosystem=key[0],
                location=key[1],
                distro=distro,
                collected_at=when,
                first_seen_at=when,
                received_at=now,
                digest=digest,
                packages=packages,
                **extra,
            )
        )

    for inv in report.inventories:
        key: Key = (inv.ecosystem, inv.location)
        row = latest.get(key)
        if row is not None and when < row.collected_at:
            result.unchanged += 1  # older than what is stored: nothing to learn from it
            continue
        if inv.error:
            result.failed += 1
            if row is not None and not _is_gone(row):
                row.error, row.received_at = inv.error, now
            else:
                add(key, [], "", inv.distro, error=inv.error)
            continue
        if inv.packages is None:
            if row is None or not row.digest or row.digest != inv.digest:
                result.resend.append(InventoryKey(ecosystem=key[0], location=key[1]))
                continue
            digest = inv.digest
        else:
            digest = packages_digest(inv.distro, inv.packages)
        if row is not None and row.digest == digest:
            row.collected_at, row.received_at = when, now
            row.error, row.skipped = "", inv.skipped
            result.unchanged += 1
        else:
            assert inv.packages is not None  # an unknown digest was sent back above
            rows = sorted({tuple(r) for r in inv.packages})
            add(key, [list(r) for r in rows], digest, inv.distro, skipped=inv.skipped)
            result.stored += 1
    if report.complete:
        reported = {(inv.ecosystem, inv.location) for inv in report.inventories}
        for known, row in latest.items():
            if known not in reported and not _is_gone(row) and row.collected_at <= when:
                add(known, [], "", row.distro, error=GONE)
                result.gone += 1
    _prune(db, report.host, now)
    for name in ("stored", "unchanged", "failed", "gone"):
        SECURITY_INVENTORIES_RECEIVED.labels(name).inc(getattr(result, name))
    SECURITY_INVENTORIES_RECEIVED.labels("resend").inc(len(result.resend))
    return result


def _prune(db: Session, host: str, now: datetime) -> None:
    """Delete ``host``'s rows older than ``security.history``, except each latest one."""
    before = now - load_section(db).history
    db.flush()
    db.execute(
        delete(HostPackages)
        .where(
            HostPackages.host == host,
            HostPackages.collected_at < before,
            HostPackages.id.not_in(latest_ids([host]).scalar_subquery()),
        )
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class InventorySummary:
    """The latest inventory of one host and location."""

    id: int
    host: str
    ecosystem: str
    location: str
    distro: str
    package_count: int
    collected_at: datetime
    received_at: datetime
    first_seen_at: datetime
    changes: int
    error: str
    skipped: int


def list_latest(
    db: Session, host: str | None = None, ecosystem: str | None = None
) -> list[InventorySummary]:
    """The latest inventory of every host and location (of ``host``, of ``ecosystem``),
    by host, ecosystem and location, with its package count and how many changes are kept."""
    groups = select(
        func.max(HostPackages.id).label("id"),
        func.count().label("changes"),
    ).group_by(HostPackages.host, HostPackages.ecosystem, HostPackages.location)
    if host is not None:
        groups = groups.where(HostPackages.host == host)
    if ecosystem is not None:
        groups = groups.where(HostPackages.ecosystem == ecosystem)
    sub = groups.subquery()
    query = (
        select(
            HostPackages.id,
            HostPackages.host,
            HostPackages.ecosystem,
            HostPackages.location,
            HostPackages.distro,
            func.json_array_length(HostPackages.packages),
            HostPackages.collected_at,
            HostPackages.received_at,
            HostPackages.first_seen_at,
            sub.c.changes,
            HostPackages.error,
            HostPackages.skipped,
        )
        .join(sub, HostPackages.id == sub.c.id)
        .order_by(HostPackages.host, HostPackages.ecosystem, HostPackages.location)
    )
    return [InventorySummary(*row) for row in db.execute(query)]


@dataclass(frozen=True)
class InventoryChange:
    """One row of a location's history."""

    id: int
    first_seen_at: datetime
    collected_at: datetime
    received_at: datetime
    package_count: int
    digest: str
    error: str


@dataclass(frozen=True)
class InventoryDetail:
    summary: InventorySummary
    packages: list[list[str]]
    history: list[InventoryChange]


def get_inventory(db: Session, inventory_id: int) -> InventoryDetail:
    """Return one stored inventory with its packages and its location's history (newest
    first); raise NotFoundError."""
    row = db.get(HostPackages, inventory_id)
    if row is None:
        raise NotFoundError(f"there is no inventory {inventory_id}")
    same = (
        (HostPackages.host == row.host)
        & (HostPackages.ecosystem == row.ecosystem)
        & (HostPackages.location == row.location)
    )
    history = [
        InventoryChange(*r)
        for r in db.execute(
            select(
                HostPackages.id,
                HostPackages.first_seen_at,
                HostPackages.collected_at,
                HostPackages.received_at,
                func.json_array_length(HostPackages.packages),
                HostPackages.digest,
                HostPackages.error,
            )
            .where(same)
            .order_by(HostPackages.id.desc())
        )
    ]
    summary = InventorySummary(
        row.id,
        row.host,
        row.ecosystem,
        row.location,
        row.distro,
        len(row.packages),
        row.collected_at,
        row.received_at,
        row.first_seen_at,
        len(history),
        row.error,
        row.skipped,
    )
    return InventoryDetail(summary, [list(p) for p in row.packages], history)
