"""On-call schedules computed from the plan: rotations, restrictions, layers, overrides,
gaps, holidays, and hand-offs across DST changes (Europe/Berlin and America/New_York)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from watchkeeper.incidents.oncall_config import Schedule
from watchkeeper.incidents.schedules import (
    OVERRIDE_LAYER,
    Shift,
    final_shifts,
    gaps,
    holidays_in,
    layer_shifts,
    now_and_next,
    oncall_at,
)

H = timedelta(hours=1)
DAY = timedelta(days=1)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Cover:
    person: str
    starts_at: datetime
    ends_at: datetime


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def wall(tz: ZoneInfo, *args: int) -> datetime:
    """A wall-clock time in ``tz`` as UTC."""
    return datetime(*args, tzinfo=tz).astimezone(UTC)  # type: ignore[misc]


def local_at(tz: ZoneInfo, day: date, hour: int, minute: int = 0) -> datetime:
    """``day`` at ``hour:minute`` on the wall clock in ``tz``, as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC)


def schedule(*layers: dict[str, Any], time_zone: str = "UTC", **more: Any) -> Schedule:
    return Schedule.model_validate(
        {"name": "ops", "time_zone": time_zone, "layers": list(layers), **more}
    )


def who(shifts: Sequence[Shift]) -> list[str]:
    return [s.person for s in shifts]


def assert_partition(shifts: Sequence[Shift], start: datetime, end: datetime) -> None:
    """Nobody double-booked, nobody missing: the shifts tile ``[start, end)`` exactly."""
    assert shifts, "no shifts"
    assert shifts[0].start == start
    assert shifts[-1].end == end
    for before, after in zip(shifts, shifts[1:], strict=False):
        assert before.end == after.start, (before, after)
    assert all(s.start < s.end for s in shifts)


# -- rotations -------------------------------------------------------------------------------


def test_daily_rotation_hands_off_at_the_handoff_time() -> None:
    plan = schedule(
        {"rotation": "daily", "handoff": "09:00", "start": "2026-01-05", "members": ["a", "b", "c"]}
    )
    shifts = layer_shifts(plan, 0, utc(2026, 1, 5), utc(2026, 1, 9))
    assert who(shifts) == ["a", "b", "c", "a"]
    assert shifts[0].start == utc(2026, 1, 5, 9)  # nobody before the first hand-off
    assert [s.length for s in shifts[:3]] == [DAY] * 3
    assert shifts[-1].end == utc(2026, 1, 9)  # cut to the range
    assert {s.layer_name for s in shifts} == {"Layer 1"}


def test_weekly_rotation_hands_off_on_its_day() -> None:
    # Starts on a Monday, hands off on Wednesdays: the first shift runs Monday to Wednesday.
    plan = schedule(
        {
            "rotation": "weekly",
            "handoff_day": "wed",
            "handoff": "10:00",
            "start": "2026-01-05",
            "members": ["a", "b"],
        }
    )
    shifts = layer_shifts(plan, 0, utc(2026, 1, 5), utc(2026, 1, 28))
    assert who(shifts) == ["a", "b", "a", "b"]
    assert shifts[0].start == utc(2026, 1, 5, 10)
    assert shifts[0].end == utc(2026, 1, 7, 10)  # Wednesday
    assert shifts[1].length == shifts[2].length == timedelta(days=7)
    assert all(s.start.weekday() == 2 for s in shifts[1:])


def test_weekly_rotation_starting_on_its_day_runs_a_full_week_first() -> None:
    plan = schedule({"rotation": "weekly", "start": "2026-01-05", "members": ["a", "b"]})
    shifts = layer_shifts(plan, 0, utc(2026, 1, 5, 9), utc(2026, 1, 19, 9))
    assert [(s.person, s.length) for s in shifts] == [("a", 7 * DAY), ("b", 7 * DAY)]


