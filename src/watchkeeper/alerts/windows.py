"""Recurring maintenance windows: is a window open at a given moment?"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from watchkeeper.alerts.config import MaintenanceWindow, WeeklyRange

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock(text: str) -> time | None:
    """``HH:MM`` as a time; ``24:00`` is None (the end of the day)."""
    hours, minutes = (int(p) for p in text.split(":"))
    return None if hours == 24 else time(hours, minutes)


def _in_weekly(rng: WeeklyRange, local: datetime) -> bool:
    start, end = _clock(rng.start), _clock(rng.end)
    now = local.time().replace(tzinfo=None)
    today = _DAYS[local.weekday()]
    yesterday = _DAYS[(local.weekday() - 1) % 7]
    if start is None:
        return False
    if end is None or end > start:  # the same day
        return today in rng.days and now >= start and (end is None or now < end)
    # past midnight: from start on a listed day to end on the next day
    return (today in rng.days and now >= start) or (yesterday in rng.days and now < end)


def is_open(window: MaintenanceWindow, at: datetime) -> bool:
    """True when ``window`` is open at ``at`` (an aware datetime)."""
    local = at.astimezone(ZoneInfo(window.timezone))
    if window.cron is not None and window.duration is not None:
        # the latest start at or before ``at`` (a start exactly now counts)
        started = croniter(window.cron, local + timedelta(seconds=1)).get_prev(datetime)
        return bool(started <= local < started + window.duration)
    return any(_in_weekly(rng, local) for rng in window.weekly)


def next_change(window: MaintenanceWindow, at: datetime, horizon: timedelta) -> datetime | None:
    """The next moment within ``horizon`` at which ``window`` opens or closes (minute
    resolution), for display; None when it does not change."""
    state = is_open(window, at)
    moment = at.replace(second=0, microsecond=0)
    end = at + horizon
    while moment < end:
        moment += timedelta(minutes=1)
        if is_open(window, moment) != state:
            return moment
    return None


def occurrences(
    window: MaintenanceWindow, start: datetime, end: datetime, limit: int = 2000
) -> list[tuple[datetime, datetime]]:
    """The openings of ``window`` that overlap ``[start, end)`` as (opens, closes) in UTC,
    in order, at most ``limit`` (calendars). Weekly ranges past midnight close the next day;
    ``24:00`` closes at midnight."""
    utc = ZoneInfo("UTC")
    zone = ZoneInfo(window.timezone)
    found: list[tuple[datetime, datetime]] = []
    if window.cron is not None and window.duration is not None:
        local = (start - window.duration).astimezone(zone)
        times = croniter(window.cron, local)
        while len(found) < limit:
            opens = times.get_next(datetime).astimezone(utc)
            if opens >= end:
                break
            closes = opens + window.duration
            if closes > start:
                found.append((opens, closes))
        return found
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last and len(found) < limit:
        for rng in window.weekly:
            if _DAYS[day.weekday()] not in rng.days:
                continue
            begin, finish = _clock(rng.start), _clock(rng.end)
            if begin is None:
                continue
            opens = datetime.combine(day, begin, zone)
            if finish is None or finish <= begin:  # to midnight, or past it
                closes = datetime.combine(day + timedelta(days=1), finish or time(0), zone)
            else:
                closes = datetime.combine(day, finish, zone)
            if opens < end and closes > start:
                found.append((opens.astimezone(utc), closes.astimezone(utc)))
        day += timedelta(days=1)
    found.sort()
    return found[:limit]
