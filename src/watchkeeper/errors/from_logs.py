"""Exceptions that arrive as log lines become error events (plan: ``errors.from_logs``).

Every replica receives logs into its own store, so every replica runs a :class:`LogErrorFeed`:
it listens to the lines its log writer stored and keeps the ones that carry an exception:

- a Python or Java stack trace in the message (joined into one line by the logs domain's
  multiline rules), found by a substring test for ``Traceback (most recent call last):``,
  ``Exception in thread`` or ``\\tat `` before anything is parsed;
- an OTLP log record with ``exception.type``/``exception.message``/``exception.stacktrace``
  attributes (OpenTelemetry semantic conventions; the OTLP receiver keeps them as fields).

The listener runs on the log writer thread and only does those tests, the selector match
(cached per stream) and a hand-off to a bounded queue; parsing, scrubbing, grouping and the
write happen on the event loop through the errors ingest's own path (the project's
scrubber, :func:`~watchkeeper.errors.events.prepare_event`, its rate limit and its group
-committed writer), so an event from a log groups exactly like one an SDK sent. Each event's
id is derived from the line (stream, time, text), so a line seen twice is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.errors.config import ErrorsSection
from watchkeeper.errors.events import prepare_event
from watchkeeper.errors.ingest import ErrorIngest
from watchkeeper.errors.stacktrace_parse import (
    JAVA_FRAME,
    JAVA_START,
    PYTHON_START,
    first_line_before,
    parse_stacktrace,
)
from watchkeeper.logs.model import Labels, LogLine
from watchkeeper.logs.selector import Matcher, matches_all, parse_selector
from watchkeeper.store.tables import utcnow
from watchkeeper.telemetry import REGISTRY

log = logging.getLogger(__name__)
QUEUE_LINES = 10_000
"""Lines waiting to become events; more are dropped (counted) rather than slow log ingest."""
BATCH = 200
OTLP_FIELDS = ("exception.type", "exception.message", "exception.stacktrace")
LOG_EVENTS = Counter(
    "watchkeeper_error_log_events_total",
    "Log lines carrying an exception, by project and outcome (stored: handed to the errors "
    "writer; unparsed: no exception could be read; rate_limited: over the project's rate "
    "limit; dropped: the hand-off queue was full; unknown_project: the mapping names a "
    "project that does not exist).",
    ["project", "outcome"],
    registry=REGISTRY,
)
_LEVELS = {"fatal": "fatal", "critical": "fatal", "crit": "fatal", "warn": "warning"}


def carries_exception(line: LogLine) -> bool:
    """Return whether ``line`` may carry an exception (substring tests only)."""
    fields = line.fields
    if fields and ("exception.type" in fields or "exception.stacktrace" in fields):
        return True
    message = line.message
    return PYTHON_START in message or JAVA_FRAME in message or JAVA_START in message


def event_of_line(line: LogLine) -> dict[str, Any] | None:
    """Return the Sentry-shaped event for ``line``, or None when no exception can be read."""
    fields = line.fields or {}
    platform = "other"
    message = ""
    if "exception.type" in fields or "exception.stacktrace" in fields:
        exceptions = _otlp_exceptions(fields)
        language = fields.get("telemetry.sdk.language", "")
        platform = language if language in ("python", "java") else platform
        message = line.message
    else:
        exceptions = parse_stacktrace(line.message)
        marker = PYTHON_START if PYTHON_START in line.message else JAVA_FRAME
        platform = "python" if marker == PYTHON_START else "java"
        message = first_line_before(line.message, marker)
    if not exceptions:
        return None
    labels = dict(line.labels)
    level = labels.get("level", "error")
    event: dict[str, Any] = {
        "platform": platform,
        "level": _LEVELS.get(level, level if level in ("error", "warning", "info") else "error"),
        "timestamp": line.ts / 1e9,
        "exception": {"values": exceptions},
        "logger": labels.get("logger") or labels.get("app") or labels.get("service") or "",
        "tags": {k: v for k, v in labels.items() if k != "level"},
        "extra": {"log_message": line.message[:4096]},
    }
    if message and message != exceptions[-1].get("value"):
        event["logentry"] = {"formatted": message[:1024]}
    environment = (
        labels.get("env") or labels.get("environment") or fields.get("deployment.environment", "")
    )
    if environment:
        event["environment"] = environment
    release = fields.get("service.version")
    if release:
        event["release"] = release
    if labels.get("host"):
        event["server_name"] = labels["host"]
    return event


def _otlp_exceptions(fields: dict[str, str]) -> list[dict[str, Any]]:
    kind = fields.get("exception.type", "")
    value = fields.get("exception.message", "")
    trace = fields.get("exception.stacktrace", "")
    exceptions = parse_stacktrace(trace) if trace else []
    if not exceptions:
        if not kind and not value:
            return []
        exceptions = [{"type": kind or "Exception", "value": value}]
    elif kind:
        # The attributes name the raised exception exactly; the parsed trace may not.
        module, _, name = kind.rpartition(".")
        last = exceptions[-1]
        last["type"] = name or kind
        if module:
            last["module"] = module
        if value:
            last["value"] = value
    return exceptions


def event_id_of_line(line: LogLine) -> str:
    """Return the event id of ``line``: the same line always gets the same id."""
    digest = hashlib.sha256()
    digest.update(repr(line.labels).encode())
    digest.update(str(line.ts).encode())
    digest.update(line.message.encode("utf-8", "replace"))
    return digest.hexdigest()[:32]


class LogErrorFeed:
    """Turns this replica's log lines that carry exceptions into error events."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        subscribe: Callable[[Callable[[Sequence[LogLine]], None]], Callable[[], None]],
        ingest: ErrorIngest | None = None,
    ) -> None:
        """``subscribe`` is the log system's (it calls the listener with every stored
        batch); ``ingest`` the errors ingest to share (one is made otherwise)."""
        self._sessions = sessions
        self._subscribe = subscribe
        self.ingest = ingest or ErrorIngest(sessions)
        self._sources: tuple[tuple[tuple[Matcher, ...], str], ...] = ()
        self._routes: dict[Labels, str | None] = {}
        self._queue: asyncio.Queue[LogLine] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._section: ErrorsSection | None = None

    async def run(self) -> None:
        """Listen until :meth:`stop`; store what arrives."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(QUEUE_LINES)
        await self.refresh()
        unsubscribe = self._subscribe(self.listen)
        refresher = asyncio.create_task(self._refresh_loop(), name="errors-from-logs-refresh")
        try:
            while not self._stopping.is_set():
                getter = asyncio.ensure_future(self._queue.get())
                stopper = asyncio.ensure_future(self._stopping.wait())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if getter not in done:
                    getter.cancel()
                    break
                lines = [getter.result()]
                while len(lines) < BATCH and not self._queue.empty():
                    lines.append(self._queue.get_nowait())
                try:
                    await self.store(lines)
                except Exception:
                    log.exception("errors from logs: %d event(s) could not be stored", len(lines))
        finally:
            unsubscribe()
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    async def stop(self) -> None:
        self._stopping.set()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(10.0)
            try:
                await self.refresh()
            except Exception:
                log.exception("errors from logs: the errors section could not be read")

    async def refresh(self) -> None:
        """Re-read the plan's ``errors.from_logs`` mapping."""
        snap = await self.ingest.directory.snapshot()
        if snap.section == self._section:
            return
        self._section = snap.section
        self._sources = tuple(
            (parse_selector(source.selector), source.project) for source in snap.section.from_logs
        )
        self._routes = {}

    def project_of(self, labels: Labels) -> str | None:
        """Return the project the lines of stream ``labels`` go to (the first mapping whose
        selector matches), or None."""
        if labels in self._routes:
            return self._routes[labels]
        found = next((name for m, name in self._sources if matches_all(m, labels)), None)
        if len(self._routes) < 10_000:
            self._routes[labels] = found
        return found

    def listen(self, lines: Sequence[LogLine]) -> None:
        """The log writer's listener: pick the lines to turn into events (keep it quick)."""
        if not self._sources or self._loop is None:
            return
        picked = [ln for ln in lines if carries_exception(ln) and self.project_of(ln.labels)]
        if picked:
            self._loop.call_soon_threadsafe(self._enqueue, picked)

    def _enqueue(self, lines: list[LogLine]) -> None:
        assert self._queue is not None
        for line in lines:
            try:
                self._queue.put_nowait(line)
            except asyncio.QueueFull:
                LOG_EVENTS.labels(self.project_of(line.labels) or "", "dropped").inc()

    async def store(self, lines: Sequence[LogLine]) -> int:
        """Turn ``lines`` into events of their projects and store them; return how many were
        handed to the writer."""
        snap = await self.ingest.directory.snapshot()
        by_name = {p.name: p for p in snap.by_id.values()}
        per_project: dict[int, list[tuple[dict[str, Any], str]]] = {}
        for line in lines:
            name = self.project_of(line.labels) or ""
            project = by_name.get(name)
            if project is None:
                LOG_EVENTS.labels(name, "unknown_project").inc()
                continue
            event = event_of_line(line)
            if event is None:
                LOG_EVENTS.labels(name, "unparsed").inc()
                continue
            per_project.setdefault(project.id, []).append((event, event_id_of_line(line)))
        stored = 0
        received = utcnow()
        for project_id, events in per_project.items():
            project = snap.by_id[project_id]
            limiter = self.ingest.limiter
            if limiter.retry_after(project_id, project.config.rate_limit, len(events)):
                LOG_EVENTS.labels(project.name, "rate_limited").inc(len(events))
                continue
            prepared = [
                prepare_event(
                    event,
                    project_id=project_id,
                    event_id=event_id,
                    scrubber=snap.scrubbers[project_id],
                    received=received,
                    oldest=snap.section.event_retention,
                    client_ip="",
                )
                for event, event_id in events
            ]
            window = limiter.reserve(project_id, len(prepared))
            await self.ingest.writer.write(prepared, window)
            LOG_EVENTS.labels(project.name, "stored").inc(len(prepared))
            stored += len(prepared)
        return stored
