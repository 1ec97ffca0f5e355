"""Which hosts' patch plans a pass of the security service refreshes.

A host's actions are made from its findings (as :func:`watchkeeper.security.patches.propose`
reads them: place, package, version, vulnerability, status after suppressions, fixed
version, severity, score, last seen), its latest inventories (which verify actions) and the
plan's patch windows and exposed hosts. A pass fingerprints the first two per host and
keeps the last fingerprints in memory; the next pass refreshes only the hosts whose
fingerprint changed, plus those with a planned action whose patch-window slot has passed
(:func:`watchkeeper.security.patches.slots_passed`). Everything is refreshed on the first
pass, when the patch windows (their names or definitions) or the exposed hosts change, and
once an hour, so that nothing done to the plan behind the service's back lasts longer.

The fingerprints are a cache: a replica taking over starts with a full refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.security.config import SecuritySection
from watchkeeper.security.findings import FindingView
from watchkeeper.store.tables import HostPackages


@dataclass(frozen=True)
class Inputs:
    """What the patch plan was refreshed from: the plan's part, and one hash per host."""

    plan: tuple[Any, ...]
    hosts: dict[str, int]


def plan_inputs(
    section: SecuritySection, windows: Mapping[str, MaintenanceWindow]
) -> tuple[Any, ...]:
    """The plan's part of every host's actions: the patch windows' names and definitions,
    and the exposed hosts."""
    return (
        tuple(section.patch_windows),
        tuple(windows.get(name) for name in section.patch_windows),
        tuple(section.exposed_hosts),
    )


def host_inputs(db: Session, findings: Iterable[FindingView]) -> dict[str, int]:
    """A hash per host of its findings (``findings``: every one not resolved) and of its
    latest inventories (the newest row and the last time any row changed: a report moves
    the latest row's ``received_at`` on)."""
    by_host: dict[str, list[tuple[Any, ...]]] = {}
    for f in findings:
        by_host.setdefault(f.host, []).append(
            (
                f.ecosystem,
                f.location,
                f.package,
                f.version,
                f.vuln_id,
                f.status,
                f.fixed_version,
                f.severity,
                f.score,
                f.last_seen,
            )
        )
    inventories = {
        host: (newest, changed)
        for host, newest, changed in db.execute(
            select(
                HostPackages.host, func.max(HostPackages.id), func.max(HostPackages.received_at)
            ).group_by(HostPackages.host)
        )
    }
    return {
        host: hash((frozenset(by_host.get(host, ())), inventories.get(host)))
        for host in by_host.keys() | inventories.keys()
    }


def changed_hosts(before: Inputs, after: Inputs) -> set[str]:
    """The hosts whose fingerprint differs (a host that appeared or went away included)."""
    return {
        host
        for host in before.hosts.keys() | after.hosts.keys()
        if before.hosts.get(host) != after.hosts.get(host)
    }


def full_refresh_due(
    before: Inputs | None,
    after: Inputs,
    last_full: datetime | None,
    now: datetime,
    every: timedelta,
) -> bool:
    """True when every host is to be refreshed: the first pass, the plan's part changed,
    or ``every`` has passed since the last full refresh."""
    return (
        before is None or before.plan != after.plan or last_full is None or now - last_full >= every
    )
