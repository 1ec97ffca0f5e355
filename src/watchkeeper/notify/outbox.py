"""The notification outbox: every notification is a row in the store before any attempt.

The dispatcher writes rows with :func:`enqueue` inside its own transaction; the delivery
worker (``notify/worker.py``) claims due rows with :func:`claim_due`, and records each
outcome with :func:`mark_delivered`, :func:`retry_later`, :func:`mark_failed` or
:func:`defer`. A row's life: ``pending`` → ``sending`` (claimed, with a lease) → ``delivered``
or ``failed``, or back to ``pending`` for a retry. A claim is only good until its lease
runs out: then any worker may claim the row again, so a row whose process died is delivered
again, and a worker's late outcome for a row it no longer holds is ignored (the lease time
is the fence). Every function takes the caller's session and leaves the commit to it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from watchkeeper.auth.audit import Actor, actor_of
from watchkeeper.exceptions import NotFoundError
from watchkeeper.notify.config import NotificationsSection
from watchkeeper.notify.interface import AlertItem, Notification, to_payload
from watchkeeper.store.tables import OutboxNotification, StoredObject, utcnow

CHANNELS_KIND = "notifications.channels"
SETTINGS_KIND = "settings"
SETTINGS_NAME = "notifications"
KEY_LENGTH = 64
UNFINISHED = ("pending", "sending")
FINISHED = ("delivered", "failed", "cancelled")
_N = OutboxNotification


@dataclass(frozen=True)
class Claimed:
    """A row this worker holds until ``lease_until``."""

    id: int
    key: str
    batch: str
    channel: str
    group_key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    lease_until: datetime
    fallback: bool


def fallback_key(batch: str) -> str:
    """Return the key of the fallback copy of ``batch``: ``<batch>:fallback`` (hashed when
    that would not fit the key column)."""
    key = f"{batch}:fallback"
    if len(key) <= KEY_LENGTH:
        return key
    return hashlib.sha256(batch.encode()).hexdigest()[: KEY_LENGTH - 9] + ":fallback"


def enqueue(
    db: Session,
    *,
    key: str,
    batch: str,
    channel: str,
    group_key: str,
    payload: dict[str, Any],
    fallback: bool = False,
    now: datetime | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Add a notification unless one with ``key`` exists; return whether it was added.
    ``not_before``: the first attempt waits until then (an on-call page's delayed rule).

    Safe inside a larger transaction on SQLite and PostgreSQL (a duplicate key does not
    abort it). Raise ValueError for a key, batch or group key longer than 64 characters.
    The caller commits, then wakes the worker.
    """
    for field, value in (("key", key), ("batch", batch), ("group_key", group_key)):
        if len(value) > KEY_LENGTH:
            raise ValueError(f"notification {field} is longer than {KEY_LENGTH} characters")
    at = now or utcnow()
    values = {
        "key": key,
        "batch": batch,
        "channel": channel,
        "group_key": group_key,
        "status": "pending",
        "payload": payload,
        "attempts": 0,
        "next_attempt_at": max(at, not_before) if not_before is not None else at,
        "lease_until": None,
        "last_error": "",
        "fallback": fallback,
        "created_at": at,
        "delivered_at": None,
    }
    return _insert(db, values) is not None


def _insert(db: Session, values: dict[str, Any]) -> int | None:
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(_N)
        .values(values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_N.id)
    )
    found = db.execute(stmt).scalar()
    return int(found) if found is not None else None


def _due(now: datetime) -> Any:
    return or_(
        and_(_N.status == "pending", _N.next_attempt_at <= now),
        and_(_N.status == "sending", _N.lease_until <= now),
    )


