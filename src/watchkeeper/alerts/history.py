"""Keep the alert history bounded: resolved alerts older than ``alerts.history`` go."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import AlertsSection
from watchkeeper.plan.objects import SETTINGS_KIND
from watchkeeper.store.tables import Alert, AlertEvent, StoredObject, utcnow


def prune_history(db: Session, now: datetime | None = None) -> int:
    """Delete resolved alerts (and their events) older than the plan's ``alerts.history``;
    return how many. The caller commits."""
    spec = db.scalar(
        select(StoredObject.spec).where(
            StoredObject.kind == SETTINGS_KIND, StoredObject.name == "alerts"
        )
    )
    try:
        keep = AlertsSection.model_validate(
            {k: v for k, v in (spec or {}).items() if k == "history"}
        ).history
    except ValidationError:
        keep = AlertsSection().history
    cutoff = (now or utcnow()) - keep
    old = select(Alert.id).where(Alert.state == "resolved", Alert.resolved_at < cutoff)
    db.execute(delete(AlertEvent).where(AlertEvent.alert_id.in_(old)))
    result = db.execute(delete(Alert).where(Alert.id.in_(old.scalar_subquery())))
    return int(getattr(result, "rowcount", 0) or 0)
