"""Watchkeeper's own audit trail as a log stream: ``{source="watchkeeper", stream="audit"}``.

Sign-ins, failed sign-ins, lockouts, token and user changes, plan applies... every new
row of the audit trail (``auth/audit.py``) becomes one log line, so the log explorer, log
rules and forwarders see security events next to the applications' logs. Each replica has
its own log store, so each replica runs this service and copies into its own store.

Copied rows are checkpointed by id in ``audit.checkpoint`` in the log store's directory,
written only after the lines are stored (durable submit), so nothing is copied twice in
normal operation; at start the newest copied line's ``audit_id`` is read back too, so a
crash between storing and checkpointing does not repeat lines either. The row's details
were masked when it was recorded; they are masked again here before they become fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.auth.audit import mask_secrets
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.system import LogSystem
from watchkeeper.store.tables import AuditEntry

log = logging.getLogger(__name__)
SOURCE = "audit"  # receiver name in the ingest metrics
SELECTOR = '{source="watchkeeper", stream="audit"}'
CHECKPOINT = "audit.checkpoint"
MAX_FIELD = 1000  # characters of one field value (a plan diff can be long)
_WARN_SUFFIXES = ("failed", "locked", "throttled")

# action -> sentence: {actor} did it; {name} is the target without its kind ("user/bob" ->
# "bob"); {label} is the detail's "name" (a token's or a security key's name).
PHRASES: dict[str, str] = {
    "login": "{actor} signed in",
    "login.password_ok": "{actor} gave the right password; a second factor is next",
    "login.failed": "failed sign-in as {name}",
    "login.mfa_failed": "{actor} gave a wrong second factor",
    "login.throttled": "sign-in as {name} refused: too many recent failures",
    "logout": "{actor} signed out",
    "user.locked": "{name} is locked out after repeated failed sign-ins",
    "user.unlocked": "{actor} unlocked {name}",
    "user.create": "{actor} created user {name}",
    "user.update": "{actor} changed user {name}",
    "user.password_changed": "{actor} changed the password of {name}",
    "user.password_change_failed": "{actor} gave a wrong current password",
    "user.sessions_ended": "{actor} ended the sessions of {name}",
    "token.create": 'API token "{label}" of {name} created by {actor}',
    "token.revoke": "an API token of {name} was revoked by {actor}",
    "mfa.reset": "{actor} reset the second factors of {name}",
    "mfa.totp.enabled": "{actor} turned on an authenticator app",
    "mfa.totp.disabled": "{actor} turned off the authenticator app",
    "mfa.key.added": 'security key "{label}" added by {actor}',
    "mfa.key.removed": 'security key "{label}" removed by {actor}',
    "plan.apply": "{actor} applied the plan",
    "secrets.reseal": "{actor} re-encrypted the stored secrets",
}


def level_of(action: str) -> str:
    """``warn`` for failures, lockouts and throttling; ``info`` for the rest."""
    return "warn" if action.endswith(_WARN_SUFFIXES) else "info"


def sentence(entry: AuditEntry) -> str:
    """A readable sentence for one audit row: who did what to what, from where."""
    parts = entry.target.split("/")
    name = parts[1] if len(parts) > 1 and parts[0] == "user" else entry.target
    phrase = PHRASES.get(entry.action)
    if phrase is None:
        text = f"{entry.actor}: {entry.action}" + (f" {entry.target}" if entry.target else "")
    else:
        label = str((entry.detail or {}).get("name") or "?")
        text = phrase.format(actor=entry.actor, name=name or "?", label=label)
    return text + (f" from {entry.client_addr}" if entry.client_addr else "")


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text[:MAX_FIELD]


def fields_of(entry: AuditEntry) -> dict[str, str]:
    """The row's details as fields (secrets masked), plus who, what, where and the row id."""
    detail: Mapping[str, Any] = mask_secrets(entry.detail or {})
    fields = {str(k): _text(v) for k, v in detail.items() if v is not None}
    fields.update(
        audit_id=str(entry.id),
        action=entry.action,
        actor=entry.actor,
        target=entry.target,
    )
    if entry.client_addr:
        fields["client_addr"] = entry.client_addr
    return fields


def to_line(entry: AuditEntry, received: int) -> LogLine:
    at = entry.at
    ts = int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000
    labels = make_labels(
        {"source": "watchkeeper", "stream": "audit", "level": level_of(entry.action)}
    )
    return LogLine(ts, received, labels, sentence(entry), fields_of(entry))


class AuditStream:
    """A service copying new audit rows into the log store every ``interval`` seconds."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        logs: LogSystem,
        *,
        interval: float = 2.0,
        batch: int = 1000,
    ) -> None:
        self._sessions = sessions
        self._logs = logs
        self._interval = interval
        self._batch = batch
        self._path: Path = logs.store.root / CHECKPOINT
        self._last_id: int | None = None
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    # -- checkpoint --------------------------------------------------------------------------

    def _read_checkpoint(self) -> int:
        """The last copied id: the checkpoint file, or the newest copied line if later."""
        saved = 0
        with contextlib.suppress(FileNotFoundError):
            try:
                saved = int(json.loads(self._path.read_text())["last_id"])
            except (ValueError, KeyError, TypeError):
                log.error("audit stream: %s is unreadable; using the copied lines", self._path)
        newest = self._logs.search(SELECTOR, 0, 2**63 - 1, limit=1)
        copied = 0
        if newest:
            with contextlib.suppress(ValueError):
                copied = int(newest[0].fields.get("audit_id", "0"))
        return max(saved, copied)

    def _write_checkpoint(self, last_id: int) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"last_id": last_id}))
        os.replace(tmp, self._path)

    # -- copying -----------------------------------------------------------------------------

    def _fetch(self, after: int) -> list[LogLine]:
        received = time.time_ns()
        with self._sessions() as db:
            rows = db.scalars(
                select(AuditEntry)
                .where(AuditEntry.id > after)
                .order_by(AuditEntry.id)
                .limit(self._batch)
            )
            return [to_line(row, received) for row in rows]

    async def copy_new(self) -> int:
        """Copy every audit row not copied yet; return how many lines were stored.

        Stop early (the rest follows next time) if the ingest queue drops the batch."""
        self._idle.clear()
        try:
            if self._last_id is None:
                self._last_id = await asyncio.to_thread(self._read_checkpoint)
            copied = 0
            while True:
                lines = await asyncio.to_thread(self._fetch, self._last_id)
                if not lines:
                    return copied
                last = int(lines[-1].fields["audit_id"])  # before pipelines see the lines
                stored = await self._logs.queue.submit(SOURCE, lines, durable=True)
                if stored < len(lines):
                    return copied  # queue full (drop) or closing: retry from the checkpoint
                await asyncio.to_thread(self._write_checkpoint, last)
                self._last_id = last
                copied += len(lines)
                if len(lines) < self._batch:
                    return copied
        finally:
            self._idle.set()

    # -- service -----------------------------------------------------------------------------

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.copy_new()
            except SQLAlchemyError as exc:
                log.error("audit stream: cannot read the audit trail: %s", type(exc).__name__)
            except Exception:  # a bug must not stop the server
                log.exception("audit stream: copying failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def stop(self) -> None:
        """Stop after the pass in progress (the log store closes after this service)."""
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 10.0)
