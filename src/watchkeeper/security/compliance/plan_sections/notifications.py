"""Notifications: every channel of the plan delivers. A channel breaks the plan when its
latest finished notification failed, or when one has waited undelivered for longer than
:data:`STUCK_AFTER` (the ``notifications`` outbox)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.notify.outbox import UNFINISHED
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import OutboxNotification, StoredObject

STUCK_AFTER = timedelta(minutes=15)
RECENT = timedelta(hours=24)
_N = OutboxNotification


def evaluate(db: Session, live: Live) -> SectionResult:
    channels = sorted(
        db.scalars(select(StoredObject.name).where(StoredObject.kind == "notifications.channels"))
    )
    if not channels:
        return not_in_plan("notifications")
    latest_ids = (
        select(func.max(_N.id)).where(_N.status.in_(("delivered", "failed"))).group_by(_N.channel)
    )
    latest = {
        row.channel: row
        for row in db.scalars(select(_N).where(_N.id.in_(latest_ids.scalar_subquery())))
    }
    waiting = {
        channel: (oldest, count)
        for channel, oldest, count in db.execute(
            select(_N.channel, func.min(_N.created_at), func.count())
            .where(_N.status.in_(UNFINISHED))
            .group_by(_N.channel)
        )
    }
    recent: dict[str, int] = {}
    for status, count in db.execute(
        select(_N.status, func.count())
        .where(_N.created_at >= live.now - RECENT, _N.channel.in_(channels))
        .group_by(_N.status)
    ):
        recent[status] = count
    tally = Tally("notifications")
    for channel in channels:
        link = "/notifications?" + urlencode({"channel": channel})
        row = latest.get(channel)
        oldest, count = waiting.get(channel, (None, 0))
        if row is not None and row.status == "failed":
            error = f": {row.last_error}" if row.last_error else ""
            tally.failed(
                "channel",
                channel,
                f"its last notification ({at(row.created_at)}) failed after "
                f"{plural(row.attempts, 'attempt')}{error}",
                link,
            )
        elif oldest is not None and live.now - oldest > STUCK_AFTER:
            tally.failed(
                "channel",
                channel,
                f"{plural(count, 'notification')} undelivered, the oldest for "
                f"{span(live.now - oldest)}",
                link,
            )
        else:
            tally.passed()
    tally.say(
        f"{plural(len(channels), 'channel')}; in the last 24 h "
        f"{recent.get('delivered', 0)} delivered, {recent.get('failed', 0)} failed."
    )
    return tally.result()
