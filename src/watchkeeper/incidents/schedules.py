"""On-call schedules computed from the plan: who is on call when.

Pure computation over the ``oncall`` plan models; nothing here reads the store. Times in and
out are aware UTC datetimes; hand-offs and restrictions are wall-clock times in the
schedule's time zone, so across a DST change a daily shift lasts 23 h or 25 h and the
hand-off stays at the same local time. Custom shift lengths are real elapsed time counted
from the first hand-off.

Ranges are half-open: ``[start, end)``. Every function returns pieces cut to the range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from watchkeeper.incidents.oncall_config import WEEKDAYS, Layer, Restriction, Schedule, parse_hhmm

OVERRIDE_LAYER = -1
OVERRIDE_NAME = "Override"
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class Shift:
    """One person on call from ``start`` to ``end`` (UTC) for a layer or an override."""

    person: str
    start: datetime
    end: datetime
    layer: int
    layer_name: str
    override: bool

    @property
    def length(self) -> timedelta:
        return self.end - self.start


class OverrideLike(Protocol):
    """What an override must have (a store row or any object with these attributes)."""

    @property
    def person(self) -> str: ...

    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime: ...


@dataclass(frozen=True)
class OnCallNow:
    """Who is on call at a moment, until when, and who comes next.

    ``until`` / ``next_at`` are None when they lie beyond the horizon looked at."""

    person: str | None
    until: datetime | None
    next_person: str | None
    next_at: datetime | None


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def layer_name(schedule: Schedule, index: int) -> str:
    """The layer's name, or "Layer N" (1-based) when it has none."""
    return schedule.layers[index].name or f"Layer {index + 1}"


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """``day`` at ``minutes`` past midnight (1440 = the next midnight) in ``tz``, as UTC.

    A time skipped by a DST change counts with the offset before it (02:30 on a
    spring-forward day is 03:30 summer time); a repeated one is its first occurrence."""
    if minutes >= 1440:
        day, minutes = day + _DAY, minutes - 1440
    wall = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz)
    return wall.astimezone(UTC)


def _minutes(value: str) -> int:
    if value == "24:00":
        return 1440
    parsed = parse_hhmm(value)
    return parsed.hour * 60 + parsed.minute


class _Rotation:
    """The hand-off times of one layer: hand-off ``k`` starts shift ``k`` (k >= 0)."""

    def __init__(self, layer: Layer, tz: ZoneInfo) -> None:
        self.layer = layer
        self.tz = tz
        self.handoff = _minutes(layer.handoff)
        self.first = _local(layer.start, self.handoff, tz)
        if layer.rotation == "weekly":
            ahead = (WEEKDAYS.index(layer.handoff_day) - layer.start.weekday()) % 7 or 7
            self.second_day = layer.start + timedelta(days=ahead)
        if layer.rotation == "custom":
            assert layer.shift_length is not None
            self.length = layer.shift_length
        else:
            self.length = _WEEK if layer.rotation == "weekly" else _DAY

    def handoff_at(self, k: int) -> datetime:
        """The ``k``-th hand-off (0: the first shift's start)."""
        rotation = self.layer.rotation
        if rotation == "custom":
            return self.first + k * self.length
        if rotation == "daily":
            return _local(self.layer.start + timedelta(days=k), self.handoff, self.tz)
        # weekly: the first shift runs until the first hand-off day after the start date
        if k == 0:
            return self.first
        return _local(self.second_day + timedelta(days=7 * (k - 1)), self.handoff, self.tz)

    def index_at(self, moment: datetime) -> int:
        """The shift running at ``moment`` (0 before the first hand-off)."""
        k = max(0, int((moment - self.first) / self.length))
        while k > 0 and self.handoff_at(k) > moment:
            k -= 1
        while self.handoff_at(k + 1) <= moment:
            k += 1
        return k


