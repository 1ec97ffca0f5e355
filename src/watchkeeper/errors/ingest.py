"""Receive what Sentry SDKs send: an envelope or a legacy store request becomes stored
events, or a refusal the SDK understands.

Order of work for one request: the size of the body, the DSN key (from the header or query
string before anything is decompressed; from the envelope's header otherwise), the body
(decompressed, parsed), the events (validated, size-checked, filtered by environment), the
project's rate limit, then scrubbing, grouping and the group-committed write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.errors.directory import ProjectDirectory, Snapshot
from watchkeeper.errors.envelope import Envelope, Item, parse_envelope
from watchkeeper.errors.events import (
    PreparedEvent,
    decode_event,
    event_id_of,
    loads,
    prepare_event,
)
from watchkeeper.errors.projects import Project
from watchkeeper.errors.protocol import (
    ProtocolError,
    decompress,
    key_of_dsn,
    rate_limit_headers,
    request_key,
    too_large,
)
from watchkeeper.errors.ratelimit import RateLimiter
from watchkeeper.errors.telemetry import EVENTS, ITEMS_IGNORED, SDK_DISCARDED
from watchkeeper.errors.writer import EventWriter
from watchkeeper.store.tables import utcnow

log = logging.getLogger(__name__)
EVENT_ITEMS = frozenset({"event", "error", "message"})
IGNORED_ITEMS = frozenset(
    {
        "transaction",
        "session",
        "sessions",
        "attachment",
        "user_report",
        "feedback",
        "profile",
        "profile_chunk",
        "replay_event",
        "replay_recording",
        "replay_video",
        "check_in",
        "statsd",
        "metric_buckets",
        "span",
        "log",
        "otel_log",
        "security",
        "raw_security",
    }
)
CLIENT_REPORT_REASONS = frozenset(
    {
        "queue_overflow",
        "cache_overflow",
        "buffer_overflow",
        "ratelimit_backoff",
        "network_error",
        "sample_rate",
        "before_send",
        "event_processor",
        "send_error",
        "internal_sdk_error",
        "insufficient_data",
        "backpressure",
    }
)
CLIENT_REPORT_CATEGORIES = frozenset(
    {"error", "default", "transaction", "security", "attachment", "session", "span", "profile"}
)
OFFLOAD_BYTES = 256 * 1024
"""Bodies at least this large are decompressed and prepared in a worker thread."""


@dataclass(frozen=True)
class IngestRequest:
    """One request to ``/api/<project_id>/envelope/`` or ``/store/``."""

    project_id: int
    endpoint: str  # envelope | store
    body: bytes
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    client_ip: str = ""


@dataclass(frozen=True)
class IngestAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class ErrorIngest:
    """The ingest of one process (any number of replicas may run one each)."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], float] = time.time
    ) -> None:
        """``clock`` (Unix seconds) decides the rate windows; tests pass a fixed one."""
        self.directory = ProjectDirectory(sessions)
        self.limiter = RateLimiter(clock)
        self.writer = EventWriter(sessions, self.limiter, self._writer_settings)

    def _writer_settings(self) -> tuple[dict[int, str], dict[int, str], int]:
        snap = self.directory.current()
        if snap is None:
            return {}, {}, 100
        return snap.teams, snap.names, snap.section.events_per_issue

    async def handle(self, request: IngestRequest) -> IngestAnswer:
        """Answer ``request``; raise ProtocolError for what the SDK is told is wrong."""
        snap = await self.directory.snapshot(request.project_id)
        limit = snap.section.max_envelope_size
        if len(request.body) > limit:
            raise too_large(limit)
        key = request_key(request.headers, request.query)
        project = self._authorise(snap, request.project_id, key) if key else None
        encoding = request.headers.get("content-encoding", "")
        if len(request.body) >= OFFLOAD_BYTES:
            data = await asyncio.to_thread(decompress, request.body, encoding, limit)
        else:
            data = decompress(request.body, encoding, limit)
        if request.endpoint == "store":
            envelope = Envelope({}, [Item("event", {}, _store_body(data, limit))])
        else:
            envelope = parse_envelope(data)
        if project is None:
            project = self._authorise_by_dsn(snap, request.project_id, envelope)
        try:
            return await self._receive(snap, project, envelope, request)
        except ProtocolError as exc:
            outcome = {413: "too_large", 400: "invalid"}.get(exc.status)
            if outcome:
                EVENTS.labels(project.name, outcome).inc(_event_count(envelope))
            raise

    def _authorise(self, snap: Snapshot, project_id: int, key: str) -> Project:
        owner = snap.by_key.get(key)
        if owner is None:
            raise ProtocolError(
                "the DSN key is not valid: no project has it (check the DSN the SDK uses)", 401
            )
        if owner.id != project_id:
            raise ProtocolError(
                f"the DSN key is not the key of project {project_id} (check the project id at "
                "the end of the DSN)",
                403,
            )
        return owner

    def _authorise_by_dsn(self, snap: Snapshot, project_id: int, envelope: Envelope) -> Project:
        if "dsn" not in envelope.headers:
            raise ProtocolError(
                "no DSN key: send the X-Sentry-Auth header, the sentry_key query parameter or "
                'the envelope header\'s "dsn"',
                401,
            )
        key, _ = key_of_dsn(envelope.headers["dsn"])
        return self._authorise(snap, project_id, key)

    async def _receive(
        self, snap: Snapshot, project: Project, envelope: Envelope, request: IngestRequest
    ) -> IngestAnswer:
        header_id = event_id_of(envelope.headers.get("event_id"), "the envelope header")
        max_event = project.config.max_event_size
        raw_events: list[tuple[dict[str, Any], str]] = []
        for number, item in enumerate(envelope.items, 1):
            where = f"item {number} ({item.type})"
            if item.type in EVENT_ITEMS:
                if len(item.payload) > max_event:
                    raise ProtocolError(
                        f"{where}: the event is {len(item.payload)} bytes; project "
                        f'"{project.name}" takes events of up to {max_event} bytes',
                        413,
                    )
                event = decode_event(item.payload, where)
                event_id = event_id_of(event.get("event_id"), where) or header_id or _new_event_id()
                raw_events.append((event, event_id))
            elif item.type == "client_report":
                _count_client_report(project.name, item.payload)
            else:
                ITEMS_IGNORED.labels(item.type if item.type in IGNORED_ITEMS else "other").inc()
        answer_id = raw_events[0][1] if raw_events else header_id
        body: dict[str, Any] = {"id": answer_id} if answer_id else {}
        kept = _kept(project, raw_events)
        if not kept:
            return IngestAnswer(200, body)
        retry = self.limiter.retry_after(project.id, project.config.rate_limit, len(kept))
        if retry:
            EVENTS.labels(project.name, "rate_limited").inc(len(kept))
            detail = (
                f'project "{project.name}" is over its rate limit of '
                f"{project.config.rate_limit} events per minute; retry in {retry} s"
            )
            return IngestAnswer(429, {"detail": detail}, rate_limit_headers(retry))
        received = utcnow()
        work = (kept, project.id, snap, received, request.client_ip)
        if sum(len(item.payload) for item in envelope.items) >= OFFLOAD_BYTES:
            prepared = await asyncio.to_thread(_prepare_all, *work)
        else:
            prepared = _prepare_all(*work)
        window = self.limiter.reserve(project.id, len(prepared))
        await self.writer.write(prepared, window)
        return IngestAnswer(200, body)


