"""What the HTTP log decoders share: the decoded result, times, levels and line limits."""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logs.model import MAX_LABELS, MAX_LINE_BYTES, Labels, LogLine

MAX_NAMED = 100
"""Refused entries named one by one in a response; the rest are only counted."""
MAX_TS = 2**63 - 1
_MAX_SUMMARY = 5


class ReceiverError(WatchkeeperError):
    """A body that cannot be read at all (not JSON, truncated protobuf, bad compression);
    nothing of it is stored."""


class Refused(ValueError):
    """One entry that cannot be stored; the message says why."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused entry: where it is in the body (``line 3``, ``streams[0].values[4]``) and
    why it was refused."""

    where: str
    reason: str
    line: int | None = None


@dataclass(slots=True)
class Decoded:
    """The lines of a body and the entries refused (the first MAX_NAMED are named)."""

    lines: list[LogLine] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def reject(self, where: str, reason: str, line: int | None = None, count: int = 1) -> None:
        self.rejected += count
        self.reasons[reason] += count
        if len(self.rejections) < MAX_NAMED:
            self.rejections.append(Rejection(where, reason, line))

    def summary(self) -> str:
        """The most frequent reasons with their counts, for one-line error messages."""
        parts = [f"{reason} ({n}×)" for reason, n in self.reasons.most_common(_MAX_SUMMARY)]
        more = len(self.reasons) - _MAX_SUMMARY
        return "; ".join(parts) + (f"; and {more} other reasons" if more > 0 else "")


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))?"
)


def rfc3339_ns(text: str) -> int:
    """Return the ns since the epoch of an RFC 3339 time (a time without an offset is UTC,
    fractions keep up to 9 digits); raise Refused when ``text`` is not one."""
    found = _RFC3339.fullmatch(text.strip())
    if not found:
        raise Refused(f'"{text[:40]}" is not an RFC 3339 time or an epoch number')
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    second = min(second, 59)  # a leap second is kept in the second before it
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise Refused(f'"{text[:40]}" is not a valid time: {exc}') from None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if found.group(9):
        offset = int(found.group(10)) * 3600 + int(found.group(11)) * 60
        seconds -= offset if found.group(9) == "+" else -offset
    fraction = (found.group(7) or "")[:9]
    return in_range(seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or 0))


def epoch_ns(value: int | float | Decimal) -> int:
    """Return ns from an epoch number in s, ms, µs or ns (told apart by size, as
    Vector and Fluent Bit do); raise Refused when it is out of range."""
    try:
        number = Decimal(value) if not isinstance(value, Decimal) else value
        size = abs(number)
        scale = (
            10**9 if size < 10**11 else 10**6 if size < 10**14 else 10**3 if size < 10**17 else 1
        )
        ns = int(number * scale)
    except (InvalidOperation, OverflowError, ValueError):
        raise Refused(f"{value} is not a usable epoch time") from None
    return in_range(ns)


def timestamp_ns(value: object) -> int:
    """Return ns from an RFC 3339 string, an epoch number or a string of digits; raise
    Refused for anything else."""
    if isinstance(value, bool):
        raise Refused("a time cannot be true or false")
    if isinstance(value, int | float | Decimal):
        return epoch_ns(value)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return epoch_ns(Decimal(text))
        return rfc3339_ns(text)
    raise Refused("a time must be an RFC 3339 string or an epoch number")


def in_range(ns: int) -> int:
    """Return ``ns``; raise Refused when it is before 1970 or past 2262 (64-bit ns)."""
    if not 0 <= ns <= MAX_TS:
        raise Refused("the time is before 1970 or after 2262")
    return ns


def check_line(labels: Labels, message: str, fields: dict[str, str]) -> None:
    """Raise Refused when the line is over the size limit or has too many labels."""
    if len(labels) > MAX_LABELS:
        raise Refused(f"{len(labels)} labels; at most {MAX_LABELS} are allowed")
    chars = len(message) + sum(len(k) + len(v) for k, v in fields.items())
    if chars * 4 <= MAX_LINE_BYTES:  # a character is at most 4 bytes in UTF-8
        return
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in _texts(message, fields))
    if size > MAX_LINE_BYTES:
        raise Refused(f"the line is {size} bytes; the limit is {MAX_LINE_BYTES}")


def _texts(message: str, fields: dict[str, str]) -> list[str]:
    return [message, *fields.keys(), *fields.values()]
