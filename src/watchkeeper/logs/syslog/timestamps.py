"""Syslog timestamps to nanoseconds, fast: the same second repeats on thousands of lines, so
the expensive part (calendar arithmetic, the year of an RFC 3164 stamp) runs once per
distinct second and the rest is a dictionary lookup.

RFC 3164 stamps (``Oct 11 22:14:15``) carry no year and no zone: they are read as UTC and
given the year that puts them between 334 days before and 31 days after the receive time,
so a December line received in January is last year's and a sender whose clock is a little
ahead on New Year's Eve stays in the new year.
"""

from __future__ import annotations

from datetime import UTC, datetime

NS = 1_000_000_000
DAY_NS = 86_400 * NS
FUTURE_NS = 31 * DAY_NS
PAST_NS = 334 * DAY_NS
CACHE_ENTRIES = 10_000
CACHE_LIFETIME_NS = 600 * NS  # year inference moves with the clock: forget now and then

MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
# A fraction of 1 to 9 digits times this is nanoseconds.
FRACTION_SCALE: list[int] = [10 ** (9 - n) for n in range(10)]
INVALID = -1  # cached for stamps that are not a real time (``Feb 30``)


def fraction_ns(digits: str | None) -> int:
    """Return the nanoseconds of a fraction's digits (``"003"`` -> 3,000,000); digits past
    the ninth are ignored."""
    if not digits:
        return 0
    digits = digits[:9]
    return int(digits) * FRACTION_SCALE[len(digits)]


class TimestampCache:
    """Convert syslog timestamps to ns since the epoch, caching per distinct second."""

    def __init__(self) -> None:
        self._bsd: dict[str, int] = {}
        self._iso: dict[str, int] = {}
        self._offsets: dict[str, int] = {"Z": 0, "z": 0}
        self._bsd_since = 0

    def bsd(self, stamp: str, received: int) -> int | None:
        """Return ``Mmm dd hh:mm:ss`` (day space-padded or not) as ns, UTC, with its year
        inferred from ``received``; None if it is not a real date."""
        if abs(received - self._bsd_since) > CACHE_LIFETIME_NS or len(self._bsd) > CACHE_ENTRIES:
            self._bsd.clear()
            self._bsd_since = received
        value = self._bsd.get(stamp)
        if value is None:
            value = _bsd_ns(stamp, received)
            self._bsd[stamp] = value
        return None if value == INVALID else value

    def iso(self, date_time: str, fraction: str | None, offset: str | None) -> int | None:
        """Return ``YYYY-MM-DDThh:mm:ss`` plus fraction digits and a ``Z``/``±hh:mm`` offset
        (none: UTC) as ns; None if it is not a real time."""
        seconds = self._iso.get(date_time)
        if seconds is None:
            if len(self._iso) > CACHE_ENTRIES:
                self._iso.clear()
            seconds = _iso_seconds(date_time)
            self._iso[date_time] = seconds
        if seconds == INVALID:
            return None
        if offset:
            shift = self._offsets.get(offset)
            if shift is None:
                shift = _offset_seconds(offset)
                if len(self._offsets) < 1000:
                    self._offsets[offset] = shift
            seconds -= shift
        return seconds * NS + fraction_ns(fraction)


def _bsd_ns(stamp: str, received: int) -> int:
    try:
        month_name, day_s, clock = stamp.split()
        hour, minute, second = clock.split(":")
        parts = (MONTHS[month_name], int(day_s), int(hour), int(minute), int(second))
    except (KeyError, ValueError):
        return INVALID
    year = datetime.fromtimestamp(received / NS, UTC).year
    best = INVALID
    for candidate_year in (year, year - 1, year + 1):
        value = _civil_ns(candidate_year, *parts)
        if value == INVALID:
            continue  # Feb 29 outside a leap year
        if received - PAST_NS <= value <= received + FUTURE_NS:
            return value
        if best == INVALID:
            best = value
    return best


def _civil_ns(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except ValueError:
        return INVALID
    return int(moment.timestamp()) * NS


def _iso_seconds(date_time: str) -> int:
    try:
        moment = datetime(
            int(date_time[0:4]),
            int(date_time[5:7]),
            int(date_time[8:10]),
            int(date_time[11:13]),
            int(date_time[14:16]),
            min(int(date_time[17:19]), 59),  # a leap second is read as :59
            tzinfo=UTC,
        )
    except ValueError:
        return INVALID
    return int(moment.timestamp())


def _offset_seconds(offset: str) -> int:
    if offset in ("Z", "z"):
        return 0
    digits = offset[1:].replace(":", "")
    try:
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    except ValueError:
        return 0
    shift = hours * 3600 + minutes * 60
    return -shift if offset[0] == "-" else shift
