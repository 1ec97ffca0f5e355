"""The release calendar: maintenance windows expanded into their openings (weekly ranges
past midnight, cron windows, time zones), merged with planned releases and freezes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.releases.support import apply
from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.alerts.windows import is_open, occurrences
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.releases import calendar
from watchkeeper.releases.section import load_section


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(**spec: object) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "w", **spec})


def test_weekly_range_past_midnight_and_carried_in() -> None:
    nightly = window(weekly=[{"days": ["mon"], "start": "23:00", "end": "01:00"}])
    # From Tuesday 00:30: Monday's opening still overlaps.
    found = occurrences(nightly, at("2026-12-08T00:30:00"), at("2026-12-16T00:00:00"))
    assert found == [
        (at("2026-12-07T23:00:00"), at("2026-12-08T01:00:00")),
        (at("2026-12-14T23:00:00"), at("2026-12-15T01:00:00")),
    ]


def test_weekly_range_to_midnight_in_a_time_zone() -> None:
    evening = window(
        timezone="Europe/Berlin", weekly=[{"days": ["sat"], "start": "20:00", "end": "24:00"}]
    )
    found = occurrences(evening, at("2026-12-01T00:00:00"), at("2026-12-08T00:00:00"))
    assert found == [(at("2026-12-05T19:00:00"), at("2026-12-05T23:00:00"))]
    # summer time moves it by an hour
    july = occurrences(evening, at("2026-07-01T00:00:00"), at("2026-07-05T00:00:00"))
    assert july == [(at("2026-07-04T18:00:00"), at("2026-07-04T22:00:00"))]


def test_cron_window_overlapping_the_start() -> None:
    nightly = window(cron="0 2 * * *", duration="3h")
    found = occurrences(nightly, at("2026-12-01T04:00:00"), at("2026-12-03T00:00:00"))
    assert found == [
        (at("2026-12-01T02:00:00"), at("2026-12-01T05:00:00")),
        (at("2026-12-02T02:00:00"), at("2026-12-02T05:00:00")),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {"weekly": [{"days": ["mon", "wed"], "start": "22:30", "end": "02:15"}]},
        {"weekly": [{"start": "09:00", "end": "17:00"}], "timezone": "America/New_York"},
        {"cron": "*/45 * * * *", "duration": "20m"},
    ],
)
def test_openings_agree_with_is_open(spec: dict[str, object]) -> None:
    w = window(**spec)
    start, end = at("2026-03-02T00:00:00"), at("2026-03-16T00:00:00")
    found = occurrences(w, start, end)
    moment = start
    while moment < end:  # every 5 minutes of two weeks
        inside = any(a <= moment < b for a, b in found)
        assert inside == is_open(w, moment), moment
        moment += timedelta(minutes=5)


def test_events_merge_the_plan_and_the_windows(sessions: sessionmaker[Session]) -> None:
    apply(sessions)
    with sessions() as db:
        section = load_section(db)
        found = calendar.events(db, section, at("2025-12-26T00:00:00"), at("2025-12-28T00:00:00"))
        kinds = [(e.kind, e.title) for e in found]
        assert kinds[0] == ("freeze", "Freeze year-end (api)")
        assert ("patch_window", "Patch window patching") in kinds  # Saturday 27th, 06:00
        assert found == sorted(found, key=lambda e: e.start)
        with pytest.raises(ValidationFailed) as caught:
            calendar.events(db, section, at("2026-01-02T00:00:00"), at("2026-01-01T00:00:00"))
        assert caught.value.errors == [("end", "must be after start")]