def test_custom_rotation_counts_elapsed_time_from_the_first_handoff() -> None:
    plan = schedule(
        {
            "rotation": "custom",
            "shift_length": "12h",
            "handoff": "08:00",
            "start": "2026-01-05",
            "members": ["x", "y", "z"],
        }
    )
    shifts = layer_shifts(plan, 0, utc(2026, 1, 6), utc(2026, 1, 7))
    assert [(s.person, s.start.hour) for s in shifts] == [("y", 0), ("z", 8), ("x", 20)]
    assert shifts[1].length == 12 * H


def test_a_range_far_from_the_start_is_computed_directly() -> None:
    plan = schedule({"rotation": "daily", "start": "2020-01-01", "members": ["a", "b", "c"]})
    # 2026-01-05 is day 2196 after the start: 2196 % 3 == 0, so "a" from 09:00 that day.
    shifts = layer_shifts(plan, 0, utc(2026, 1, 5, 12), utc(2026, 1, 6, 12))
    assert [(s.person, s.start, s.end) for s in shifts] == [
        ("a", utc(2026, 1, 5, 12), utc(2026, 1, 6, 9)),
        ("b", utc(2026, 1, 6, 9), utc(2026, 1, 6, 12)),
    ]


def test_nobody_is_on_call_before_a_layer_starts() -> None:
    plan = schedule({"rotation": "daily", "start": "2026-02-01", "members": ["a"]})
    start, end = utc(2026, 1, 30), utc(2026, 2, 3)
    assert gaps(plan, [], start, end) == [(start, utc(2026, 2, 1, 9))]
    assert oncall_at(plan, [], utc(2026, 1, 31)) == []
    assert layer_shifts(plan, 0, utc(2026, 1, 1), utc(2026, 1, 2)) == []


# -- restrictions ----------------------------------------------------------------------------


def test_restrictions_cut_shifts_to_office_hours() -> None:
    plan = schedule(
        {
            "rotation": "weekly",
            "start": "2026-01-05",
            "members": ["a", "b"],
            "restrict": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
            ],
        },
        time_zone="Europe/Berlin",
    )
    shifts = layer_shifts(plan, 0, utc(2026, 1, 5), utc(2026, 1, 12))
    assert len(shifts) == 5
    assert all(s.person == "a" and s.length == 8 * H for s in shifts)
    assert [s.start for s in shifts] == [wall(BERLIN, 2026, 1, d, 9) for d in range(5, 10)]
    assert oncall_at(plan, [], wall(BERLIN, 2026, 1, 10, 12)) == []  # Saturday


def test_a_restriction_ending_before_it_starts_runs_over_midnight() -> None:
    plan = schedule(
        {
            "rotation": "daily",
            "handoff": "00:00",
            "start": "2026-01-05",
            "members": ["night"],
            "restrict": [{"days": ["fri"], "start": "18:00", "end": "08:00"}],
        }
    )
    start, end = utc(2026, 1, 5), utc(2026, 1, 12)
    shifts = final_shifts(plan, [], start, end)
    assert [(s.start, s.end) for s in shifts] == [(utc(2026, 1, 9, 18), utc(2026, 1, 10, 8))]
    # The layer's own row shows the midnight hand-off inside the window.
    assert [s.end for s in layer_shifts(plan, 0, start, end)] == [
        utc(2026, 1, 10),
        utc(2026, 1, 10, 8),
    ]


def test_a_rotation_hands_off_inside_a_restricted_window() -> None:
    plan = schedule(
        {
            "rotation": "daily",
            "handoff": "12:00",
            "start": "2026-01-05",
            "members": ["a", "b"],
            "restrict": [{"start": "09:00", "end": "17:00"}],
        }
    )
    shifts = layer_shifts(plan, 0, utc(2026, 1, 6), utc(2026, 1, 7))
    assert [(s.person, s.start.hour, s.end.hour) for s in shifts] == [("a", 9, 12), ("b", 12, 17)]


# -- layers and overrides --------------------------------------------------------------------

TWO_LAYERS = (
    {"name": "Primary", "rotation": "weekly", "start": "2026-01-05", "members": ["a", "b"]},
    {
        "name": "Office",
        "rotation": "daily",
        "start": "2026-01-05",
        "members": ["c"],
        "restrict": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
        ],
    },
)


