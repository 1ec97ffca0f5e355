"""Recurrence: cron and RRULE read in the task's time zone, across month ends, daylight
saving changes and leap years; a recurrence that cannot be read is a plan error with its
line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.tasks.recurrence import Recurrence


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_31st_only_in_months_that_have_one() -> None:
    rec = Recurrence("0 9 31 * *", None)
    assert rec.between(utc(2026, 1, 1), utc(2026, 8, 1)) == [
        utc(2026, 1, 31, 9),
        utc(2026, 3, 31, 9),
        utc(2026, 5, 31, 9),
        utc(2026, 7, 31, 9),
    ]


def test_last_day_of_every_month_with_rrule() -> None:
    rec = Recurrence(None, "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18")
    days = [d.date().isoformat() for d in rec.between(utc(2027, 12, 1), utc(2028, 4, 30, 23))]
    assert days == ["2027-12-31", "2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]


def test_local_time_is_kept_across_dst_in_paris() -> None:
    rec = Recurrence("0 9 * * *", None, "Europe/Paris")
    spring = rec.between(utc(2026, 3, 27), utc(2026, 3, 31))
    assert [d.hour for d in spring] == [8, 8, 7, 7]  # 09:00 CET, then 09:00 CEST
    autumn = rec.between(utc(2026, 10, 23), utc(2026, 10, 27))
    assert [d.hour for d in autumn] == [7, 7, 8, 8]


def test_a_skipped_hour_moves_forward_and_a_repeated_one_counts_once() -> None:
    rec = Recurrence("30 2 * * *", None, "Europe/Paris")
    spring = rec.between(utc(2026, 3, 28, 12), utc(2026, 3, 30, 12))
    # 2026-03-29 02:30 does not exist in Paris: 03:30 CEST (01:30 UTC)
    assert spring == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    autumn = rec.between(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert autumn == [utc(2026, 10, 25, 0, 30)]  # 02:30 CEST, the first of the two


def test_february_29_yearly_falls_only_in_leap_years() -> None:
    rec = Recurrence(None, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=10")
    assert rec.between(utc(2025, 1, 1), utc(2033, 1, 1)) == [
        utc(2028, 2, 29, 10),
        utc(2032, 2, 29, 10),
    ]
    assert rec.next_after(utc(2028, 2, 29, 10)) == utc(2032, 2, 29, 10)


def test_first_monday_of_each_quarter_in_local_time() -> None:
    rec = Recurrence(None, "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1MO;BYHOUR=9", "Europe/Paris")
    assert rec.between(utc(2026, 1, 1), utc(2027, 1, 1)) == [
        utc(2026, 1, 5, 8),
        utc(2026, 4, 6, 7),
        utc(2026, 7, 6, 7),
        utc(2026, 10, 5, 7),
    ]


def test_start_bounds_and_anchors_the_rule() -> None:
    rec = Recurrence(None, "FREQ=WEEKLY;INTERVAL=2", "UTC", datetime(2026, 3, 4, 9, 30))
    assert rec.between(utc(2026, 1, 1), utc(2026, 4, 1)) == [
        utc(2026, 3, 4, 9, 30),
        utc(2026, 3, 18, 9, 30),
    ]


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            'cron: "0 0 31 2 *"',
            "watchkeeper.yaml:3:7 tasks.tasks[0]: cron: the cron expression never fires",
        ),
        ("rrule: FREQ=SOMETIMES", "watchkeeper.yaml:3:7 tasks.tasks[0]: rrule: not an RRULE"),
        (
            'cron: "0 9 * * *"\n      rrule: FREQ=DAILY',
            "watchkeeper.yaml:3:7 tasks.tasks[0]: give either `cron` or `rrule`",
        ),
    ],
)
def test_bad_recurrence_is_a_plan_error_with_its_line(task: str, message: str) -> None:
    text = f"tasks:\n  tasks:\n    - name: t\n      title: T\n      {task}\n"
    with pytest.raises(PlanInvalid) as caught:
        load_plan_text(text, env={})
    assert any(m.startswith(message) for m in map(str, caught.value.problems)), str(caught.value)


def test_unknown_reminder_channel_and_schedule_are_plan_errors() -> None:
    text = (
        "tasks:\n  tasks:\n    - name: t\n      title: T\n      cron: '0 9 * * 1'\n"
        "      owner: oncall:primary\n      channels: [mail]\n"
    )
    with pytest.raises(PlanInvalid) as caught:
        load_plan_text(text, env={})
    assert [str(p) for p in caught.value.problems] == [
        'watchkeeper.yaml:6:14 tasks.tasks[0].owner: no on-call schedule is named "primary"',
        'watchkeeper.yaml:7:18 tasks.tasks[0].channels[0]: no notification channel is named "mail"',
    ]
