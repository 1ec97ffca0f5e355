"""Alerts Watchkeeper raises about itself (a channel that cannot deliver), routed like any
other alert. They belong to the rule ``INTERNAL_RULE``, which no plan can declare."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.rules import alert_fingerprint
from watchkeeper.store.tables import Alert, AlertEvent

INTERNAL_RULE = "watchkeeper:internal"


def _labels(alertname: str, labels: dict[str, str]) -> dict[str, str]:
    out = {"severity": "critical", **labels, "alertname": alertname}
    return {k: v for k, v in out.items() if v != ""}


def raise_internal(
    db: Session,
    alertname: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    at: datetime,
) -> None:
    """Fire ``alertname`` with ``labels`` unless it fires already. Caller commits."""
    full = _labels(alertname, labels)
    fp = alert_fingerprint(full)
    found = db.scalar(
        select(Alert.id).where(
            Alert.rule == INTERNAL_RULE, Alert.fingerprint == fp, Alert.state == "firing"
        )
    )
    if found is not None:
        return
    alert = Alert(
        rule=INTERNAL_RULE,
        fingerprint=fp,
        labels=full,
        annotations=annotations,
        severity=full["severity"],
        state="firing",
        active_at=at,
        fired_at=at,
        last_true_at=at,
        muted="",
        muted_by=[],
    )
    db.add(alert)
    db.flush()
    db.add(
        AlertEvent(alert_id=alert.id, at=at, event="firing", detail=annotations.get("summary", ""))
    )


def resolve_internal(db: Session, alertname: str, labels: dict[str, str], at: datetime) -> None:
    """Resolve ``alertname`` with ``labels`` if it fires. Caller commits."""
    fp = alert_fingerprint(_labels(alertname, labels))
    for alert in db.scalars(
        select(Alert).where(
            Alert.rule == INTERNAL_RULE, Alert.fingerprint == fp, Alert.state == "firing"
        )
    ):
        alert.state, alert.resolved_at = "resolved", at
        db.add(AlertEvent(alert_id=alert.id, at=at, event="resolved"))