def claim_due(db: Session, *, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to ``limit`` due rows for ``lease``; the caller commits at once.

    Due: pending and past ``next_attempt_at``, or sending with an expired lease. A row is
    not due while an earlier row of its channel and group is unfinished (order per group).
    On PostgreSQL rows another replica is claiming are skipped (``FOR UPDATE SKIP LOCKED``);
    SQLite has one writer. The UPDATE re-checks that each row is still due.
    """
    if limit <= 0:
        return []
    earlier = aliased(OutboxNotification)
    blocked = exists().where(
        earlier.channel == _N.channel,
        earlier.group_key == _N.group_key,
        earlier.id < _N.id,
        earlier.status.in_(UNFINISHED),
    )
    query = select(_N.id).where(_due(now), ~blocked).order_by(_N.next_attempt_at, _N.id)
    query = query.limit(limit)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=_N)
    ids = list(db.scalars(query))
    if not ids:
        return []
    until = now + lease
    rows = db.execute(
        update(_N)
        .where(_N.id.in_(ids), _due(now))
        .values(status="sending", lease_until=until)
        .returning(
            _N.id,
            _N.key,
            _N.batch,
            _N.channel,
            _N.group_key,
            _N.payload,
            _N.attempts,
            _N.created_at,
            _N.fallback,
        )
        .execution_options(synchronize_session=False)
    ).all()
    claimed = [
        Claimed(
            r.id,
            r.key,
            r.batch,
            r.channel,
            r.group_key,
            r.payload,
            r.attempts,
            r.created_at,
            until,
            r.fallback,
        )
        for r in rows
    ]
    return sorted(claimed, key=lambda c: c.id)


def take_back_sending(db: Session) -> int:
    """Return every ``sending`` row to ``pending``; return how many. Only for a store one
    process serves (SQLite): there, rows left sending belong to a process that is gone."""
    result = db.execute(
        update(_N)
        .where(_N.status == "sending")
        .values(status="pending", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _held(row: Claimed) -> Any:
    return and_(_N.id == row.id, _N.status == "sending", _N.lease_until == row.lease_until)


def _update(db: Session, where: Any, **values: Any) -> bool:
    result = db.execute(
        update(_N).where(where).values(**values).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_delivered(db: Session, row: Claimed, *, now: datetime, note: str = "") -> bool:
    """Record that ``row`` was delivered (``note`` when it was deliberately not sent).

    Recorded even when the lease ran out meanwhile: the service has the message, and this
    stops another worker from sending it yet again.
    """
    return _update(
        db,
        and_(_N.id == row.id, _N.status.in_(UNFINISHED)),
        status="delivered",
        delivered_at=now,
        attempts=row.attempts + (0 if note else 1),
        lease_until=None,
        last_error=note[:1000],
    )


def retry_later(db: Session, row: Claimed, *, when: datetime, error: str) -> bool:
    """Count a failed attempt and make ``row`` due again at ``when``; return False when
    this worker no longer holds the row."""
    return _update(
        db,
        _held(row),
        status="pending",
        attempts=row.attempts + 1,
        next_attempt_at=when,
        lease_until=None,
        last_error=error[:1000],
    )


def mark_failed(db: Session, row: Claimed, *, error: str, attempted: bool = True) -> bool:
    """Stop trying ``row`` and keep ``error``; return False when this worker no longer
    holds it. ``attempted``: whether a delivery attempt was made (it is then counted)."""
    return _update(
        db,
        _held(row),
        status="failed",
        attempts=row.attempts + (1 if attempted else 0),
        lease_until=None,
        last_error=error[:1000],
    )


def defer(db: Session, row: Claimed, *, when: datetime) -> bool:
    """Put ``row`` back until ``when`` without counting an attempt (a rate limit)."""
    return _update(db, _held(row), status="pending", next_attempt_at=when, lease_until=None)


def release(db: Session, rows: list[Claimed], *, now: datetime) -> int:
    """Put claimed rows back, due ``now`` and uncounted (a worker stopping mid-delivery)."""
    return sum(defer(db, row, when=now) for row in rows)


def batch_exhausted(db: Session, batch: str, *, fallback_after: int) -> list[str] | None:
    """Return the channels of ``batch`` when every non-fallback row of it has failed or
    tried ``fallback_after`` times undelivered, else None."""
    rows = db.execute(
        select(_N.channel, _N.status, _N.attempts).where(_N.batch == batch, ~_N.fallback)
    ).all()
    if not rows:
        return None
    for r in rows:
        if r.status == "failed":
            continue
        if r.status in UNFINISHED and r.attempts >= fallback_after:
            continue
        return None
    return sorted({r.channel for r in rows})


def prune(db: Session, *, now: datetime | None = None, keep: timedelta | None = None) -> int:
    """Delete delivered and failed rows created more than ``keep`` ago (the plan's
    ``notifications.keep`` when not given); return how many. Unfinished rows stay."""
    if keep is None:
        keep = delivery_settings(db).keep
    before = (now or utcnow()) - keep
    result = db.execute(
        delete(_N)
        .where(_N.status.in_(FINISHED), _N.created_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def queue_stats(db: Session, *, now: datetime) -> tuple[int, float]:
    """Return how many rows are unfinished and the age in seconds of the oldest of them."""
    count, oldest = db.execute(
        select(func.count(), func.min(_N.created_at)).where(_N.status.in_(UNFINISHED))
    ).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return int(count), max(0.0, age)


def delivery_settings(db: Session) -> NotificationsSection:
    """Return the plan's notification settings (fallback, retry, keep) as stored; the
    defaults when none are stored or the stored ones no longer validate."""
    spec = db.scalar(
        select(StoredObject.spec).where(
            StoredObject.kind == SETTINGS_KIND, StoredObject.name == SETTINGS_NAME
        )
    )
    wanted = {k: v for k, v in (spec or {}).items() if k in ("fallback", "retry", "keep")}
    try:
        return NotificationsSection.model_validate(wanted)
    except ValidationError:
        return NotificationsSection()


def channel_specs(db: Session) -> dict[str, dict[str, Any]]:
    """Return the stored notification channels' specs by name."""
    return {
        o.name: o.spec
        for o in db.scalars(select(StoredObject).where(StoredObject.kind == CHANNELS_KIND))
    }


def send_test(db: Session, channel_name: str, actor: str | Actor) -> int:
    """Queue a test notification (one sample alert, ``test=True``) to ``channel_name``;
    return the outbox row's id. Raise NotFoundError if no such channel exists. The caller
    commits, then wakes the worker."""
    found = db.scalar(
        select(StoredObject.id).where(
            StoredObject.kind == CHANNELS_KIND, StoredObject.name == channel_name
        )
    )
    if found is None:
        raise NotFoundError(f'no notification channel is named "{channel_name}"')
    who = actor_of(actor).name
    now = utcnow()
    key = f"test:{uuid.uuid4().hex}"
    labels = {"alertname": "WatchkeeperTest", "severity": "info", "channel": channel_name}
    annotations = {
        "summary": f'Test notification to channel "{channel_name}"',
        "description": f"Sent by {who} to check that this channel works. Nothing is wrong.",
    }
    message = Notification(
        id=0,
        key=key,
        channel=channel_name,
        status="firing",
        group_key=key,
        group_labels={"alertname": "WatchkeeperTest"},
        common_labels=labels,
        common_annotations=annotations,
        alerts=[AlertItem("test", "firing", labels, annotations, now, rule="test")],
        test=True,
        extra={"requested_by": who},
    )
    enqueue(
        db,
        key=key,
        batch=key,
        channel=channel_name,
        group_key=key,
        payload=to_payload(message),
        now=now,
    )
    return int(db.scalar(select(_N.id).where(_N.key == key)) or 0)


def cancel_waiting(db: Session, group_key_prefix: str, reason: str) -> int:
    """Cancel the rows of the groups starting with ``group_key_prefix`` that are not being
    sent (an acknowledged incident's pages: delayed ones, and ones waiting to be retried);
    return how many."""
    result = db.execute(
        update(_N)
        .where(
            _N.group_key.startswith(group_key_prefix, autoescape=True),
            _N.status == "pending",
        )
        .values(status="cancelled", last_error=reason[:1000])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
