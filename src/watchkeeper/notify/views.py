"""Read models of notifications for the UI and API: the outbox by status, the channels of
the plan with their delivery counts, and the notifications sent about one alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from watchkeeper.plan import catalog
from watchkeeper.store.tables import OutboxNotification

CHANNELS_KIND = "notifications.channels"
Status = Literal["pending", "sending", "delivered", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("pending", "sending", "delivered", "failed", "cancelled")


@dataclass(frozen=True)
class NotificationRow:
    id: int
    key: str
    batch: str
    channel: str
    group_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    fallback: bool
    created_at: datetime
    delivered_at: datetime | None
    test: bool
    kind: str
    """"firing" or "resolved", as the payload says."""
    alerts: list[dict[str, Any]]
    """Each alert of the payload: name, fingerprint, status, severity."""
    payload: dict[str, Any]


@dataclass(frozen=True)
class NotificationPage:
    rows: list[NotificationRow]
    total: int
    counts: dict[str, int]
    """Notifications per status, over all channels."""


@dataclass(frozen=True)
class ChannelRow:
    name: str
    type: str
    managed: bool
    send_resolved: bool
    rate_limit: int | None
    counts: dict[str, int]
    last_delivered_at: datetime | None


def _row(n: OutboxNotification) -> NotificationRow:
    payload = dict(n.payload or {})
    alerts = [
        {
            "name": (a.get("labels") or {}).get("alertname") or a.get("rule", ""),
            "fingerprint": a.get("fingerprint", ""),
            "status": a.get("status", ""),
            "severity": (a.get("labels") or {}).get("severity", ""),
            "url": a.get("url", ""),
        }
        for a in payload.get("alerts") or []
        if isinstance(a, dict)
    ]
    return NotificationRow(
        id=n.id,
        key=n.key,
        batch=n.batch,
        channel=n.channel,
        group_key=n.group_key,
        status=n.status,
        attempts=n.attempts,
        next_attempt_at=n.next_attempt_at,
        last_error=n.last_error,
        fallback=n.fallback,
        created_at=n.created_at,
        delivered_at=n.delivered_at,
        test=bool(payload.get("test")),
        kind=str(payload.get("status", "")),
        alerts=alerts,
        payload=payload,
    )


def status_counts(db: Session) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    rows = db.execute(
        select(OutboxNotification.status, func.count()).group_by(OutboxNotification.status)
    )
    for status, n in rows:
        counts[status] = counts.get(status, 0) + n
    return counts


def list_notifications(
    db: Session,
    *,
    status: Status | None = None,
    channel: str = "",
    page: int = 1,
    per_page: int = 50,
) -> NotificationPage:
    """Return one page of the outbox, newest first, filtered by status and channel."""
    conditions = []
    if status:
        conditions.append(OutboxNotification.status == status)
    if channel:
        conditions.append(OutboxNotification.channel == channel)
    total = db.scalar(select(func.count()).select_from(OutboxNotification).where(*conditions))
    rows = db.scalars(
        select(OutboxNotification)
        .where(*conditions)
        .order_by(OutboxNotification.created_at.desc(), OutboxNotification.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return NotificationPage([_row(n) for n in rows], total or 0, status_counts(db))


def get_notification(db: Session, notification_id: int) -> NotificationRow | None:
    row = db.get(OutboxNotification, notification_id)
    return _row(row) if row is not None else None


def notifications_for(db: Session, fingerprint: str, limit: int = 20) -> list[NotificationRow]:
    """Return the newest notifications whose payload holds the alert ``fingerprint``."""
    if not fingerprint:
        return []
    # A text search narrows the rows on every backend; the payload check below is exact.
    query = (
        select(OutboxNotification)
        .where(cast(OutboxNotification.payload, String).contains(fingerprint, autoescape=True))
        .order_by(OutboxNotification.created_at.desc(), OutboxNotification.id.desc())
        .limit(limit * 2)
    )
    rows = [_row(n) for n in db.scalars(query)]
    return [r for r in rows if any(a["fingerprint"] == fingerprint for a in r.alerts)][:limit]


def list_channels(db: Session) -> list[ChannelRow]:
    """Return the channels of the plan with their notifications counted by status."""
    counts: dict[str, dict[str, int]] = {}
    for channel, status, n in db.execute(
        select(OutboxNotification.channel, OutboxNotification.status, func.count()).group_by(
            OutboxNotification.channel, OutboxNotification.status
        )
    ):
        counts.setdefault(channel, dict.fromkeys(STATUSES, 0))[status] = n
    last = (
        select(OutboxNotification.channel, func.max(OutboxNotification.delivered_at))
        .where(OutboxNotification.status == "delivered")
        .group_by(OutboxNotification.channel)
    )
    delivered: dict[str, datetime | None] = dict(db.execute(last).all())
    return [
        ChannelRow(
            name=o.name,
            type=str(o.spec.get("type", "")),
            managed=o.managed,
            send_resolved=bool(o.spec.get("send_resolved", True)),
            rate_limit=o.spec.get("rate_limit"),
            counts=counts.get(o.name, dict.fromkeys(STATUSES, 0)),
            last_delivered_at=delivered.get(o.name),
        )
        for o in catalog.list_objects(db, CHANNELS_KIND)
    ]
