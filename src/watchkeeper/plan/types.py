"""Value types the plan file uses: durations and object names."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from watchkeeper.plan.sealing import mark_secret

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
MAX_DURATION_SECONDS = 100 * 365 * 86400
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def parse_duration(value: Any) -> timedelta:
    """Return a timedelta for ``30s``, ``5m``, ``2h``, ``7d``, ``1h30m`` or a number of seconds.

    Raise a pydantic ``duration`` error naming the bad input otherwise.
    """
    if isinstance(value, timedelta):
        return value
    total: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        total = float(value)
    elif isinstance(value, str) and value.strip():
        text, pos, total = value.strip(), 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text):
            total = None
    shown = str(value).lower() if isinstance(value, bool) else value
    if total is None or total != total:  # not parsed, or NaN
        raise PydanticCustomError(
            "duration", '"{value}" is not a duration (use 30s, 5m, 2h)', {"value": shown}
        )
    if total > MAX_DURATION_SECONDS:
        raise PydanticCustomError(
            "duration", '"{value}" is too long (at most 100 years)', {"value": shown}
        )
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """Return the shortest plan spelling of ``value`` (``90s`` -> ``1m30s``)."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            out += f"{count}{unit}"
    return out


def _check_name(value: Any) -> Any:
    if isinstance(value, str) and not _NAME.fullmatch(value):
        raise PydanticCustomError(
            "name",
            '"{value}" is not a valid name (letters, digits, "-", "_", "."; '
            "starting with a letter or digit; at most 128 characters)",
            {"value": value},
        )
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"}),
]
"""A duration written as ``30s``, ``5m``, ``2h``, ``7d`` (or combined: ``1h30m``)."""

Name = Annotated[str, BeforeValidator(_check_name)]
"""An object name, unique within its section."""


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "regex",
            '"{value}" is not a valid regular expression ({reason})',
            {"value": value, "reason": str(exc)},
        ) from None
    return value


Regex = Annotated[str, AfterValidator(_check_regex)]
"""A Python regular expression, checked when the plan is loaded."""


def _check_cron(value: str) -> str:
    try:
        croniter(value).get_next(datetime)
    except CroniterBadDateError:  # "0 0 31 2 *" parses but never fires
        raise PydanticCustomError("cron", "never fires") from None
    except (CroniterBadCronError, ValueError) as exc:
        raise PydanticCustomError(
            "cron", "not a cron expression: {reason}", {"reason": str(exc).rstrip(".")}
        ) from None
    return value


Cron = Annotated[str, AfterValidator(_check_cron)]


def last_fire(expression: str, now: datetime) -> datetime:
    """The latest time before ``now`` at which the cron ``expression`` fired (UTC)."""
    prev: datetime = croniter(expression, now).get_prev(datetime)
    return prev


"""A cron expression (five fields) that fires at some time, checked when the plan is loaded."""


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "not a time zone (use a name such as UTC or Europe/Berlin)"
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(_check_zone)]
"""An IANA time zone name such as ``Europe/Berlin``."""


def _size(value: object) -> object:
    if isinstance(value, str):
        from watchkeeper.agent.config import parse_size

        try:
            return parse_size(value)
        except ValueError:
            raise ValueError(f'"{value}" is not a size (use 500MB, 10GB, 1GiB)') from None
    return value


Size = Annotated[int, BeforeValidator(_size), Field(ge=0)]
"""Bytes, written as a number or with a unit: ``500MB``, ``10GB``, ``1GiB``."""


def _digits_as_text(value: object) -> object:
    # YAML reads an unquoted 12345678 as a number; a secret must not fail validation (whose
    # messages quote the input) merely for being all digits.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Secret = Annotated[str, BeforeValidator(_digits_as_text), AfterValidator(mark_secret)]
"""A password or token: plain text in the plan, never shown in messages, sealed at rest
(:mod:`watchkeeper.plan.sealing`)."""
