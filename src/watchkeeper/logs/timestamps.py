"""Parsing event times found in log lines into nanoseconds since the epoch (UTC).

A parser is compiled once per pipeline stage; it returns ``None`` for a value it cannot read,
so the caller keeps the line with the time it arrived with and counts the failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

TimeParser = Callable[[str, int], int | None]
"""``parser(value, received_ns) -> ns or None``; ``received_ns`` fills a missing year."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_NS = 2**63 - 1
_NS = 1_000_000_000
_MICROSECOND = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9})\d*)?"
    r" ?(Z|z|UTC|[+-]\d\d(?::?\d\d)?)?"
)
_SCALES = {"unix": _NS, "unix_ms": 1_000_000, "unix_us": 1_000, "unix_ns": 1}
FORMATS = ("rfc3339", *_SCALES)
"""The named formats; anything else is a strptime format."""


def compile_parser(fmt: str, zone_name: str = "UTC") -> TimeParser:
    """Return a parser for ``fmt`` (``rfc3339``, ``unix``, ``unix_ms``, ``unix_us``,
    ``unix_ns`` or a strptime format); ``zone_name`` is the zone of times without an
    offset. Raise ``ValueError`` for an unknown zone."""
    try:
        zone: tzinfo = UTC if zone_name.upper() == "UTC" else ZoneInfo(zone_name)
    except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {zone_name!r}") from exc
    if fmt == "rfc3339":
        return lambda value, _received: _rfc3339(value, zone)
    if fmt in _SCALES:
        scale = _SCALES[fmt]
        return lambda value, _received: _unix(value, scale)
    if "%Y" in fmt or "%y" in fmt or "%G" in fmt or "%s" in fmt:
        return _last_value_cached(lambda value: _strptime(value, fmt, zone, None))
    return lambda value, received: _strptime(value, fmt, zone, received)


def _last_value_cached(parse: Callable[[str], int | None]) -> TimeParser:
    # strptime is slow, and consecutive lines of a busy stream mostly carry the same second.
    last: list[tuple[str, int | None]] = [("", None)]

    def cached(value: str, _received: int) -> int | None:
        previous, result = last[0]
        if value != previous:
            result = parse(value)
            last[0] = (value, result)
        return result

    return cached


def _checked(ns: int) -> int | None:
    return ns if 0 <= ns <= MAX_NS else None


def _rfc3339(value: str, zone: tzinfo) -> int | None:
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, offset = match.groups()
    try:
        # A leap second (:60) is stored as :59; the fraction still orders it.
        when = datetime(
            int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59)
        )
    except ValueError:
        return None
    if offset is None:
        tz = zone
    elif offset in ("Z", "z", "UTC"):
        tz = UTC
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:]) if len(digits) > 2 else 0)
        if minutes >= 24 * 60:
            return None
        tz = timezone(sign * timedelta(minutes=minutes))
    seconds = (when.replace(tzinfo=tz) - EPOCH) // _SECOND
    nanos = int(frac.ljust(9, "0")) if frac else 0
    return _checked(seconds * _NS + nanos)


def _unix(value: str, scale: int) -> int | None:
    try:
        number = Decimal(value.strip())
        if not number.is_finite():
            return None
        return _checked(int(number * scale))
    except (InvalidOperation, ValueError, OverflowError):
        return None


def _strptime(value: str, fmt: str, zone: tzinfo, received: int | None) -> int | None:
    try:
        when = datetime.strptime(value.strip(), fmt)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    if received is not None:
        # No year in the format (classic syslog "%b %d %H:%M:%S"): take the receive time's,
        # or the year before when that would put the event more than a day in the future.
        now = datetime.fromtimestamp(received / _NS, UTC)
        try:
            when = when.replace(year=now.year)
            if when - now > timedelta(days=1):
                when = when.replace(year=now.year - 1)
        except ValueError:  # 29 February in a year that has none
            return None
    return _checked((when - EPOCH) // _MICROSECOND * 1000)