def test_a_later_layer_wins_where_it_has_someone() -> None:
    plan = schedule(*TWO_LAYERS)
    start, end = utc(2026, 1, 5, 9), utc(2026, 1, 7, 9)
    shifts = final_shifts(plan, [], start, end)
    assert [(s.person, s.start, s.end, s.layer) for s in shifts] == [
        ("c", utc(2026, 1, 5, 9), utc(2026, 1, 5, 17), 1),
        ("a", utc(2026, 1, 5, 17), utc(2026, 1, 6, 9), 0),
        ("c", utc(2026, 1, 6, 9), utc(2026, 1, 6, 17), 1),
        ("a", utc(2026, 1, 6, 17), utc(2026, 1, 7, 9), 0),
    ]
    assert_partition(shifts, start, end)
    assert shifts[0].layer_name == "Office"


def test_overrides_win_and_a_later_override_wins_over_an_earlier_one() -> None:
    plan = schedule(*TWO_LAYERS)
    covers = [
        Cover("d", utc(2026, 1, 5, 12), utc(2026, 1, 5, 20)),
        Cover("e", utc(2026, 1, 5, 18), utc(2026, 1, 5, 19)),
    ]
    shifts = final_shifts(plan, covers, utc(2026, 1, 5, 9), utc(2026, 1, 6, 0))
    assert [(s.person, s.start.hour, s.end.hour, s.override) for s in shifts] == [
        ("c", 9, 12, False),
        ("d", 12, 18, True),
        ("e", 18, 19, True),
        ("d", 19, 20, True),
        ("a", 20, 0, False),
    ]
    assert {s.layer for s in shifts if s.override} == {OVERRIDE_LAYER}
    assert oncall_at(plan, covers, utc(2026, 1, 5, 18, 30)) == ["e"]
    assert oncall_at(plan, covers, utc(2026, 1, 5, 12)) == ["d"]  # from its first instant


def test_an_override_fills_a_gap() -> None:
    plan = schedule(TWO_LAYERS[1])
    saturday = Cover("d", utc(2026, 1, 10, 10), utc(2026, 1, 10, 14))
    start, end = utc(2026, 1, 10), utc(2026, 1, 11)
    assert gaps(plan, [], start, end) == [(start, end)]
    assert gaps(plan, [saturday], start, end) == [
        (start, utc(2026, 1, 10, 10)),
        (utc(2026, 1, 10, 14), end),
    ]


def test_touching_pieces_of_the_same_person_are_joined() -> None:
    plan = schedule(
        {"rotation": "daily", "start": "2026-01-05", "members": ["solo"]},
        {
            "rotation": "daily",
            "start": "2026-01-05",
            "members": ["solo"],
            "restrict": [{"start": "09:00", "end": "17:00"}],
        },
    )
    start, end = utc(2026, 1, 6), utc(2026, 1, 9)
    (shift,) = final_shifts(plan, [], start, end)
    assert (shift.person, shift.start, shift.end) == ("solo", start, end)


def test_gaps_are_the_times_nobody_is_on_call() -> None:
    plan = schedule(TWO_LAYERS[1])
    start, end = utc(2026, 1, 5), utc(2026, 1, 6, 12)
    assert gaps(plan, [], start, end) == [
        (start, utc(2026, 1, 5, 9)),
        (utc(2026, 1, 5, 17), utc(2026, 1, 6, 9)),
    ]
    assert oncall_at(plan, [], utc(2026, 1, 5, 17)) == []  # the window's end is open
    assert oncall_at(plan, [], utc(2026, 1, 5, 16, 59)) == ["c"]