def _kept(project: Project, events: list[tuple[dict[str, Any], str]]) -> list[Any]:
    wanted = project.config.environments
    if not wanted:
        return events
    kept = [(e, i) for e, i in events if e.get("environment") in wanted]
    if len(kept) < len(events):
        EVENTS.labels(project.name, "filtered").inc(len(events) - len(kept))
    return kept


def _prepare_all(
    events: list[tuple[dict[str, Any], str]],
    project_id: int,
    snap: Snapshot,
    received: datetime,
    client_ip: str,
) -> list[PreparedEvent]:
    scrubber = snap.scrubbers[project_id]
    oldest = snap.section.event_retention
    return [
        prepare_event(
            event,
            project_id=project_id,
            event_id=event_id,
            scrubber=scrubber,
            received=received,
            oldest=oldest,
            client_ip=client_ip,
        )
        for event, event_id in events
    ]


def _new_event_id() -> str:
    return uuid.uuid4().hex


def _event_count(envelope: Envelope) -> int:
    return sum(1 for item in envelope.items if item.type in EVENT_ITEMS)


def _store_body(data: bytes, limit: int) -> bytes:
    """The event of a legacy store request: JSON, or (old clients) base64 of zlib'd JSON."""
    stripped = data.lstrip()
    if stripped[:1] == b"{" or not stripped:
        return data
    try:
        packed = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return data  # not encoded either: decode_event names the problem
    try:
        return decompress(packed, "deflate", limit)
    except ProtocolError as exc:
        if exc.status == 413:
            raise
        return data


def _count_client_report(project: str, payload: bytes) -> None:
    """Count what an SDK reports having dropped; a report that cannot be read is ignored
    (it is the SDK's own bookkeeping, never worth an error)."""
    try:
        report = loads(payload)
    except (ValueError, UnicodeDecodeError):
        return
    if not isinstance(report, dict):
        return
    for entry in report.get("discarded_events") or []:
        if not isinstance(entry, dict):
            continue
        quantity = entry.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            continue
        reason = entry.get("reason")
        category = entry.get("category")
        SDK_DISCARDED.labels(
            project,
            reason if reason in CLIENT_REPORT_REASONS else "other",
            category if category in CLIENT_REPORT_CATEGORIES else "other",
        ).inc(min(quantity, 1_000_000))
