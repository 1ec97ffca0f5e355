"""An incident's timeline: every entry time-stamped and attributed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.store.tables import IncidentEvent, utcnow

# What an entry can be; the UI shows each with its own label.
KINDS = (
    "opened",
    "alert_firing",
    "alert_resolved",
    "notified",
    "escalated",
    "acknowledged",
    "resolved",
    "reopened",
    "note",
    "link",
    "assigned",
    "severity",
    "major",
    "status_update",
    "tracker",
    "postmortem",
    "drill",
)


def add_event(
    db: Session,
    incident_id: int,
    kind: str,
    actor: str,
    text: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> IncidentEvent:
    """Append an entry in the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown timeline entry kind {kind!r}")
    event = IncidentEvent(
        incident_id=incident_id,
        at=at or utcnow(),
        actor=actor[:128],
        kind=kind,
        text=text,
        data=dict(data or {}),
    )
    db.add(event)
    return event


def events(db: Session, incident_id: int) -> list[IncidentEvent]:
    """The incident's stored entries, oldest first."""
    return list(
        db.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        )
    )