def test_now_and_next_tells_until_when_and_who_follows() -> None:
    plan = schedule(*TWO_LAYERS)
    state = now_and_next(plan, [], utc(2026, 1, 5, 10))
    assert (state.person, state.until, state.next_person, state.next_at) == (
        "c",
        utc(2026, 1, 5, 17),
        "a",
        utc(2026, 1, 5, 17),
    )
    gap = now_and_next(schedule(TWO_LAYERS[1]), [], utc(2026, 1, 10, 12))  # Saturday
    assert (gap.person, gap.until, gap.next_person, gap.next_at) == (
        None,
        None,
        "c",
        utc(2026, 1, 12, 9),
    )
    # The same person over an override and their own shift: until the end of both.
    cover = Cover("c", utc(2026, 1, 5, 7), utc(2026, 1, 5, 9))
    joined = now_and_next(plan, [cover], utc(2026, 1, 5, 8))
    assert (joined.person, joined.until) == ("c", utc(2026, 1, 5, 17))


def test_holidays_are_the_days_in_the_schedules_zone() -> None:
    plan = schedule(
        TWO_LAYERS[0],
        time_zone="Europe/Berlin",
        holidays=["2026-12-24", "2026-12-25", "2027-01-01"],
    )
    # Christmas Day in Berlin starts at 23:00 UTC on the 24th.
    assert holidays_in(plan, utc(2026, 12, 24, 23, 30), utc(2026, 12, 26)) == [date(2026, 12, 25)]
    assert holidays_in(plan, utc(2026, 12, 20), utc(2027, 1, 10)) == [
        date(2026, 12, 24),
        date(2026, 12, 25),
        date(2027, 1, 1),
    ]
    assert holidays_in(plan, utc(2026, 12, 1), utc(2026, 12, 23, 23)) == []


def test_naive_datetimes_are_refused() -> None:
    plan = schedule(TWO_LAYERS[0])
    with pytest.raises(ValueError, match="aware"):
        final_shifts(plan, [], datetime(2026, 1, 5), datetime(2026, 1, 6))


# -- daylight saving time --------------------------------------------------------------------

# (zone, the local date of the change, hours of the day's shift: 23 spring, 25 autumn)
DST_DAYS = [
    pytest.param(BERLIN, date(2026, 3, 29), 23, id="berlin-spring-forward"),
    pytest.param(BERLIN, date(2026, 10, 25), 25, id="berlin-fall-back"),
    pytest.param(NEW_YORK, date(2026, 3, 8), 23, id="new-york-spring-forward"),
    pytest.param(NEW_YORK, date(2026, 11, 1), 25, id="new-york-fall-back"),
]


@pytest.mark.parametrize(("tz", "change", "hours"), DST_DAYS)
def test_daily_handoff_stays_at_local_time_across_a_dst_change(
    tz: ZoneInfo, change: date, hours: int
) -> None:
    plan = schedule(
        {
            "rotation": "daily",
            "handoff": "09:00",
            "start": "2026-01-01",
            "members": ["a", "b", "c"],
        },
        time_zone=str(tz),
    )
    start = local_at(tz, change - 3 * DAY, 9)
    end = local_at(tz, change + 3 * DAY, 9)
    shifts = layer_shifts(plan, 0, start, end)
    assert_partition(shifts, start, end)
    assert len(shifts) == 6
    assert all(
        s.start.astimezone(tz).hour == 9 and s.start.astimezone(tz).minute == 0 for s in shifts
    )
    lengths = [s.length / H for s in shifts]
    # The shift from 09:00 the day before the change to 09:00 on the change day holds it.
    assert lengths == [24, 24, hours, 24, 24, 24]
    # The rotation goes on in order: one member per day, nobody skipped or repeated.
    persons = who(shifts)
    assert all(persons[i] != persons[i + 1] for i in range(5))
    assert persons[:3] == persons[3:]


@pytest.mark.parametrize(("tz", "change", "hours"), DST_DAYS)
def test_weekly_shift_over_a_dst_change_is_an_hour_shorter_or_longer(
    tz: ZoneInfo, change: date, hours: int
) -> None:
    monday = change - timedelta(days=change.weekday())
    plan = schedule(
        {"rotation": "weekly", "handoff": "09:00", "start": "2026-01-05", "members": ["a", "b"]},
        time_zone=str(tz),
    )
    start = local_at(tz, monday - 7 * DAY, 9)
    end = local_at(tz, monday + 14 * DAY, 9)
    shifts = layer_shifts(plan, 0, start, end)
    assert_partition(shifts, start, end)
    assert [s.length / H for s in shifts] == [168, 168 + hours - 24, 168]
    assert all(s.start.astimezone(tz).strftime("%a %H:%M") == "Mon 09:00" for s in shifts)


