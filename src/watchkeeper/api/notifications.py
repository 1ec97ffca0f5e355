"""The notification outbox (status, attempts, errors) and test sends to a channel."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from watchkeeper.api.deps import Db, require
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.notify import outbox, views

router = APIRouter(prefix="/api/v1", tags=["notifications"])
Viewer = Annotated[SessionInfo, require("viewer")]
Operator = Annotated[SessionInfo, require("operator")]


def notification_out(row: views.NotificationRow) -> dict[str, Any]:
    return asdict(row)


def queue_test(db: Db, who: Actor, channel: str) -> int:
    """Queue a test notification to ``channel`` and record who asked; the caller commits.
    Raise NotFoundError for an unknown channel."""
    notification_id = outbox.send_test(db, channel, who)
    audit.record(db, who, "channel.test", f"channel/{channel}", {"notification": notification_id})
    return notification_id


def wake_worker(request: Request) -> None:
    """Have the delivery worker look at the outbox now (when this process runs one)."""
    worker = getattr(request.app.state, "notify_worker", None)
    if worker is not None:
        worker.wake()


@router.get("/notifications", summary="The outbox, newest first: status, attempts, last error")
def list_notifications(
    db: Db,
    _: Viewer,
    status: Annotated[
        views.Status | None, Query(description="pending, sending, delivered or failed.")
    ] = None,
    channel: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    result = views.list_notifications(
        db, status=status, channel=channel, page=page, per_page=per_page
    )
    return {
        "total": result.total,
        "counts": result.counts,
        "page": page,
        "notifications": [notification_out(r) for r in result.rows],
    }


@router.get("/channels", summary="Notification channels with their delivery counts")
def list_channels(db: Db, _: Viewer) -> list[dict[str, Any]]:
    return [asdict(c) for c in views.list_channels(db)]


@router.post(
    "/channels/{name}/test",
    status_code=202,
    summary="Queue a test notification to a channel; answers the notification's id",
)
def test_channel(request: Request, name: str, db: Db, info: Operator) -> dict[str, Any]:
    who = Actor(info.username, request.client.host if request.client else "")
    notification_id = queue_test(db, who, name)
    db.commit()
    wake_worker(request)
    return {"id": notification_id, "channel": name, "status": "pending"}
