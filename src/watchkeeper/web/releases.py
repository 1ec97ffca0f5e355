"""Releases pages: the services with their current versions, last deploys and gates, and the
recent deploys (``/releases``); one service's deploys, gate verdicts with their figures,
changelog and key-metric charts with deploy markers (``/releases/services/{name}``); the
release calendar as a month grid and a list (``/releases/calendar``)."""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.releases import calendar, changelog, deploys
from watchkeeper.releases.calendar import CalendarEvent
from watchkeeper.releases.config import ReleasesSection
from watchkeeper.releases.section import SectionUnreadable, find_service, load_section
from watchkeeper.releases.versioning import describe
from watchkeeper.releases.views import service_row, service_rows
from watchkeeper.store.tables import Deploy, utcnow
from watchkeeper.web.pages import render, render_error

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
RECENT = 20
PER_PAGE = 50
CHART_DAYS = 7
GATE_LABELS = {
    "pending": "gate pending",
    "healthy": "healthy",
    "regressed": "regressed",
    "unaccepted": "no UAT sign-off",
    "skipped": "gate skipped",
}


def _section(request: Request, db: Session) -> ReleasesSection | Response:
    """The stored section, or the page that says it cannot be read."""
    try:
        return load_section(db)
    except SectionUnreadable as exc:
        return render_error(request, 409, str(exc))


def _counts(db: Session, now: datetime) -> dict[str, int]:
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    return {
        "week": int(db.scalar(select(func.count()).where(Deploy.deployed_at >= week)) or 0),
        "regressed": int(
            db.scalar(
                select(func.count()).where(Deploy.deployed_at >= month, Deploy.gate == "regressed")
            )
            or 0
        ),
        "pending": int(db.scalar(select(func.count()).where(Deploy.gate == "pending")) or 0),
    }


@router.get("/releases")
def releases_page(request: Request, db: Db, _: PageUser) -> Response:
    section = _section(request, db)
    if isinstance(section, Response):
        return section
    now = utcnow()
    rows = service_rows(db, section, now)
    recent, _total = deploys.list_deploys(db, section, limit=RECENT)
    return render(
        request,
        "releases.html",
        rows=rows,
        recent=recent,
        counts=_counts(db, now),
        frozen=[r for r in rows if r.freeze],
        gate_labels=GATE_LABELS,
        now=now,
        tab="services",
        active="releases",
        page_title="Releases",
    )


@router.get("/releases/services/{name}")
def service_page(
    request: Request,
    name: str,
    db: Db,
    _: PageUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    section = _section(request, db)
    if isinstance(section, Response):
        return section
    service = find_service(section, name)
    now = utcnow()
    rows, total = deploys.list_deploys(
        db, section, services=[service.name], limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    by_name = {s.name: s for s in section.services}
    return render(
        request,
        "release_service.html",
        row=service_row(db, section, service, now),
        service=service,
        convention=describe(service.versioning, service.calver_format),
        deploys=rows,
        diff_urls={d.id: deploys.diff_url(service, d) for d in rows},
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        changelog=changelog.entries(db, service, limit=100),
        dependents=[s.name for s in section.services if service.name in s.depends_on],
        known=by_name,
        chart_start=int((now - timedelta(days=CHART_DAYS)).timestamp()),
        chart_end=int(now.timestamp()),
        gate_labels=GATE_LABELS,
        now=now,
        tab="services",
        active="releases",
        page_title=service.name,
        assets_charts=bool(service.gate and service.gate.metrics),
        scripts=["js/promchart.js", "js/releases.js"] if service.gate else [],
    )


@dataclass(frozen=True)
class Day:
    """A cell of the month grid: its events with their short labels."""

    day: date
    in_month: bool
    today: bool
    events: list[tuple[CalendarEvent, str]]


def cell_label(event: CalendarEvent, begins: datetime) -> str:
    """What a day's cell shows of ``event`` (the title is the tooltip): the time it starts
    that day, or "…–HH:MM" for one carried in from the day before; a window by its name."""
    name = event.title
    for prefix in ("Maintenance window ", "Patch window "):
        name = name.removeprefix(prefix)
    if event.kind == "freeze":
        return name
    if event.start >= begins:
        return f"{event.start:%H:%M} {name}"
    if event.end < begins + timedelta(days=1):
        return f"…–{event.end:%H:%M} {name}"
    return name


def _month(value: str | None, now: datetime) -> date:
    if value:
        try:
            parsed = datetime.strptime(value, "%Y-%m")
        except ValueError:
            parsed = None
        if parsed is not None and 1970 <= parsed.year <= 9998:
            return parsed.date().replace(day=1)
    return now.date().replace(day=1)


def _shift(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_grid(first: date, found: list[CalendarEvent], today: date) -> list[list[Day]]:
    """The weeks (Monday first) covering the month of ``first``, each day with the events
    overlapping it (UTC days)."""
    weeks = []
    for week in month_calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        cells = []
        for day in week:
            begins = datetime.combine(day, datetime.min.time(), UTC)
            ends = begins + timedelta(days=1)
            cells.append(
                Day(
                    day,
                    day.month == first.month,
                    day == today,
                    [
                        (e, cell_label(e, begins))
                        for e in found
                        if e.start < ends and e.end > begins
                    ],
                )
            )
        weeks.append(cells)
    return weeks


def _windows(
    found: list[CalendarEvent], start: datetime, end: datetime
) -> dict[str, list[CalendarEvent]]:
    """The maintenance and patch windows' openings in ``[start, end)``, by window."""
    grouped: dict[str, list[CalendarEvent]] = {}
    for e in found:
        if e.kind in ("maintenance", "patch_window") and e.start < end and e.end > start:
            grouped.setdefault(e.title, []).append(e)
    return grouped


@router.get("/releases/calendar")
def calendar_page(request: Request, db: Db, _: PageUser, month: str | None = None) -> Response:
    section = _section(request, db)
    if isinstance(section, Response):
        return section
    now = utcnow()
    first = _month(month, now)
    weeks = month_calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    grid_start = datetime.combine(weeks[0][0], datetime.min.time(), UTC)
    grid_end = datetime.combine(weeks[-1][-1], datetime.min.time(), UTC) + timedelta(days=1)
    found = calendar.events(db, section, grid_start, grid_end)
    month_start = datetime.combine(first, datetime.min.time(), UTC)
    month_end = datetime.combine(_shift(first, 1), datetime.min.time(), UTC)
    return render(
        request,
        "release_calendar.html",
        first=first,
        weeks=month_grid(first, found, now.date()),
        listed=[
            e
            for e in found
            if e.kind in ("release", "freeze") and e.start < month_end and e.end > month_start
        ],
        windows=_windows(found, month_start, month_end),
        previous=_shift(first, -1),
        following=_shift(first, 1),
        this_month=now.date().replace(day=1),
        timedelta_day=timedelta(days=1),
        now=now,
        tab="calendar",
        active="releases",
        page_title="Release calendar",
    )
