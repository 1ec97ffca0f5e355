"""Heartbeat pings in the store: each heartbeat's push-URL key, the pings, and their pruning.

A heartbeat's key is the secret part of its push URL (``/ping/<key>``). It is the plan's
``key`` when given, else a UUID generated once and kept in ``heartbeats``, so the URL a cron
job calls survives restarts and plan applies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ConflictError
from watchkeeper.store.tables import Heartbeat, HeartbeatPing, StoredObject, utcnow

BODY_LIMIT = 10_000
"""Bytes of a ping's body that are kept (the rest is dropped)."""
KEEP_PER_KIND = 100
KEEP_FOR = timedelta(days=90)


@dataclass(frozen=True)
class KeyInfo:
    key: str
    created_at: datetime


@dataclass(frozen=True)
class LastPings:
    """What the heartbeat's state is decided from: the latest ping of each kind."""

    success: datetime | None = None
    start: datetime | None = None
    fail: datetime | None = None
    fail_exit_status: int | None = None


def ensure_key(db: Session, name: str, configured: str | None) -> KeyInfo:
    """Return the key of heartbeat ``name``: ``configured`` when given (stored, replacing an
    older one), else the stored key, else a new UUID (stored). Raise ConflictError when
    ``configured`` belongs to another heartbeat. Commits what it changes."""
    row = db.get(Heartbeat, name)
    if row is not None and (configured is None or row.key == configured):
        return KeyInfo(row.key, row.created_at)
    key = configured or str(uuid.uuid4())
    try:
        with db.begin_nested():  # a savepoint: a taken key must not undo the caller's work
            if row is None:
                row = Heartbeat(name=name, key=key, created_at=utcnow())
                db.add(row)
            else:
                row.key = key
    except IntegrityError:
        owner = db.scalar(select(Heartbeat.name).where(Heartbeat.key == key))
        if owner is None or owner == name:  # another process stored this heartbeat first
            return ensure_key(db, name, configured)
        raise ConflictError(
            f'ping key {key} is already used by heartbeat "{owner}"; give this one another '
            "key, or none to have one generated"
        ) from None
    info = KeyInfo(row.key, row.created_at)
    db.commit()
    return info


def push_url(base_url: str, key: str) -> str:
    """Return the push URL of ``key`` on the server reached at ``base_url``."""
    return f"{base_url.rstrip('/')}/ping/{key}"


def heartbeat_of(db: Session, key: str) -> str | None:
    """Return the name of the heartbeat check whose push URL has ``key``, or None (also for
    a check that was deleted or is no longer a heartbeat)."""
    row = db.execute(
        select(Heartbeat.name, StoredObject.spec)
        .join(StoredObject, (StoredObject.name == Heartbeat.name) & (StoredObject.kind == "checks"))
        .where(Heartbeat.key == key)
    ).first()
    if row is None or row.spec.get("type") != "heartbeat":
        return None
    return str(row.name)


def record_ping(
    db: Session,
    name: str,
    kind: str,
    *,
    exit_status: int | None = None,
    remote_addr: str = "",
    user_agent: str = "",
    body: str = "",
    at: datetime | None = None,
) -> None:
    """Store one ping of ``name``: ``kind`` is success, start, fail or log. Caller commits."""
    db.add(
        HeartbeatPing(
            name=name,
            kind=kind,
            at=at or utcnow(),
            exit_status=exit_status,
            remote_addr=remote_addr[:64],
            user_agent=user_agent[:200],
            body=body,
        )
    )


def last_pings(db: Session, name: str) -> LastPings:
    """Return the latest success, start and fail of ``name`` (log pings decide nothing)."""
    rows = db.execute(
        select(HeartbeatPing.kind, func.max(HeartbeatPing.at))
        .where(HeartbeatPing.name == name, HeartbeatPing.kind != "log")
        .group_by(HeartbeatPing.kind)
    )
    latest: dict[str, datetime] = dict(rows.all())
    fail = latest.get("fail")
    status = None
    if fail is not None:
        status = db.scalar(
            select(HeartbeatPing.exit_status)
            .where(
                HeartbeatPing.name == name,
                HeartbeatPing.kind == "fail",
                HeartbeatPing.at == fail,
            )
            .limit(1)
        )
    return LastPings(latest.get("success"), latest.get("start"), fail, status)


def recent_pings(db: Session, name: str, limit: int = 20) -> list[HeartbeatPing]:
    """Return the latest pings of ``name``, newest first."""
    return list(
        db.scalars(
            select(HeartbeatPing)
            .where(HeartbeatPing.name == name)
            .order_by(HeartbeatPing.at.desc(), HeartbeatPing.id.desc())
            .limit(limit)
        )
    )


def prune_pings(db: Session, now: datetime | None = None) -> int:
    """Delete pings beyond the newest ``KEEP_PER_KIND`` of each kind per heartbeat, and
    pings older than ``KEEP_FOR`` except the newest of each kind (a heartbeat with a long
    period still knows its last success). Return how many were deleted. Caller commits."""
    cutoff = (now or utcnow()) - KEEP_FOR
    ranked = select(
        HeartbeatPing.id,
        HeartbeatPing.at,
        func.row_number()
        .over(
            partition_by=(HeartbeatPing.name, HeartbeatPing.kind),
            order_by=(HeartbeatPing.at.desc(), HeartbeatPing.id.desc()),
        )
        .label("rank"),
    ).subquery()
    doomed = select(ranked.c.id).where(
        (ranked.c.rank > KEEP_PER_KIND) | ((ranked.c.at < cutoff) & (ranked.c.rank > 1))
    )
    result = db.execute(delete(HeartbeatPing).where(HeartbeatPing.id.in_(doomed)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
