"""iCalendar (RFC 5545) export of one person's on-call shifts, and the signed
subscription token calendar apps use instead of signing in.

The text is written here: VCALENDAR with one VEVENT per shift, times in UTC, lines folded
at 75 octets and ended by CRLF, TEXT values escaped. UIDs are stable (a hash of schedule,
person and times), so a calendar app updates a subscription instead of duplicating it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from watchkeeper.incidents.schedules import Shift

PRODID = "-//Watchkeeper//On-call calendar//EN"
_KEY_LABEL = b"watchkeeper oncall calendar v1"
_LIMIT = 75  # octets per line, CRLF not counted


def escape_text(value: str) -> str:
    """Escape a TEXT value: backslash, semicolon, comma and newlines (RFC 5545 3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line into lines of at most 75 octets joined by CRLF + space, never
    splitting a UTF-8 character (RFC 5545 3.1)."""
    out: list[str] = []
    current, size, limit = "", 0, _LIMIT
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = "", 0, _LIMIT - 1  # continuation lines start with a space
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _uid(schedule: str, shift: Shift) -> str:
    key = f"{schedule}\0{shift.person}\0{shift.start.isoformat()}\0{shift.end.isoformat()}"
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@oncall.watchkeeper"


def calendar(
    person: str, events: Iterable[tuple[str, Shift]], *, now: datetime, name: str = ""
) -> str:
    """Return an iCalendar document of ``person``'s shifts: ``events`` are
    ``(schedule name, shift)`` pairs; ``name`` is the calendar's display name."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name or f'On call: {person}')}",
    ]
    for schedule, shift in sorted(events, key=lambda e: (e[1].start, e[0])):
        kind = "override" if shift.override else shift.layer_name
        lines += [
            "BEGIN:VEVENT",
            f"UID:{_uid(schedule, shift)}",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(shift.start)}",
            f"DTEND:{_stamp(shift.end)}",
            f"SUMMARY:{escape_text(f'On call: {schedule}')}",
            f"DESCRIPTION:{escape_text(f'{person} is on call for {schedule} ({kind}).')}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()


def calendar_token(secret_key: str, person: str) -> str:
    """Return the subscription token of ``person``'s calendar: HMAC-SHA256 over the name,
    keyed from the server's secret key (URL-safe base64, no padding)."""
    mac = hmac.new(_key(secret_key), person.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_valid(secret_keys: Sequence[str], person: str, token: str) -> bool:
    """Return whether ``token`` is ``person``'s token under any of ``secret_keys`` (the
    current key and previous ones, so subscriptions survive a key rotation)."""
    return any(
        hmac.compare_digest(calendar_token(key, person), token) for key in secret_keys if key
    )
