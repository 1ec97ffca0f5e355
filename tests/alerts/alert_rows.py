"""Alert rows written straight into the store, as the evaluator and dispatcher would leave
them, for the pages, the API and the CLI to show."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from watchkeeper.alerts.rules import alert_fingerprint
from watchkeeper.store.tables import Alert, AlertEvent, OutboxNotification, utcnow

RUNBOOK = """\
## Disk full

1. Find what grew: `du -xh / | sort -h | tail`
2. Rotate the logs.

<script>alert("xss")</script>

[dangerous](javascript:alert(1)) and [the wiki](https://wiki.example.com/disk)
"""


def add_alert(
    db: Session,
    name: str,
    *,
    state: str = "firing",
    severity: str = "warning",
    labels: dict[str, str] | None = None,
    value: float | None = 1.0,
    muted: str = "",
    muted_by: list[str] | None = None,
    age: timedelta = timedelta(minutes=10),
    rule: str | None = None,
    annotations: dict[str, str] | None = None,
    now: datetime | None = None,
) -> Alert:
    """Add one alert and its history (pending, then firing, then resolved as its state
    says); the caller commits."""
    now = now or utcnow()
    full = {"alertname": name, "severity": severity, **(labels or {})}
    start = now - age
    fired = start + timedelta(minutes=1) if state in ("firing", "resolved") else None
    resolved = now - timedelta(minutes=1) if state == "resolved" else None
    alert = Alert(
        rule=rule or name,
        fingerprint=alert_fingerprint(full),
        labels=full,
        annotations=annotations or {"summary": f"{name} on {full.get('instance', 'all')}"},
        severity=severity,
        state=state,
        value=value,
        active_at=start,
        fired_at=fired,
        resolved_at=resolved,
        last_true_at=resolved or now,
        muted=muted,
        muted_by=muted_by or [],
    )
    db.add(alert)
    db.flush()
    db.add(AlertEvent(alert_id=alert.id, at=start, event="pending", value=value))
    if fired:
        db.add(AlertEvent(alert_id=alert.id, at=fired, event="firing", value=value))
    if muted:
        db.add(AlertEvent(alert_id=alert.id, at=now, event=muted, detail=", ".join(muted_by or [])))
    if resolved:
        db.add(AlertEvent(alert_id=alert.id, at=resolved, event="resolved"))
    return alert


def add_notification(
    db: Session,
    alert: Alert,
    channel: str,
    *,
    status: str = "delivered",
    error: str = "",
    attempts: int = 1,
    now: datetime | None = None,
) -> OutboxNotification:
    """Add an outbox row about ``alert``; the caller commits."""
    now = now or utcnow()
    key = f"{alert.fingerprint}:{channel}:{alert.id}:{status}"
    row = OutboxNotification(
        key=key[:64],
        batch=key[:64],
        channel=channel,
        group_key=alert.fingerprint,
        status=status,
        payload={
            "status": "firing",
            "test": False,
            "alerts": [
                {
                    "fingerprint": alert.fingerprint,
                    "status": "firing",
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "rule": alert.rule,
                    "url": f"/alerts/{alert.id}",
                }
            ],
        },
        attempts=attempts,
        next_attempt_at=now,
        last_error=error,
        created_at=now,
        delivered_at=now if status == "delivered" else None,
    )
    db.add(row)
    db.flush()
    return row
