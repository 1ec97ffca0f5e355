"""The on-call page: who is on call now per schedule, a 14-day timeline of each schedule
(layers, final, gaps, holidays, overrides), overrides added and deleted, calendar feeds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.api.oncall import subscribe_url
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError
from watchkeeper.incidents import overrides
from watchkeeper.incidents.oncall_config import OncallSection
from watchkeeper.incidents.plan import load_oncall
from watchkeeper.store.tables import utcnow
from watchkeeper.web.oncall_timeline import COLOURS, colour_index, timeline_svg
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageResponder = Annotated[SessionInfo, require("responder", page=True)]
OverrideId = Annotated[int, Path(ge=1, le=2**63 - 1)]
DAYS = 14
NOTICES = {
    "added": "Override added.",
    "deleted": "Override deleted.",
    "gone": "That override had already been deleted.",
}
FIELD_LABELS = {
    "schedule": "Schedule",
    "person": "Person",
    "starts_at": "Start",
    "ends_at": "End",
    "note": "Note",
}


def _start_date(value: str, today: date) -> date:
    """The calendar's first day: ``value`` when it is a date within a few years of today."""
    try:
        chosen = date.fromisoformat(value) if value else today
    except ValueError:
        return today
    return chosen if abs((chosen - today).days) <= 3660 else today


def _names(oncall: OncallSection) -> dict[str, str]:
    return {p.name: p.full_name or p.name for p in oncall.people}


def _page(
    request: Request,
    db: Db,
    user: SessionInfo,
    *,
    start: str = "",
    form: dict[str, str] | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    oncall = load_oncall(db)
    now = utcnow()
    first = _start_date(start, now.date())
    people = [p.name for p in oncall.people]
    names = _names(oncall)
    cards, calendars = [], []
    for i, schedule in enumerate(oncall.schedules):
        tz = ZoneInfo(schedule.time_zone)
        state = overrides.now_and_next(db, schedule, now)
        cards.append({"schedule": schedule, "state": state, "tz": tz})
        lo = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        hi = datetime.combine(first + timedelta(days=DAYS), datetime.min.time(), tzinfo=tz)
        cal = overrides.schedule_calendar(db, schedule, lo, hi.astimezone(UTC))
        shown = sorted(
            {s.person for layer in cal.layers for s in layer.shifts} | {s.person for s in cal.final}
        )
        calendars.append(
            {
                "schedule": schedule,
                "cal": cal,
                "tz": tz,
                "svg": timeline_svg(cal, uid=str(i), people=people, names=names, now=now),
                "legend": [(p, names.get(p, p), colour_index(people, p)) for p in shown],
                "upcoming": overrides.list_overrides(db, schedule.name, now),
            }
        )
    mine = user.username if user.username in names else ""
    default_form = {
        "schedule": oncall.schedules[0].name if oncall.schedules else "",
        "person": mine,
        "starts_at": "",
        "ends_at": "",
        "note": "",
    }
    return render(
        request,
        "oncall.html",
        status=status,
        oncall=oncall,
        names=names,
        cards=cards,
        calendars=calendars,
        first=first,
        last=first + timedelta(days=DAYS - 1),
        prev_week=(first - timedelta(days=7)).isoformat(),
        next_week=(first + timedelta(days=7)).isoformat(),
        is_today=first == now.date(),
        now=now,
        colours=COLOURS,
        can_edit=role_allows(user.role, "responder"),
        form=form or default_form,
        errors=errors or [],
        me=mine,
        my_feed=subscribe_url(get_ctx(request).settings, mine) if mine else "",
        notice=NOTICES.get(request.query_params.get("done", "")),
        active="incidents",
        page_title="On call",
    )


@router.get("/oncall")
def oncall_page(request: Request, db: Db, user: PageUser, start: str = "") -> Response:
    return _page(request, db, user, start=start)


def _local_time(
    value: str, field: str, zone_name: str, problems: list[tuple[str, str]]
) -> datetime | None:
    """A ``datetime-local`` value read in the schedule's zone (an offset given wins)."""
    if not value.strip():
        problems.append((field, "give a date and time"))
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.append((field, f'"{value}" is not a date and time (2026-01-31T09:00)'))
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone_name))


@router.post("/oncall/overrides")
def add_override(
    request: Request,
    db: Db,
    user: PageResponder,
    schedule: Annotated[str, Form()] = "",
    person: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "schedule": schedule,
        "person": person,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "note": note,
    }
    oncall = load_oncall(db)
    found = overrides.find_schedule(oncall, schedule)
    zone_name = found.time_zone if found else "UTC"
    problems: list[tuple[str, str]] = []
    start = _local_time(starts_at, "starts_at", zone_name, problems)
    end = _local_time(ends_at, "ends_at", zone_name, problems)
    named = {f for f, _ in problems}
    checked = overrides.check_override(
        oncall, schedule=schedule, person=person, starts_at=start, ends_at=end, note=note
    )
    problems += [(f, m) for f, m in checked if f not in named]
    if problems:
        errors = [f"{FIELD_LABELS.get(f, f)}: {m}" for f, m in problems]
        return _page(request, db, user, form=form, errors=errors, status=422)
    overrides.add_override(
        db,
        _actor(request, user),
        schedule=schedule,
        person=person,
        starts_at=start,
        ends_at=end,
        note=note,
    )
    db.commit()
    return RedirectResponse(f"/oncall?done=added#schedule-{schedule}", status_code=303)


@router.post("/oncall/overrides/{override_id}/delete")
def delete_override(
    request: Request, override_id: OverrideId, db: Db, user: PageResponder
) -> Response:
    try:
        view = overrides.delete_override(db, _actor(request, user), override_id)
    except NotFoundError:
        db.rollback()
        return RedirectResponse("/oncall?done=gone", status_code=303)
    db.commit()
    return RedirectResponse(f"/oncall?done=deleted#schedule-{view.schedule}", status_code=303)
