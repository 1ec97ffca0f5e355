"""Acknowledge an alert: someone is on it, so its group is not re-sent every
``repeat_interval`` (new alerts and resolutions are still sent)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor, record
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.store.tables import Alert, AlertEvent, utcnow


def acknowledge(db: Session, actor: Actor, alert_id: int, now: datetime | None = None) -> Alert:
    """Acknowledge a firing alert; raise NotFoundError / ConflictError. Caller commits."""
    now = now or utcnow()
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(f"no alert has id {alert_id}")
    if alert.state != "firing":
        raise ConflictError(
            f"alert {alert_id} is {alert.state}; only a firing alert can be acknowledged"
        )
    if alert.acknowledged_at is not None:
        raise ConflictError(f"alert {alert_id} was acknowledged by {alert.acknowledged_by}")
    alert.acknowledged_at, alert.acknowledged_by = now, actor.name
    db.add(AlertEvent(alert_id=alert.id, at=now, event="acknowledged", detail=actor.name))
    record(db, actor, "alert.acknowledge", f"alert:{alert.id}", {"rule": alert.rule})
    return alert