@pytest.mark.parametrize(("tz", "change", "hours"), DST_DAYS)
def test_custom_shifts_are_elapsed_time_so_the_local_handoff_moves(
    tz: ZoneInfo, change: date, hours: int
) -> None:
    plan = schedule(
        {
            "rotation": "custom",
            "shift_length": "12h",
            "handoff": "09:00",
            "start": str(change - timedelta(days=2)),
            "members": ["x", "y"],
        },
        time_zone=str(tz),
    )
    day_before = change - DAY
    start = local_at(tz, day_before, 9)
    end = start + 4 * DAY
    shifts = layer_shifts(plan, 0, start, end)
    assert_partition(shifts, start, end)
    assert all(s.length == 12 * H for s in shifts)
    local_hours = [s.start.astimezone(tz).hour for s in shifts]
    moved = 10 if hours == 23 else 8  # an hour later after spring-forward, earlier in autumn
    assert local_hours[:2] == [9, 21]
    assert local_hours[-2:] == [moved, moved + 12]


@pytest.mark.parametrize(("tz", "change", "hours"), DST_DAYS)
def test_office_hours_stay_office_hours_across_a_dst_change(
    tz: ZoneInfo, change: date, hours: int
) -> None:
    plan = schedule(
        {"rotation": "weekly", "start": "2026-01-05", "members": ["a", "b"]},
        {
            "rotation": "daily",
            "start": "2026-01-05",
            "members": ["c", "d"],
            "restrict": [
                {
                    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    "start": "09:00",
                    "end": "17:00",
                }
            ],
        },
        time_zone=str(tz),
    )
    start = local_at(tz, change - 2 * DAY, 0)
    end = local_at(tz, change + 2 * DAY, 0)
    shifts = final_shifts(plan, [], start, end)
    assert_partition(shifts, start, end)
    office = [s for s in shifts if s.layer == 1]
    assert len(office) == 4
    assert all(
        (s.start.astimezone(tz).hour, s.end.astimezone(tz).hour, s.length) == (9, 17, 8 * H)
        for s in office
    )
    assert gaps(plan, [], start, end) == []
    total = sum((s.length for s in shifts), timedelta())
    assert total == 4 * DAY + (hours - 24) * H


@pytest.mark.parametrize(
    ("tz", "day", "handoff"),
    [
        pytest.param(BERLIN, date(2026, 3, 29), "02:30", id="berlin-skipped-hour"),
        pytest.param(BERLIN, date(2026, 10, 25), "02:30", id="berlin-repeated-hour"),
        pytest.param(NEW_YORK, date(2026, 3, 8), "02:30", id="new-york-skipped-hour"),
        pytest.param(NEW_YORK, date(2026, 11, 1), "01:30", id="new-york-repeated-hour"),
    ],
)
def test_a_handoff_inside_the_changed_hour_still_tiles_the_days(
    tz: ZoneInfo, day: date, handoff: str
) -> None:
    plan = schedule(
        {
            "rotation": "daily",
            "handoff": handoff,
            "start": "2026-01-01",
            "members": ["a", "b", "c"],
        },
        time_zone=str(tz),
    )
    start = local_at(tz, day - 2 * DAY, 12)
    end = local_at(tz, day + 2 * DAY, 12)
    shifts = layer_shifts(plan, 0, start, end)
    assert_partition(shifts, start, end)
    assert len(shifts) == 5
    assert all(22 * H <= s.length <= 26 * H for s in shifts[1:-1])
    # The hand-off on that day is the first instant the wall clock shows (or passes) it.
    change = next(s for s in shifts if s.start.astimezone(tz).date() == day)
    assert change.start.astimezone(tz).strftime("%H:%M") in (handoff, "03:30")
