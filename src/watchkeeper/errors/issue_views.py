"""Read error issues for the pages and the API with their triage: counts over time,
"new in" / "regressed in" badges, and the latest event made ready to show (stack traces with
source context, breadcrumbs, tags, request, user, contexts)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.errors.activity import BUCKET_SECONDS, release_firsts
from watchkeeper.store.tables import (
    ErrorIssueCount,
    ErrorIssueTriage,
)

SPANS = {"24h": (timedelta(hours=24), 3600), "14d": (timedelta(days=14), 86400)}
"""Sparkline spans: how far back, and the seconds per bar."""
CHART_SPANS = {"24h": (timedelta(hours=24), 900), "14d": (timedelta(days=14), 6 * 3600)}


@dataclass(frozen=True)
class Series:
    """Events and new users per step, oldest first; ``t`` is each step's start (Unix)."""

    t: list[int]
    events: list[int]
    users: list[int]


def series(
    db: Session, issue_ids: Iterable[int], now: datetime, span: timedelta, step: int
) -> dict[int, Series]:
    """Per issue, its events and new users per ``step`` seconds over ``span`` up to ``now``."""
    ids = list(issue_ids)
    end = (int(now.timestamp()) // step + 1) * step
    start = end - int(span.total_seconds())
    steps = (end - start) // step
    times = [start + i * step for i in range(steps)]
    events: dict[int, list[int]] = {i: [0] * steps for i in ids}
    users: dict[int, list[int]] = {i: [0] * steps for i in ids}
    if ids:
        rows = db.execute(
            select(
                ErrorIssueCount.issue_id,
                ErrorIssueCount.bucket,
                ErrorIssueCount.events,
                ErrorIssueCount.users,
            ).where(
                ErrorIssueCount.issue_id.in_(ids),
                ErrorIssueCount.bucket >= start // BUCKET_SECONDS,
                ErrorIssueCount.bucket < end // BUCKET_SECONDS,
            )
        )
        for issue_id, bucket, n, u in rows:
            index = (bucket * BUCKET_SECONDS - start) // step
            if 0 <= index < steps:
                events[issue_id][index] += n
                users[issue_id][index] += u
    return {i: Series(times, events[i], users[i]) for i in ids}


def triage_of(db: Session, issue_ids: Iterable[int]) -> dict[int, ErrorIssueTriage]:
    ids = list(issue_ids)
    if not ids:
        return {}
    rows = db.scalars(select(ErrorIssueTriage).where(ErrorIssueTriage.issue_id.in_(ids)))
    return {row.issue_id: row for row in rows}


def newest_releases(db: Session, project_ids: Iterable[int]) -> dict[int, str]:
    """The release each project saw last for the first time (its current one)."""
    newest = {}
    for project_id, firsts in release_firsts(db, set(project_ids)).items():
        if firsts:
            newest[project_id] = max(firsts.items(), key=lambda pair: pair[1])[0]
    return newest


def triage_fields(issue: dict[str, Any], triage: ErrorIssueTriage | None) -> dict[str, Any]:
    """The triage fields an issue view adds: regression and the ignore's date."""
    regressed = triage is not None and triage.regressed_at is not None
    return {
        "ignore_until": triage.ignore_until if triage else None,
        "regressed_at": triage.regressed_at if triage else None,
        "regressed_in_release": triage.regressed_in_release if regressed and triage else None,
        "regressed": regressed and issue["status"] == "unresolved",
        "tracker_issue": {
            "tracker": triage.tracker,
            "external_id": triage.tracker_external_id,
            "url": triage.tracker_url,
        }
        if triage is not None and triage.tracker_url
        else None,
    }


def with_triage(db: Session, issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ``issues`` (views' dicts) with their triage fields and "new in" badge."""
    triage = triage_of(db, (i["id"] for i in issues))
    newest = newest_releases(db, {i["project_id"] for i in issues})
    out = []
    for issue in issues:
        extra = triage_fields(issue, triage.get(issue["id"]))
        first = issue["first_release"]
        extra["new_in_release"] = (
            first if first and newest.get(issue["project_id"]) == first else None
        )
        out.append({**issue, **extra})
    return out


# --- the latest event, made ready to show ----------------------------------------------------


def _values(container: Any) -> list[Any]:
    """``{"values": [...]}`` or a bare list, as SDKs send either."""
    if isinstance(container, dict):
        container = container.get("values")
    return [v for v in container if isinstance(v, dict)] if isinstance(container, list) else []


def _pairs(value: Any) -> list[tuple[str, str]]:
    """Tags, headers and the like: a mapping or a list of pairs, as text."""
    items: Iterable[Any] = value.items() if isinstance(value, dict) else (value or [])
    out = []
    for item in items if isinstance(items, Iterable) else []:
        if isinstance(item, list | tuple) and len(item) == 2:
            key, val = item
            out.append((str(key), val if isinstance(val, str) else _text(val)))
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _frame(raw: dict[str, Any]) -> dict[str, Any]:
    lineno = raw.get("lineno") if isinstance(raw.get("lineno"), int) else None
    pre = [str(x) for x in raw.get("pre_context") or [] if isinstance(x, str)]
    post = [str(x) for x in raw.get("post_context") or [] if isinstance(x, str)]
    context: list[tuple[int | None, str, bool]] = []
    if isinstance(raw.get("context_line"), str):
        first = lineno - len(pre) if lineno is not None else None
        for n, line in enumerate([*pre, raw["context_line"], *post]):
            number = first + n if first is not None else None
            context.append((number, line, n == len(pre)))
    where = raw.get("filename") or raw.get("abs_path") or raw.get("module") or "?"
    variables = _dict(raw.get("vars"))
    return {
        "where": str(where),
        "module": raw.get("module") or "",
        "function": raw.get("function") or "?",
        "lineno": lineno,
        "colno": raw.get("colno") if isinstance(raw.get("colno"), int) else None,
        "in_app": raw.get("in_app") is True,
        "context": context,
        "vars": [(str(k), _text(v)) for k, v in variables.items()],
    }


def _stack(stacktrace: Any) -> list[dict[str, Any]]:
    """Frames, most recent call first (SDKs send them oldest first)."""
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    if not isinstance(frames, list):
        return []
    return [_frame(f) for f in reversed(frames) if isinstance(f, dict)]


def _breadcrumb(raw: dict[str, Any]) -> dict[str, Any]:
    at = raw.get("timestamp")
    when: datetime | None = None
    try:
        if isinstance(at, int | float) and not isinstance(at, bool):
            when = datetime.fromtimestamp(float(at), UTC)
        elif isinstance(at, str) and at:
            parsed = datetime.fromisoformat(at)
            when = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        when = None
    return {
        "at": when,
        "category": str(raw.get("category") or raw.get("type") or ""),
        "level": str(raw.get("level") or "info"),
        "message": _text(raw.get("message")),
        "data": _pairs(raw.get("data")),
    }


def event_display(event: dict[str, Any]) -> dict[str, Any]:
    """The parts of a stored event the issue page shows, each in a plain shape."""
    exceptions = [
        {
            "type": str(e.get("type") or "Error"),
            "value": _text(e.get("value")),
            "module": str(e.get("module") or ""),
            "frames": _stack(e.get("stacktrace")),
        }
        for e in reversed(_values(event.get("exception")))  # the last raised first
    ]
    threads = [t for t in _values(event.get("threads")) if isinstance(t.get("stacktrace"), dict)]
    thread_frames = _stack(threads[0]["stacktrace"]) if threads and not exceptions else []
    logentry = _dict(event.get("logentry"))
    message = event.get("message")
    if isinstance(message, dict):
        message = message.get("formatted") or message.get("message")
    request = _dict(event.get("request"))
    user = _dict(event.get("user"))
    contexts = _dict(event.get("contexts"))
    sdk = _dict(event.get("sdk"))
    return {
        "exceptions": exceptions,
        "thread_frames": thread_frames,
        "message": _text(logentry.get("formatted") or logentry.get("message") or message),
        "breadcrumbs": [_breadcrumb(b) for b in _values(event.get("breadcrumbs"))],
        "tags": _pairs(event.get("tags")),
        "request": {
            "method": str(request.get("method") or ""),
            "url": str(request.get("url") or ""),
            "query": _text(request.get("query_string")),
            "headers": _pairs(request.get("headers")),
            "data": _text(request.get("data")),
        }
        if request
        else None,
        "user": [(str(k), _text(v)) for k, v in user.items() if v not in (None, "")],
        "contexts": [
            (str(name), [(str(k), _text(v)) for k, v in ctx.items() if k != "type"])
            for name, ctx in contexts.items()
            if isinstance(ctx, dict)
        ],
        "environment": _text(event.get("environment")),
        "release": _text(event.get("release")),
        "server_name": _text(event.get("server_name")),
        "platform": _text(event.get("platform")),
        "transaction": _text(event.get("transaction")),
        "sdk": f"{sdk.get('name', '')} {sdk.get('version', '')}".strip(),
    }


def chart_data(db: Session, issue_id: int, now: datetime, span: str) -> dict[str, Any]:
    """The issue's chart: events and new users per step over ``span`` (24h or 14d)."""
    length, step = CHART_SPANS[span]
    data = series(db, [issue_id], now, length, step)[issue_id]
    return {"t": data.t, "events": data.events, "users": data.users, "step": step}
