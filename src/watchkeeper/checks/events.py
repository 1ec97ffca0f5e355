"""State changes of checks: the one interface the alerts domain consumes.

Every change is stored (``check_events``) in the same transaction as the new state, then
published to in-process subscribers. A subscriber that falls behind loses nothing: it can
read the stored events since the last one it saw with :func:`events_since`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.store.tables import CheckEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StateChange:
    id: int
    check: str
    at: datetime
    from_status: str
    to_status: str
    message: str


class EventBus:
    """Fan state changes out to subscribers, each with its own bounded queue."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self._queues: list[asyncio.Queue[StateChange]] = []
        self._maxsize = maxsize

    def subscribe(self) -> asyncio.Queue[StateChange]:
        queue: asyncio.Queue[StateChange] = asyncio.Queue(self._maxsize)
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[StateChange]) -> None:
        self._queues.remove(queue)

    def publish(self, change: StateChange) -> None:
        for queue in self._queues:
            try:
                queue.put_nowait(change)
            except asyncio.QueueFull:
                log.warning(
                    "a check-event subscriber is full; it must catch up from the "
                    "store (events_since)"
                )


def events_since(db: Session, after_id: int, limit: int = 1000) -> list[StateChange]:
    """Return stored state changes with an id above ``after_id``, oldest first."""
    rows = db.scalars(
        select(CheckEvent).where(CheckEvent.id > after_id).order_by(CheckEvent.id).limit(limit)
    )
    return [StateChange(r.id, r.name, r.at, r.from_status, r.to_status, r.message) for r in rows]
