"""How old the live data compliance reads may be before it no longer vouches for the
present. The evidence queries (``evidence/``) and the plan-status sections
(``plan_sections/``) judge by these same rules; each phrases the outcome its own way.

- A check that has not run for :data:`CHECK_LATE_FACTOR` of its intervals has stopped: its
  stored status (up or down) is old news.
- An OSV source must have been imported (succeeded, or unchanged) within twice its
  schedule's interval plus its timeout, and its latest finished import must not have
  failed.
- A host's inventory or hardening audit must be newer than twice its interval (plus
  :data:`HOST_SLACK`). Only good inventories count: a collection that failed on its first
  try stores an empty row without a digest, which says nothing about the host's software.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.backups.views import interval_of
from watchkeeper.globs import matches_any
from watchkeeper.plan.types import parse_duration
from watchkeeper.security.config import VulnerabilitySource
from watchkeeper.store.tables import HostPackages, OsvImport, StoredObject

CHECK_LATE_FACTOR = 3
"""A check that has not run for this many intervals has stopped running."""
CHECK_SLACK = timedelta(seconds=30)
"""Added to a check's allowance: a run may take its timeout; results are written in batches."""
LATE_FACTOR = 2
"""An import, inventory or audit older than this many intervals is late."""
HOST_SLACK = timedelta(minutes=30)
"""Added to a host's allowance: agents report on their own clocks."""
GOOD_IMPORT = ("succeeded", "unchanged")


def check_interval(spec: Mapping[str, Any]) -> timedelta:
    """How often the check stored as ``spec`` runs."""
    return parse_duration(spec.get("interval", 60))


def check_allowance(spec: Mapping[str, Any]) -> timedelta:
    """How long the check stored as ``spec`` may go without a run before it has stopped."""
    return CHECK_LATE_FACTOR * check_interval(spec) + CHECK_SLACK


def host_allowance(interval: timedelta) -> timedelta:
    """How old a host's inventory or audit collected every ``interval`` may be."""
    return LATE_FACTOR * interval + HOST_SLACK


SourceStatus = Literal["fresh", "new", "late", "failed"]


@dataclass(frozen=True)
class SourceFreshness:
    """Where one OSV source stands: ``fresh``; ``new`` (declared recently, never imported,
    not due yet); ``late`` (no good import within ``limit``); ``failed`` (its latest
    finished import failed: ``failed_import``)."""

    name: str
    status: SourceStatus
    limit: timedelta
    last_good: datetime | None
    failed_import: OsvImport | None = None


def source_freshness(
    db: Session, sources: Sequence[VulnerabilitySource], now: datetime
) -> list[SourceFreshness]:
    """How fresh each of ``sources`` is at ``now`` (see the module docstring)."""
    declared_at = dict(
        db.execute(
            select(StoredObject.name, StoredObject.created_at).where(
                StoredObject.kind == "security.sources"
            )
        ).all()
    )
    found = []
    for source in sources:
        limit = LATE_FACTOR * interval_of(source.schedule, now) + source.timeout
        good = db.scalar(
            select(func.max(OsvImport.finished_at)).where(
                OsvImport.source == source.name, OsvImport.status.in_(GOOD_IMPORT)
            )
        )
        last = db.scalar(
            select(OsvImport)
            .where(
                OsvImport.source == source.name,
                OsvImport.status.in_((*GOOD_IMPORT, "failed")),
            )
            .order_by(OsvImport.started_at.desc(), OsvImport.id.desc())
            .limit(1)
        )
        status: SourceStatus
        if last is not None and last.status == "failed":
            status = "failed"
        elif good is None:
            since = declared_at.get(source.name, now)
            status = "late" if now - since > limit else "new"
        else:
            status = "late" if now - good > limit else "fresh"
        found.append(
            SourceFreshness(source.name, status, limit, good, last if status == "failed" else None)
        )
    return found


def limits_by_host(
    hosts: Iterable[str], scopes: Iterable[tuple[list[str], timedelta]]
) -> dict[str, timedelta]:
    """For each of ``hosts`` some ``(globs, interval)`` scope applies to: the shortest
    interval among those that apply."""
    scopes = list(scopes)
    found: dict[str, timedelta] = {}
    for host in hosts:
        for globs, interval in scopes:
            if matches_any(host, globs):
                found[host] = min(interval, found.get(host, interval))
    return found


def newest_inventories(db: Session) -> dict[str, datetime]:
    """When each host last confirmed a good inventory (one with a digest)."""
    return dict(
        db.execute(
            select(HostPackages.host, func.max(HostPackages.collected_at))
            .where(HostPackages.digest != "")
            .group_by(HostPackages.host)
        ).all()
    )


def late_hosts(
    limits: Mapping[str, timedelta], newest: Mapping[str, datetime], now: datetime
) -> dict[str, datetime | None]:
    """The hosts of ``limits`` (host -> interval) whose ``newest`` time is missing or older
    than :func:`host_allowance` allows, with that time (None: never)."""
    late: dict[str, datetime | None] = {}
    for host, interval in limits.items():
        last = newest.get(host)
        if last is None or now - last > host_allowance(interval):
            late[host] = last
    return late
