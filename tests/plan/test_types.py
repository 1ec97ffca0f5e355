"""Plan value types: durations (parse and format) and object names."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from watchkeeper.plan.types import Duration, Name, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("500ms", timedelta(milliseconds=500)),
        ("1m500ms", timedelta(minutes=1, milliseconds=500)),
        ("1.5s", timedelta(seconds=1.5)),
        ("0.5h", timedelta(minutes=30)),
        ("0s", timedelta(0)),
        ("  30s  ", timedelta(seconds=30)),
    ],
)
def test_duration_text_parses_to_timedelta(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (0, timedelta(0)),
        (45, timedelta(seconds=45)),
        (0.25, timedelta(milliseconds=250)),
        (3600, timedelta(hours=1)),
    ],
)
def test_duration_number_is_seconds(number: float, expected: timedelta) -> None:
    assert parse_duration(number) == expected


def test_duration_timedelta_passes_through() -> None:
    value = timedelta(minutes=3)
    assert parse_duration(value) is value


@pytest.mark.parametrize(
    "value",
    [
        "5x",
        "",
        "   ",
        "-1s",
        "1.5.3m",
        "30",
        "s",
        "1h 30m",
        "30 s",
        "30S",
        "1h30",
        "h1",
        "30s!",
        -1,
        -0.5,
        float("nan"),
        True,
        False,
        None,
        [30],
        {"s": 30},
    ],
    ids=repr,
)
def test_duration_rejects_malformed_input(value: Any) -> None:
    with pytest.raises(PydanticCustomError) as info:
        parse_duration(value)
    assert info.value.type == "duration"
    assert "is not a duration (use 30s, 5m, 2h)" in info.value.message()


def test_duration_error_names_the_bad_input() -> None:
    with pytest.raises(PydanticCustomError) as info:
        parse_duration("5x")
    assert info.value.message() == '"5x" is not a duration (use 30s, 5m, 2h)'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=2), "2h"),
        (timedelta(days=7), "7d"),
        (timedelta(weeks=2), "14d"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(seconds=1, milliseconds=5), "1s5ms"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5), "1d2h3m4s5ms"),
    ],
)
def test_format_duration_gives_shortest_spelling(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        timedelta(0),
        timedelta(milliseconds=1),
        timedelta(milliseconds=999),
        timedelta(seconds=59),
        timedelta(seconds=61),
        timedelta(hours=23, minutes=59, seconds=59, milliseconds=999),
        timedelta(days=400, seconds=1),
    ],
    ids=str,
)
def test_format_duration_round_trips_through_parse(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("60s", "1m"), ("90m", "1h30m"), ("1w", "7d"), ("1500ms", "1s500ms"), ("0.5h", "30m")],
)
def test_parse_then_format_gives_canonical_spelling(text: str, canonical: str) -> None:
    assert format_duration(parse_duration(text)) == canonical


def test_duration_type_validates_and_serialises_as_text() -> None:
    adapter = TypeAdapter(Duration)
    value = adapter.validate_python("1h30m")
    assert value == timedelta(hours=1, minutes=30)
    assert adapter.dump_python(value, mode="json") == "1h30m"
    with pytest.raises(ValidationError, match="is not a duration"):
        adapter.validate_python("5x")


@pytest.mark.parametrize("value", [float("inf"), 1e20, "99999999999999d"], ids=repr)
def test_duration_rejects_values_too_large_for_timedelta(value: Any) -> None:
    with pytest.raises(PydanticCustomError):
        parse_duration(value)


@pytest.mark.parametrize(
    "name", ["a", "web-1", "db_primary", "v1.2", "0day", "A" * 128, "Shop.Front_end-2"]
)
def test_valid_names_are_accepted(name: str) -> None:
    assert TypeAdapter(Name).validate_python(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-lead", "_lead", ".hidden", "with space", "slash/name", "ümlaut", "a" * 129, "a:b"],
)
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match="is not a valid name"):
        TypeAdapter(Name).validate_python(name)


def test_name_with_trailing_newline_is_rejected() -> None:
    with pytest.raises(ValidationError, match="is not a valid name"):
        TypeAdapter(Name).validate_python("web\n")