def _windows(
    restrictions: Sequence[Restriction], tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` the restrictions cover, merged and sorted.

    A window whose end is not after its start runs over midnight into the next day; it
    belongs to the day it starts on."""
    found: list[tuple[datetime, datetime]] = []
    day = start.astimezone(tz).date() - _DAY
    last = end.astimezone(tz).date()
    parsed = [(set(r.days), _minutes(r.start), _minutes(r.end)) for r in restrictions]
    while day <= last:
        weekday = WEEKDAYS[day.weekday()]
        for days, begin, finish in parsed:
            if weekday not in days:
                continue
            lo = _local(day, begin, tz)
            hi = _local(day, finish if finish > begin else finish + 1440, tz)
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi:
                found.append((lo, hi))
        day += _DAY
    return _union(found)


def _piece(shift: Shift, start: datetime, end: datetime) -> Shift:
    # The constructor, not dataclasses.replace: several times faster on this hot path.
    return Shift(shift.person, start, end, shift.layer, shift.layer_name, shift.override)


def _union(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _cut(shifts: list[Shift], windows: list[tuple[datetime, datetime]]) -> list[Shift]:
    """Keep the parts of ``shifts`` inside ``windows`` (both sorted, not overlapping)."""
    out: list[Shift] = []
    j = 0
    for shift in shifts:
        while j < len(windows) and windows[j][1] <= shift.start:
            j += 1
        i = j
        while i < len(windows) and windows[i][0] < shift.end:
            lo, hi = max(shift.start, windows[i][0]), min(shift.end, windows[i][1])
            if lo < hi:
                out.append(_piece(shift, lo, hi))
            i += 1
    return out


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("give aware datetimes (UTC)")


def layer_shifts(
    schedule: Schedule, layer_index: int, start: datetime, end: datetime
) -> list[Shift]:
    """Return the shifts of layer ``layer_index`` within ``[start, end)``, cut to the range
    and to the layer's restrictions, in time order; raise IndexError for no such layer."""
    _check_range(start, end)
    layer = schedule.layers[layer_index]
    tz = zone(schedule.time_zone)
    rotation = _Rotation(layer, tz)
    begin = max(start, rotation.first)
    if end <= begin:
        return []
    name = layer_name(schedule, layer_index)
    members = layer.members
    shifts: list[Shift] = []
    k = rotation.index_at(begin)
    lo = rotation.handoff_at(k)
    while lo < end:
        hi = rotation.handoff_at(k + 1)
        piece_lo, piece_hi = max(lo, start), min(hi, end)
        if piece_lo < piece_hi:
            shifts.append(
                Shift(members[k % len(members)], piece_lo, piece_hi, layer_index, name, False)
            )
        k, lo = k + 1, hi
    if layer.restrict:
        shifts = _cut(shifts, _windows(layer.restrict, tz, start, end))
    return shifts


def _subtract(base: list[Shift], top: list[Shift]) -> list[Shift]:
    """The parts of ``base`` not covered by ``top`` (both sorted, each not overlapping)."""
    out: list[Shift] = []
    j = 0
    for piece in base:
        while j < len(top) and top[j].end <= piece.start:
            j += 1
        at = piece.start
        i = j
        while i < len(top) and top[i].start < piece.end:
            if top[i].start > at:
                out.append(_piece(piece, at, top[i].start))
            at = max(at, top[i].end)
            i += 1
        if at < piece.end:
            out.append(_piece(piece, at, piece.end))
    return out


def _over(base: list[Shift], top: list[Shift]) -> list[Shift]:
    """``top`` laid over ``base``: top wins where it has someone."""
    if not top:
        return base
    return sorted(_subtract(base, top) + top, key=lambda s: s.start)


def _merge(shifts: list[Shift]) -> list[Shift]:
    """Join touching pieces of the same person (and the same override flag)."""
    out: list[Shift] = []
    for shift in shifts:
        last = out[-1] if out else None
        if (
            last is not None
            and last.end == shift.start
            and last.person == shift.person
            and last.override == shift.override
        ):
            out[-1] = _piece(last, last.start, shift.end)
        else:
            out.append(shift)
    return out


def final_shifts(
    schedule: Schedule, overrides: Sequence[OverrideLike], start: datetime, end: datetime
) -> list[Shift]:
    """Return who is on call within ``[start, end)``: the layers merged (a later layer wins
    where it has someone), then ``overrides`` on top (a later one in the list wins where they
    overlap); touching pieces of the same person are joined. Overrides carry
    ``layer == OVERRIDE_LAYER`` and ``override=True``."""
    _check_range(start, end)
    result: list[Shift] = []
    for index in range(len(schedule.layers)):
        result = _over(result, layer_shifts(schedule, index, start, end))
    covers: list[Shift] = []  # the overrides among themselves first: a short list
    for item in overrides:
        lo, hi = max(item.starts_at, start), min(item.ends_at, end)
        if lo < hi:
            covers = _over(
                covers, [Shift(item.person, lo, hi, OVERRIDE_LAYER, OVERRIDE_NAME, True)]
            )
    return _merge(_over(result, covers))


def gaps_of(
    shifts: Sequence[Shift], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` that ``shifts`` (sorted, not overlapping) leave open."""
    out: list[tuple[datetime, datetime]] = []
    at = start
    for shift in shifts:
        if shift.start > at:
            out.append((at, min(shift.start, end)))
        at = max(at, shift.end)
    if at < end:
        out.append((at, end))
    return out


def gaps(
    schedule: Schedule, overrides: Sequence[OverrideLike], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Return the times within ``[start, end)`` when nobody is on call."""
    return gaps_of(final_shifts(schedule, overrides, start, end), start, end)


def oncall_at(schedule: Schedule, overrides: Sequence[OverrideLike], at: datetime) -> list[str]:
    """Return who is on call at ``at``: one name, or an empty list in a gap."""
    return [s.person for s in final_shifts(schedule, overrides, at, at + _INSTANT)]


def now_and_next(
    schedule: Schedule,
    overrides: Sequence[OverrideLike],
    at: datetime,
    horizon: timedelta = timedelta(days=93),
) -> OnCallNow:
    """Return who is on call at ``at``, until when (across touching pieces of the same
    person), and who is on call next, looking at most ``horizon`` ahead."""
    current: str | None = None
    shifts: list[Shift] = []
    upcoming: list[Shift] = []
    end = at
    for ahead in (min(timedelta(days=9), horizon), horizon):  # most rotations hand off weekly
        end = at + ahead
        shifts = final_shifts(schedule, overrides, at, end)
        current = shifts[0].person if shifts and shifts[0].start == at else None
        upcoming = [s for s in shifts if s.person != current]
        if upcoming:
            break
    until: datetime | None = None
    if current is not None:
        until = at
        for shift in shifts:
            if shift.start != until or shift.person != current:
                break
            until = shift.end
        if until >= end:
            until = None
    nxt = upcoming[0] if upcoming else None
    return OnCallNow(current, until, nxt.person if nxt else None, nxt.start if nxt else None)


def holidays_in(schedule: Schedule, start: datetime, end: datetime) -> list[date]:
    """Return the schedule's holidays whose day (in its time zone) overlaps ``[start, end)``."""
    _check_range(start, end)
    tz = zone(schedule.time_zone)
    return sorted(
        day
        for day in set(schedule.holidays)
        if _local(day, 0, tz) < end and _local(day, 1440, tz) > start
    )
