"""The audit trail: every state change, who made it, from where, before and after.

Entries are hash-chained: each entry's hash covers its content and the previous entry's
hash, so editing or deleting an entry is detected by :func:`verify`. Appends lock the single
``audit_head`` row first, which serialises them across processes and replicas.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from watchkeeper.logging_setup import MASK
from watchkeeper.store.tables import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|credential|private)")


@dataclass(frozen=True)
class Actor:
    """Who does something: a user name (or "plan", "system") and their client address."""

    name: str
    client_addr: str = ""


SYSTEM = Actor("system")


def mask_secrets(value: Any) -> Any:
    """Return ``value`` with the values of secret-looking keys masked, recursively."""
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
class Verification:
    ok: bool
    checked: int
    bad_id: int | None = None
    reason: str = ""


def verify(db: Session) -> Verification:
    """Walk the whole chain; report the first entry whose hash or link does not match."""
    prev, checked = GENESIS, 0
    for entry in db.scalars(
        select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)
    ):
        if entry.prev_hash != prev:
            return Verification(
                False,
                checked,
                entry.id,
                "does not follow the entry before it (one was removed or changed)",
            )
        expected = _digest(
            entry.prev_hash,
            entry.at,
            entry.actor,
            entry.client_addr,
            entry.action,
            entry.target,
            entry.detail,
        )
        if entry.hash != expected:
            return Verification(False, checked, entry.id, "content does not match its hash")
        prev, checked = entry.hash, checked + 1
    head = db.execute(select(AuditHead.last_hash).where(AuditHead.id == 1)).scalar_one()
    if head != prev:
        return Verification(False, checked, None, "the newest entries were removed")
    return Verification(True, checked)


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
    """Return entries newest first, filtered; ``action`` matches a prefix (``login.``)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    if target:
        query = query.where(AuditEntry.target.contains(target))
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(db.scalars(query))


def as_json_lines(entries: Iterator[AuditEntry] | list[AuditEntry]) -> Iterator[str]:
    """Yield each entry as one JSON line (for export)."""
    for e in entries:
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
