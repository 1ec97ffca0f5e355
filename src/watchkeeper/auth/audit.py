"""The audit trail: every state change, who made it, from where, before and after.

Entries are hash-chained: each entry's hash covers its content and the previous entry's
hash, so editing or deleting an entry is detected by :func:`verify`. Appends lock the single
``audit_head`` row first, which serialises them across processes and replicas.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from watchkeeper.logging_setup import MASK
from watchkeeper.store.tables import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64
_SECRET_KEY = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|routing[_-]?key|webhook[_-]?url|"
    r"credential|private|authorization|cookie|^urls$)"
)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):([^/\s@]+)@")


@dataclass(frozen=True)
class Actor:
    """Who does something: a user name (or "plan", "system") and their client address."""

    name: str
    client_addr: str = ""


SYSTEM = Actor("system")


def actor_of(who: str | Actor) -> Actor:
    """Return ``who`` as an Actor (a bare name has no client address)."""
    return who if isinstance(who, Actor) else Actor(who)


def mask_secrets(value: Any) -> Any:
    """Return ``value`` with the values of secret-looking keys, and passwords in URLs
    (``scheme://user:password@host``), masked, recursively."""
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(rf"\1:{MASK}@", value)
    if isinstance(value, Mapping):
        return {
            k: MASK if _SECRET_KEY.search(str(k)) and v not in (None, "") else mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``{field: {"before": old, "after": new}}`` for the fields that differ."""
    before, after = before or {}, after or {}
    return {
        k: {"before": before.get(k), "after": after.get(k)}
        for k in sorted(before.keys() | after.keys())
        if before.get(k) != after.get(k)
    }


def _digest(
    prev_hash: str,
    at: datetime,
    actor: str,
    client_addr: str,
    action: str,
    target: str,
    detail: Any,
) -> str:
    body = json.dumps(
        {
            "at": at.isoformat(),
            "actor": actor,
            "client_addr": client_addr,
            "action": action,
            "target": target,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record(
    db: Session,
    actor: Actor,
    action: str,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction (it commits with the change it records)."""
    # Lock the head row before reading it, so that concurrent appends queue up.
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id))
    head = db.execute(select(AuditHead.last_hash).where(AuditHead.id == 1)).scalar_one()
    at = utcnow()
    clean = json.loads(json.dumps(mask_secrets(dict(detail or {})), default=str))
    entry = AuditEntry(
        at=at,
        actor=actor.name[:150],
        client_addr=actor.client_addr[:64],
        action=action,
        target=target[:300],
        detail=clean,
        prev_hash=head,
        hash=_digest(
            head, at, actor.name[:150], actor.client_addr[:64], action, target[:300], clean
        ),
    )
    db.add(entry)
    db.flush()
    db.execute(
        update(AuditHead).where(AuditHead.id == 1).values(last_id=entry.id, last_hash=entry.hash)
    )
    return entry


@dataclass(frozen=True)
class Checkpoint:
    """Where a verification ended: the last entry checked (its id and hash) and how many
    entries the chain held up to it."""

    last_id: int
    last_hash: str
    count: int


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    bad_id: int | None = None
    reason: str = ""
    # Where a successful walk ended (not part of the verdict: left out of comparisons).
    checkpoint: Checkpoint | None = field(default=None, compare=False)


def _entry_digest(entry: AuditEntry) -> str:
    return _digest(
        entry.prev_hash,
        entry.at,
        entry.actor,
        entry.client_addr,
        entry.action,
        entry.target,
        entry.detail,
    )


def verify(db: Session, after: Checkpoint | None = None) -> Verification:
    """Walk the chain; report the first entry whose hash or link does not match.

    The chain is checked up to the head as it is when the walk starts, so entries appended
    meanwhile (by a running server) are not mistaken for tampering. ``after``: a checkpoint
    of an earlier successful walk — only the entries appended since are walked (the
    checkpoint's own entry is checked to be still there, unchanged); ``checked`` then counts
    the whole chain. An edit to an older entry is only found by a whole walk.
    """
    last_id, head = db.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)
    ).one()
    prev, checked, start = GENESIS, 0, 0
    if after is not None and after.last_id <= last_id:
        anchor = db.get(AuditEntry, after.last_id) if after.last_id else None
        if after.last_id and (
            anchor is None or anchor.hash != after.last_hash or _entry_digest(anchor) != anchor.hash
        ):
            return Verification(
                False, after.count, after.last_id, "was changed or removed since it was verified"
            )
        prev, checked, start = after.last_hash, after.count, after.last_id
    # Closed on every way out: PostgreSQL streams through a server-side cursor.
    with db.scalars(
        select(AuditEntry)
        .where(AuditEntry.id > start, AuditEntry.id <= last_id)
        .order_by(AuditEntry.id)
        .execution_options(yield_per=1000)
    ) as rows:
        for entry in rows:
            if entry.prev_hash != prev:
                return Verification(
                    False,
                    checked,
                    entry.id,
                    "does not follow the entry before it (one was removed or changed)",
                )
            if entry.hash != _entry_digest(entry):
                return Verification(False, checked, entry.id, "content does not match its hash")
            prev, checked = entry.hash, checked + 1
    if head != prev:
        return Verification(False, checked, None, "the newest entries were removed")
    # Entries past the head are fine only if they were appended (and the head moved) since.
    newest = db.scalar(select(func.max(AuditEntry.id)))
    if newest is not None and newest > last_id:
        now = db.execute(select(AuditHead.last_id).where(AuditHead.id == 1)).scalar_one()
        if newest > now:
            stray = db.scalar(
                select(func.min(AuditEntry.id)).where(AuditEntry.id > now, AuditEntry.id <= newest)
            )
            return Verification(False, checked, stray, "was added outside the chain")
    return Verification(True, checked, checkpoint=Checkpoint(last_id, head, checked))


def _filtered(
    query: Select[AuditEntry],
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[AuditEntry]:
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if target:
        query = query.where(AuditEntry.target.contains(target, autoescape=True))
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    return query


def search(
    db: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
    before_id: int | None = None,
) -> list[AuditEntry]:
    """Return entries newest first, filtered; ``action`` matches a prefix (``login.``),
    ``target`` a substring, ``since`` inclusive and ``until`` exclusive; ``before_id`` pages."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(db.scalars(_filtered(query, actor, action, target, since, until)))


def count(
    db: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Return how many entries the filters match."""
    query = _filtered(select(AuditEntry), actor, action, target, since, until)
    return int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)


def entries(
    db: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[AuditEntry]:
    """Yield the matching entries oldest first, streamed in batches (for export)."""
    query = _filtered(
        select(AuditEntry).order_by(AuditEntry.id), actor, action, target, since, until
    )
    with db.scalars(query.execution_options(yield_per=1000)) as rows:
        yield from rows  # closed even when the reader stops early (a broken download)


def as_json_lines(rows: Iterable[AuditEntry]) -> Iterator[str]:
    """Yield each entry as one JSON line (for export)."""
    for e in rows:
        yield (
            json.dumps(
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "client_addr": e.client_addr,
                    "action": e.action,
                    "target": e.target,
                    "detail": e.detail,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                },
                ensure_ascii=False,
                default=str,
            )
            + "\n"
        )
