"""What a capacity forecast is about, and what it found: one :class:`Item` per host
resource (a filesystem, a network direction), per series of a plan target and per database
size or disk."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from watchkeeper.releases.capacity.projection import Projection, Status

Kind = Literal["host", "target", "database"]
ItemStatus = Status | Literal["insufficient", "error"]
STATUSES: tuple[ItemStatus, ...] = ("over", "soon", "later", "never", "insufficient", "error")
"""Every status, in the order the report lists them (what runs out first on top)."""


@dataclass(frozen=True)
class Item:
    """One forecast: ``resource`` is cpu, memory, disk or network for a host, the target's
    name, or the database's name; ``subject`` the mountpoint, the network direction
    (receive, transmit), the target series' labels, or ``size``/``disk`` of a database."""

    kind: Kind
    host: str
    resource: str
    subject: str
    unit: str
    alert_within: timedelta
    severity: str
    labels: dict[str, str]  # the alert's labels (without alertname and severity)
    projection: Projection | None = None
    status: ItemStatus = "insufficient"
    detail: str = ""  # why there is no forecast
    current: float | None = None
    limit: float | None = None
    direction: str = "up"
    alerts: bool = field(default=True)  # False: listed, never alerted (covered elsewhere)

    @property
    def key(self) -> str:
        """A stable id of what the item is about."""
        raw = "\x1f".join((self.kind, self.host, self.resource, self.subject))
        return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


def judged(
    base: Item,
    projection: Projection | None,
    *,
    now: datetime,
    min_history: timedelta,
    span: float,
) -> Item:
    """``base`` with ``projection`` and its status: ``insufficient`` when the history spans
    less than ``min_history`` (seconds in ``span``) or could not be fitted."""
    if projection is None or span < min_history.total_seconds():
        have = f"{span / 3600:.0f} h" if span < 172_800 else f"{span / 86_400:.0f} d"
        return replace(
            base,
            status="insufficient",
            detail=f"{have} of history; a forecast needs {_spell(min_history)}",
            current=projection.current if projection else base.current,
        )
    return replace(
        base,
        projection=projection,
        status=projection.status(now, base.alert_within),
        current=projection.current,
        limit=projection.limit,
        direction=projection.direction,
    )


def _spell(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds / 86_400:g} d" if seconds >= 86_400 else f"{seconds / 3600:g} h"
