"""Every and Cron schedules: next run times, strictly after the given moment, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from watchkeeper.exceptions import ValidationFailed
from watchkeeper.runtime.schedules import Cron, Every


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- Every ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "moment", "expected"),
    [
        (timedelta(minutes=5), at(2024, 5, 1, 12, 3, 10), at(2024, 5, 1, 12, 5)),
        (timedelta(minutes=5), at(2024, 5, 1, 12, 4, 59, 999999), at(2024, 5, 1, 12, 5)),
        (timedelta(hours=1), at(2024, 5, 1, 23, 30), at(2024, 5, 2, 0, 0)),
        (timedelta(seconds=30), at(2024, 5, 1, 12, 0, 0, 1), at(2024, 5, 1, 12, 0, 30)),
        (timedelta(days=1), at(2024, 12, 31, 18), at(2025, 1, 1)),
    ],
)
def test_every_returns_the_next_epoch_aligned_time(
    period: timedelta, moment: datetime, expected: datetime
) -> None:
    assert Every(period).next_after(moment) == expected


@pytest.mark.parametrize(
    ("period", "moment", "expected"),
    [
        (timedelta(minutes=5), at(2024, 5, 1, 12, 5), at(2024, 5, 1, 12, 10)),
        (timedelta(hours=1), at(2024, 5, 1, 0, 0), at(2024, 5, 1, 1, 0)),
        (timedelta(seconds=1), at(2024, 5, 1, 0, 0, 7), at(2024, 5, 1, 0, 0, 8)),
    ],
)
def test_every_on_a_boundary_is_strictly_after_it(
    period: timedelta, moment: datetime, expected: datetime
) -> None:
    assert Every(period).next_after(moment) == expected


def test_every_aligns_to_the_epoch_not_to_the_moment_it_is_asked() -> None:
    # 7 s does not divide a minute: alignment is to multiples of 7 s since 1970-01-01.
    every = Every(timedelta(seconds=7))
    for moment in (at(2024, 5, 1, 12, 0, 0), at(2024, 5, 1, 12, 0, 3, 250000)):
        nxt = every.next_after(moment)
        assert nxt > moment
        assert nxt - moment <= timedelta(seconds=7)
        assert nxt.timestamp() % 7 == 0


def test_every_gives_the_same_times_to_every_replica() -> None:
    # Two replicas asking at slightly different moments within one period agree.
    every = Every(timedelta(minutes=1))
    assert every.next_after(at(2024, 5, 1, 12, 0, 1)) == every.next_after(at(2024, 5, 1, 12, 0, 59))


def test_every_chained_times_are_strictly_increasing_and_one_period_apart() -> None:
    every = Every(timedelta(seconds=90))
    moment = at(2024, 5, 1, 12, 0, 17)
    times = []
    for _ in range(5):
        moment = every.next_after(moment)
        times.append(moment)
    assert all(b - a == timedelta(seconds=90) for a, b in zip(times, times[1:], strict=False))


def test_every_keeps_the_timezone_of_the_moment() -> None:
    nxt = Every(timedelta(hours=1)).next_after(at(2024, 5, 1, 12, 30))
    assert nxt.tzinfo is not None and nxt.utcoffset() == timedelta(0)


@pytest.mark.parametrize("period", [timedelta(0), timedelta(seconds=-5)])
def test_every_rejects_a_period_that_is_not_positive(period: timedelta) -> None:
    with pytest.raises(ValidationFailed) as info:
        Every(period)
    assert info.value.errors == [("period", "must be positive")]


@pytest.mark.parametrize("seconds", [0.3, 0.6, 0.7, 2.3])
def test_every_subsecond_period_on_a_boundary_is_strictly_after_it(seconds: float) -> None:
    moment = datetime.fromtimestamp(seconds, UTC)
    assert Every(timedelta(milliseconds=100)).next_after(moment) > moment


# -- Cron -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "moment", "expected"),
    [
        ("0 12 * * *", at(2024, 1, 1, 9, 0), at(2024, 1, 1, 12, 0)),
        ("0 12 * * *", at(2024, 1, 1, 12, 0), at(2024, 1, 2, 12, 0)),  # strictly after
        ("0 12 * * *", at(2024, 1, 1, 12, 0, 0, 500000), at(2024, 1, 2, 12, 0)),
        ("*/15 * * * *", at(2024, 1, 1, 10, 7), at(2024, 1, 1, 10, 15)),
        ("*/15 * * * *", at(2024, 1, 1, 10, 45), at(2024, 1, 1, 11, 0)),
        ("30 2 * * 1", at(2024, 1, 3, 0, 0), at(2024, 1, 8, 2, 30)),  # next Monday
        ("0 0 1 * *", at(2024, 1, 31, 23, 59), at(2024, 2, 1, 0, 0)),
        ("0 0 29 2 *", at(2024, 3, 1), at(2028, 2, 29)),  # leap day
        ("@daily", at(2024, 1, 1, 0, 0), at(2024, 1, 2, 0, 0)),
        ("*/15 * * * * 30", at(2024, 1, 1, 12, 0), at(2024, 1, 1, 12, 0, 30)),  # 6th = seconds
    ],
)
def test_cron_next_time_in_utc(expression: str, moment: datetime, expected: datetime) -> None:
    nxt = Cron(expression).next_after(moment)
    assert nxt == expected
    assert nxt.utcoffset() == timedelta(0)


def test_cron_chained_times_are_strictly_increasing() -> None:
    cron = Cron("0 */6 * * *")
    moment = at(2024, 1, 1, 0, 0)
    seen = []
    for _ in range(4):
        moment = cron.next_after(moment)
        seen.append(moment)
    assert seen == [at(2024, 1, 1, h) for h in (6, 12, 18)] + [at(2024, 1, 2, 0)]


@pytest.mark.parametrize(
    "expression", ["", "not a cron", "* * *", "61 * * * *", "* 25 * * *", "* * * * * 99"]
)
def test_invalid_cron_raises_validation_failed_naming_the_expression(expression: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        Cron(expression)
    assert len(info.value.errors) == 1
    location, message = info.value.errors[0]
    assert location == "cron"
    assert f'"{expression}" is not a cron expression' in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_schedules_describe_themselves() -> None:
    assert str(Every(timedelta(minutes=5))) == "every 0:05:00"
    assert str(Cron("*/5 * * * *")) == "cron */5 * * * *"


def test_cron_that_can_never_fire_is_rejected_up_front() -> None:
    with pytest.raises(ValidationFailed):
        Cron("0 0 31 2 *")  # 31 February


def test_cron_is_evaluated_in_utc_whatever_the_moments_timezone() -> None:
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2024, 1, 1, 9, 0, tzinfo=plus_two)  # 07:00 UTC
    assert Cron("0 12 * * *").next_after(moment) == at(2024, 1, 1, 12, 0)
