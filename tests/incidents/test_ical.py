"""iCalendar export of a person's shifts (RFC 5545) and the calendar subscription token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchkeeper.incidents.ical import (
    calendar,
    calendar_token,
    escape_text,
    fold,
    token_valid,
)
from watchkeeper.incidents.schedules import Shift

NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def shift(person: str, start: datetime, end: datetime, override: bool = False) -> Shift:
    return Shift(person, start, end, -1 if override else 0, "Primary", override)


def unfold(text: str) -> list[str]:
    """Content lines as RFC 5545 3.1 defines them: CRLF + space/tab continues a line."""
    assert text.endswith("\r\n")
    return text.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")[:-1]


def props(lines: list[str], name: str) -> list[str]:
    return [line.split(":", 1)[1] for line in lines if line.split(":", 1)[0] == name]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a,b;c", "a\\,b\\;c"),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines\r\nthree", "two\\nlines\\nthree"),
        ("\\,", "\\\\\\,"),  # the backslash first, so the comma's escape is not doubled
    ],
)
def test_text_values_are_escaped(raw: str, escaped: str) -> None:
    assert escape_text(raw) == escaped


def test_long_lines_fold_at_75_octets_without_splitting_a_character() -> None:
    line = "DESCRIPTION:" + "Bereitschaft für Jürgen, äöü € 😀 " * 8
    folded = fold(line)
    parts = folded.split("\r\n")
    assert len(parts) > 3
    assert all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join([parts[0], *(p[1:] for p in parts[1:])]) == line  # nothing lost
    assert fold("SUMMARY:short") == "SUMMARY:short"
    exact = "X" * 75
    assert fold(exact) == exact
    assert fold(exact + "Y") == exact + "\r\n Y"


def test_a_calendar_holds_one_event_per_shift_in_utc() -> None:
    shifts = [
        (
            "payments, EU",
            shift(
                "alice", datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 3, 8, tzinfo=UTC)
            ),
        ),
        (
            "ops",
            shift(
                "alice",
                datetime(2026, 3, 1, 17, tzinfo=UTC),
                datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
                override=True,
            ),
        ),
    ]
    text = calendar("alice", shifts, now=NOW)
    assert "\n" not in text.replace("\r\n", "")  # every line ends with CRLF
    lines = unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines
    assert props(lines, "PRODID") and props(lines, "X-WR-CALNAME") == ["On call: alice"]
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == 2
    # In time order; times in UTC ("Z"), DTSTAMP is when the file was made.
    assert props(lines, "DTSTART") == ["20260301T170000Z", "20260302T080000Z"]
    assert props(lines, "DTEND") == ["20260302T013000Z", "20260303T080000Z"]
    assert props(lines, "DTSTAMP") == ["20260301T120005Z"] * 2
    assert props(lines, "SUMMARY") == ["On call: ops", "On call: payments\\, EU"]
    assert "override" in props(lines, "DESCRIPTION")[0]
    uids = props(lines, "UID")
    assert len(set(uids)) == 2 and all(u.endswith("@oncall.watchkeeper") for u in uids)
    # Stable: the same shifts give the same UIDs, so a calendar app updates, not duplicates.
    assert props(unfold(calendar("alice", shifts, now=NOW)), "UID") == uids


def test_an_empty_calendar_is_still_a_valid_document() -> None:
    lines = unfold(calendar("bob", [], now=NOW))
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "BEGIN:VEVENT" not in lines


def test_the_token_is_an_hmac_of_the_person_under_the_secret_key() -> None:
    token = calendar_token("key-one", "alice")
    assert token == calendar_token("key-one", "alice")
    assert token != calendar_token("key-one", "bob")
    assert token != calendar_token("key-two", "alice")
    assert len(token) == 43 and "=" not in token  # 32 bytes, URL-safe base64
    assert token_valid(["key-one"], "alice", token)
    assert not token_valid(["key-one"], "bob", token)
    assert not token_valid(["key-one"], "alice", token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not token_valid(["key-one"], "alice", "")
    # After a key rotation the old subscriptions keep working with the previous key listed.
    assert token_valid(["key-two", "key-one"], "alice", token)
    assert not token_valid(["key-two"], "alice", token)
