"""When a recurring task falls due: a cron expression or an RFC 5545 RRULE, read in the
task's own time zone.

Occurrences are computed in local wall-clock time and only then turned into UTC, so "every
Monday at 09:00 Europe/Paris" stays at 09:00 across the change to and from summer time. A
local time that does not exist (the hour skipped in spring) moves forward by the gap; one
that exists twice (the hour repeated in autumn) is taken once, the first time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from dateutil.rrule import rrule, rrulestr

DEFAULT_ANCHOR = datetime(2024, 1, 1)
"""Where an RRULE starts counting when the task names no ``start`` (a Monday, 00:00 local):
it fixes the time of day and the phase of ``INTERVAL``."""
MAX_SCAN = 100_000
"""Occurrences looked at in one search at most (an RRULE every minute for years)."""


class RecurrenceError(ValueError):
    """A recurrence that cannot be read, or that never falls due."""


@dataclass(frozen=True)
class Recurrence:
    """One task's recurrence: ``cron`` or ``rrule`` (exactly one), in ``timezone``, never
    before ``start`` (a local date-time; also an RRULE's anchor)."""

    cron: str | None
    rrule: str | None
    timezone: str = "UTC"
    start: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def anchor(self) -> datetime:
        """The local (naive) date-time occurrences are counted from."""
        return (self.start or DEFAULT_ANCHOR).replace(tzinfo=None, microsecond=0)

    def describe(self) -> str:
        what = f"cron {self.cron}" if self.cron else f"RRULE {self.rrule}"
        return f"{what} ({self.timezone})"

    def _local_after(self, local: datetime) -> Iterator[datetime]:
        """Local (naive) occurrences strictly after ``local``, in order."""
        if self.cron:
            it = croniter(self.cron, local)
            while True:
                yield it.get_next(datetime)
        rule = parse_rrule(self.rrule or "", self.anchor)
        current = local
        while True:
            found = rule.after(current, inc=False)
            if found is None:
                return
            yield found
            current = found

    def between(self, after: datetime, until: datetime) -> list[datetime]:
        """Occurrences (UTC) in ``(after, until]``, oldest first, at most MAX_SCAN."""
        found: list[datetime] = []
        start_utc = self.start_utc()
        if start_utc is not None and after < start_utc - timedelta(microseconds=1):
            after = start_utc - timedelta(microseconds=1)
        zone = self.zone
        # a day earlier in local time: a gap or a fold near `after` cannot hide one
        local = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        last: datetime | None = None
        for n, naive in enumerate(self._local_after(local)):
            if n >= MAX_SCAN:
                break
            at = to_utc(naive, zone)
            if at > until:
                break
            if at <= after or at == last:
                continue
            found.append(at)
            last = at
        return found

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence (UTC) strictly after ``after``, or None."""
        start_utc = self.start_utc()
        if start_utc is not None and after < start_utc:
            after = start_utc - timedelta(microseconds=1)
        zone = self.zone
        local = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        for n, naive in enumerate(self._local_after(local)):
            if n >= MAX_SCAN:
                return None
            at = to_utc(naive, zone)
            if at > after:
                return at
        return None

    def start_utc(self) -> datetime | None:
        return to_utc(self.start.replace(tzinfo=None), self.zone) if self.start else None


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the wall-clock time ``local`` in ``zone``: a skipped time moves
    forward by the gap, a repeated one is taken the first time (fold 0)."""
    # PEP 495: fold=0 reads a skipped time with the offset before the change (02:30 in a
    # 02:00 -> 03:00 gap is 03:30 after it) and a repeated time as its first passage.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def parse_rrule(text: str, anchor: datetime) -> rrule:
    """The rule ``text`` (``FREQ=...;...``, optionally prefixed ``RRULE:``) counted from
    ``anchor``; raise RecurrenceError when it is not an RRULE."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or "\n" in body or "DTSTART" in body.upper():
        raise RecurrenceError(
            "give one RRULE line such as FREQ=MONTHLY;BYDAY=1MO (the start goes in `start`)"
        )
    try:
        rule = rrulestr(body, dtstart=anchor)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"not an RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise RecurrenceError("give one RRULE line, not a set of rules")
    return rule


def check(recurrence: Recurrence) -> None:
    """Raise RecurrenceError unless ``recurrence`` can be read and falls due at least once."""
    if recurrence.cron:
        try:
            croniter(recurrence.cron, recurrence.anchor).get_next(datetime)
        except CroniterBadDateError:
            raise RecurrenceError("the cron expression never fires") from None
        except (CroniterBadCronError, ValueError) as exc:
            raise RecurrenceError(f"not a cron expression: {str(exc).rstrip('.')}") from None
        return
    rule = parse_rrule(recurrence.rrule or "", recurrence.anchor)
    if rule.after(recurrence.anchor, inc=True) is None:
        raise RecurrenceError("the RRULE never falls due after its start")
