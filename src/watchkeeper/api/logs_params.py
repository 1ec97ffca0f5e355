"""Parameters and shapes of the log query API: times, steps, limits, lines as JSON.

Times are accepted the ways people and tools write them: RFC 3339 (``2026-05-01T10:00:00Z``,
with up to nanoseconds), epoch seconds (fractions allowed), milliseconds or nanoseconds
(told apart by size), and relative to now (``now``, ``now-1h``, ``now-15m``).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticCustomError

from watchkeeper.logs.model import LogLine
from watchkeeper.plan.types import parse_duration

MAX_LIMIT = 5000
MAX_TIME = 2**62
"""Largest time accepted (2116): the store and numpy keep times in signed 64 bits."""
_RELATIVE = re.compile(r"^now(?:\s*([+-])\s*(\S+))?$")
_RFC3339 = re.compile(
    r"^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(?::\d\d)?)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:?\d\d)?$"
)


class BadParam(ValueError):
    """A parameter the API cannot use: answered 400 naming ``field`` (and ``position`` in
    the query when known)."""

    def __init__(self, field: str, message: str, position: int | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.position = position


def now_ns() -> int:
    return time.time_ns()


def parse_time(field: str, raw: str | None, default: int, now: int | None = None) -> int:
    """Return ``raw`` as ns since the epoch (``default`` when empty); raise BadParam, also
    for a time past what 64-bit ns can hold with room for ranges around it."""
    if raw is None or not raw.strip():
        return default
    value = _parse_time(field, raw, now)
    if not -MAX_TIME <= value <= MAX_TIME:
        raise BadParam(field, f'"{raw.strip()[:40]}" is out of range (before 1824 or after 2116)')
    return value


def _parse_time(field: str, raw: str, now: int | None) -> int:
    text = raw.strip()
    now = now_ns() if now is None else now
    rel = _RELATIVE.match(text)
    if rel:
        if not rel.group(1):
            return now
        try:
            span = int(parse_duration(rel.group(2)).total_seconds() * 1e9)
        except PydanticCustomError:
            raise BadParam(field, f'"{rel.group(2)}" is not a duration (use 30s, 5m, 2h)') from None
        return now - span if rel.group(1) == "-" else now + span
    try:
        number = float(text)
    except ValueError:
        return _rfc3339(field, text)
    if number != number or abs(number) >= 1e19:
        raise BadParam(field, f'"{text}" is out of range')
    if abs(number) < 1e11:  # seconds (until the year 5138)
        return round(number * 1e9) if "." in text or "e" in text.lower() else int(text) * 10**9
    if abs(number) < 1e14:  # milliseconds
        return round(number * 1e6)
    return int(text) if text.lstrip("+-").isdigit() else round(number)


def _rfc3339(field: str, text: str) -> int:
    found = _RFC3339.match(text)
    if found:
        base, fraction, zone = found.groups()
        zone = "+00:00" if zone in (None, "Z", "z") else zone
        try:
            stamp = datetime.fromisoformat(base.replace("t", "T").replace(" ", "T") + zone)
        except ValueError:
            pass
        else:
            ns = int((fraction or "").ljust(9, "0")) if fraction else 0
            return int(stamp.timestamp()) * 10**9 + ns
    raise BadParam(
        field,
        f'cannot read "{text[:60]}" as a time: use RFC 3339 (2026-05-01T10:00:00Z), '
        "epoch seconds or nanoseconds, or now-1h",
    )


def parse_step(raw: str | None, start: int, end: int) -> int:
    """A step as a duration (``30s``) or seconds (``15``); by default about 250 points."""
    if raw is None or not raw.strip():
        return max(10**9, (end - start) // 250 // 10**9 * 10**9 or 10**9)
    text = raw.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text).total_seconds()
        except PydanticCustomError:
            raise BadParam("step", f'"{text}" is not a duration (use 15s, 1m, 1h)') from None
    if not seconds > 0 or seconds > 10**9:
        raise BadParam("step", "must be a positive duration")
    return max(1, round(seconds * 1e9))


def parse_int(field: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(field, f'"{raw[:40]}" is not a whole number') from None
    if not low <= value <= high:
        raise BadParam(field, f"must be between {low} and {high:,}")
    return value


def rfc3339(ns: int) -> str:
    """``2026-05-01T10:00:00.123456789Z``: RFC 3339 in UTC with nanoseconds."""
    seconds, frac = divmod(ns, 10**9)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


def line_json(line: LogLine) -> dict[str, Any]:
    return {
        "ts": rfc3339(line.ts),
        "ts_ns": str(line.ts),
        "received": rfc3339(line.received),
        "received_ns": str(line.received),
        "labels": dict(line.labels),
        "message": line.message,
        "fields": dict(line.fields),
    }
