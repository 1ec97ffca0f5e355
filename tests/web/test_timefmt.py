"""Times in the pages: lengths of time and moments relative to now, and form date-times
read back (UTC unless they name an offset; an unreadable one named by its field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from watchkeeper.web.timefmt import ago, form_time, span

NOW = datetime(2026, 3, 4, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59.9, "59 s"),
        (300, "5 min"),
        (2 * 3600 + 600, "2 h 10 min"),
        (7 * 3600 + 600, "7 h"),
        (2 * 86400 + 3 * 3600, "2 d 3 h"),
        (5 * 86400 + 3 * 3600, "5 d"),
        (-300, "5 min"),
    ],
)
def test_span(seconds: float, text: str) -> None:
    assert span(seconds) == text


def test_ago() -> None:
    assert ago(None, NOW) == "never"
    assert ago(NOW - timedelta(seconds=30), NOW) == "just now"
    assert ago(NOW - timedelta(minutes=5), NOW) == "5 min ago"
    assert ago(NOW + timedelta(hours=2), NOW) == "in 2 h"


def test_form_time() -> None:
    errors: list[tuple[str, str]] = []
    assert form_time("2026-01-31T14:00", "startsAt", errors) == datetime(
        2026, 1, 31, 14, tzinfo=UTC
    )
    assert form_time("2026-01-31T14:00+01:00", "startsAt", errors) == datetime(
        2026, 1, 31, 14, tzinfo=timezone(timedelta(hours=1))
    )
    assert form_time("  ", "endsAt", errors) is None
    assert errors == []
    assert form_time("next tuesday", "endsAt", errors) is None
    assert errors == [("endsAt", '"next tuesday" is not a date and time (2026-01-31T14:00)')]
