"""The maintenance calendar: task instances and the tasks' coming occurrences, merged with
the release calendar (planned releases, freezes, maintenance and patch windows: see
:mod:`watchkeeper.releases.calendar`), the on-call shifts of every schedule and the
scheduled drills. Narrowed to one user (their tasks, their shifts) or one team (its tasks,
its members' shifts), the same events make the iCal feeds calendar apps subscribe to.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.incidents import schedules
from watchkeeper.incidents.ical import escape_text, fold
from watchkeeper.incidents.overrides import list_overrides, who_is_on_call
from watchkeeper.incidents.plan import load_incidents, load_oncall
from watchkeeper.releases import calendar as release_calendar
from watchkeeper.releases.calendar import CalendarEvent, check_range
from watchkeeper.releases.section import load_section as load_releases
from watchkeeper.store.tables import TaskInstance
from watchkeeper.tasks.schedule import load_tasks
from watchkeeper.tasks.views import state_of

log = logging.getLogger(__name__)
KINDS = (
    "task",
    "release",
    "freeze",
    "maintenance",
    "patch_window",
    "oncall",
    "drill",
)
MAX_EVENTS = 5000
PRODID = "-//Watchkeeper//Maintenance calendar//EN"


@dataclass(frozen=True)
class Audience:
    """Whose calendar: everyone (both empty), one user (their teams given), or one team
    (its members given)."""

    user: str = ""
    team: str = ""
    teams: frozenset[str] = frozenset()  # the user's teams
    members: frozenset[str] = frozenset()  # the team's members

    def owns(self, owner: str) -> bool:
        """Whether a task instance owned by ``owner`` belongs on this calendar."""
        if not self.user and not self.team:
            return True
        if self.user:
            return owner == self.user or owner in {f"team:{t}" for t in self.teams}
        return owner == f"team:{self.team}" or owner in self.members

    def on_call(self, person: str) -> bool:
        if not self.user and not self.team:
            return True
        return person == self.user if self.user else person in self.members


def _task_events(
    db: Session, start: datetime, end: datetime, now: datetime, who: Audience
) -> list[CalendarEvent]:
    found: list[CalendarEvent] = []
    last: dict[str, datetime] = {}
    for row in db.scalars(
        select(TaskInstance).where(TaskInstance.due_at >= start, TaskInstance.occurrence_at < end)
    ):
        last[row.task] = max(last.get(row.task, row.occurrence_at), row.occurrence_at)
        if not who.owns(row.owner):
            continue
        found.append(
            CalendarEvent(
                "task",
                f"{row.title} ({state_of(row, now)})",
                row.occurrence_at,
                max(row.due_at, row.occurrence_at),
                f"/tasks/{quote(row.task, safe='')}/instances/{row.id}",
            )
        )
    for task in load_tasks(db):
        spec = task.spec
        if not spec.enabled:
            continue
        after = max(start - spec.due, task.added_at, last.get(spec.name, start - spec.due))
        for at in spec.recurrence.between(after, end)[:500]:
            owner = spec.owner
            if owner.startswith("oncall:"):
                people = who_is_on_call(db, owner[7:], at)
                owner = people[0] if people else ""
            if at + spec.due < start or at >= end or not who.owns(owner):
                continue
            found.append(
                CalendarEvent(
                    "task",
                    f"{spec.title} (planned)",
                    at,
                    at + spec.due,
                    f"/tasks/{quote(spec.name, safe='')}",
                )
            )
    return found


def _oncall_events(
    db: Session, start: datetime, end: datetime, who: Audience
) -> list[CalendarEvent]:
    found: list[CalendarEvent] = []
    for schedule in load_oncall(db).schedules:
        overrides = list_overrides(db, schedule.name, start, end)
        for shift in schedules.final_shifts(schedule, overrides, start, end):
            if who.on_call(shift.person):
                found.append(
                    CalendarEvent(
                        "oncall",
                        f"On call: {schedule.name} ({shift.person})",
                        shift.start,
                        shift.end,
                        f"/oncall#schedule-{schedule.name}",
                    )
                )
    return found


def _drill_events(db: Session, start: datetime, end: datetime) -> list[CalendarEvent]:
    found: list[CalendarEvent] = []
    for drill in load_incidents(db).drills:
        if drill.schedule is None:
            continue
        zone = ZoneInfo(drill.time_zone)
        it = croniter(drill.schedule, (start - drill.timeout).astimezone(zone))
        for _ in range(500):
            at: datetime = it.get_next(datetime)
            if at >= end:
                break
            found.append(
                CalendarEvent(
                    "drill", f"Drill {drill.name}", at, at + drill.timeout, "/incidents/drills"
                )
            )
    return found


def events(
    db: Session,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    who: Audience | None = None,
    kinds: frozenset[str] = frozenset(KINDS),
) -> list[CalendarEvent]:
    """Every event of ``kinds`` overlapping ``[start, end)`` for ``who`` (default:
    everyone), by start time; raise ValidationFailed for a bad range. A section that cannot
    be read is left out (and logged), not fatal."""
    start, end = check_range(start, end)
    who = who or Audience()
    found: list[CalendarEvent] = []
    if "task" in kinds:
        found += _task_events(db, start, end, now, who)
    if kinds & {"release", "freeze", "maintenance", "patch_window"}:
        try:
            found += [
                e
                for e in release_calendar.events(db, load_releases(db), start, end)
                if e.kind in kinds
            ]
        except WatchkeeperError as exc:
            log.warning("calendar: releases and windows left out: %s", exc)
    if "oncall" in kinds:
        found += _oncall_events(db, start, end, who)
    if "drill" in kinds:
        found += _drill_events(db, start, end)
    found.sort(key=lambda e: (e.start, KINDS.index(e.kind), e.title))
    return found[:MAX_EVENTS]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def ical(found: list[CalendarEvent], *, name: str, now: datetime, base_url: str) -> str:
    """An iCalendar (RFC 5545) document of ``found``; UIDs are stable per event."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for e in found:
        key = f"{e.kind}\0{e.title}\0{e.start.isoformat()}\0{e.link}"
        uid = f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@calendar.watchkeeper"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(e.start)}",
            f"DTEND:{_stamp(max(e.end, e.start))}",
            f"SUMMARY:{escape_text(e.title)}",
            f"CATEGORIES:{escape_text(e.kind)}",
        ]
        if e.link:
            lines.append(f"URL:{escape_text(base_url + e.link)}")
        lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
