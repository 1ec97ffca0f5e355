"""The OS updates each host has available (what ``apt list --upgradable`` shows), from the
newest ``os-updates`` inventory of each host, security updates flagged: shown beside the
patch plan, since they are patched the same way but need no vulnerability record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from watchkeeper.security.inventory_store import collected, latest_inventories

ECOSYSTEM = "os-updates"


def is_security(origin: str) -> bool:
    """True for an update from a security archive (``Debian-Security:12/stable-security``,
    ``bookworm-security``, ``Ubuntu:22.04/jammy-security``)."""
    return "security" in origin.lower()


@dataclass(frozen=True)
class OsUpdate:
    name: str
    installed: str
    candidate: str
    origin: str
    security: bool


@dataclass(frozen=True)
class HostUpdates:
    """The updates one host had available when its inventory was collected."""

    host: str
    collected_at: datetime
    updates: list[OsUpdate]

    @property
    def security_count(self) -> int:
        return sum(u.security for u in self.updates)


def _update(entry: Sequence[str]) -> OsUpdate | None:
    if len(entry) < 3:
        return None
    origin = str(entry[3]) if len(entry) > 3 else ""
    return OsUpdate(
        name=str(entry[0]),
        candidate=str(entry[1]),
        installed=str(entry[2]),
        origin=origin,
        security=is_security(origin),
    )


def latest(db: Session, host: str | None = None) -> list[HostUpdates]:
    """The newest OS-updates inventory of every host (or of ``host``): hosts with security
    updates first, then by name; each host's security updates first, then by name. A host
    whose inventory only records an error (never read, or gone) is left out."""
    found: dict[str, HostUpdates] = {}
    rows = latest_inventories(db, [host] if host else None, [ECOSYSTEM])
    for row in sorted(rows, key=lambda r: r.id, reverse=True):
        if row.host in found or not collected(row):  # one per host: the newest
            continue
        updates = [u for u in (_update(e) for e in row.packages or []) if u is not None]
        updates.sort(key=lambda u: (not u.security, u.name))
        found[row.host] = HostUpdates(row.host, row.collected_at, updates)
    return sorted(found.values(), key=lambda h: (-h.security_count, -len(h.updates), h.host))
