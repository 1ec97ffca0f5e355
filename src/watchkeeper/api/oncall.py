"""On-call API: who is on call now, schedules with their shifts, overrides, iCal export.

Calendar apps cannot sign in, so each person also has a subscription URL signed with an
HMAC of their name (``/oncall/calendar/{person}.ics?token=…``), shown to them by
``GET /api/v1/oncall/me/calendar`` and on the on-call page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.api.problems import problem
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.incidents import ical, overrides
from watchkeeper.incidents.oncall_config import OncallSection, Schedule
from watchkeeper.incidents.plan import load_oncall
from watchkeeper.incidents.schedules import Shift
from watchkeeper.plan.types import parse_duration
from watchkeeper.settings import Settings
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1/oncall", tags=["oncall"])
calendar_router = APIRouter(tags=["oncall"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
OverrideId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The override's id.")]
MAX_RANGE = timedelta(days=93)
DEFAULT_RANGE = timedelta(days=14)
CALENDAR_PAST = timedelta(days=7)
CALENDAR_AHEAD = timedelta(days=90)


class ShiftOut(BaseModel):
    person: str
    start: datetime
    end: datetime
    layer: int = Field(description="Index of the layer (0-based); -1 for an override.")
    layer_name: str
    override: bool


class SpanOut(BaseModel):
    start: datetime
    end: datetime


class LayerOut(BaseModel):
    index: int
    name: str
    rotation: str
    shift_length_seconds: int | None
    handoff: str
    handoff_day: str
    start: date
    members: list[str]
    restrict: list[dict[str, object]]


class ScheduleOut(BaseModel):
    name: str
    description: str
    time_zone: str
    layers: list[LayerOut]
    holidays: list[date]
    on_call: list[str] = Field(description="Who is on call now (empty in a gap).")


class ScheduleNow(BaseModel):
    schedule: str
    description: str
    time_zone: str
    on_call: list[str] = Field(description="Who is on call now (empty in a gap).")
    until: datetime | None = Field(description="When they hand off (null: beyond 93 days).")
    next_person: str | None = Field(description="Who is on call next.")
    next_at: datetime | None = Field(description="When the next person takes over.")


class LayerShifts(BaseModel):
    index: int
    name: str
    rotation: str
    members: list[str]
    shifts: list[ShiftOut]


class OverrideOut(BaseModel):
    id: int
    schedule: str
    person: str
    starts_at: datetime
    ends_at: datetime
    note: str
    created_by: str
    created_at: datetime


class ShiftsOut(BaseModel):
    schedule: str
    time_zone: str
    start: datetime
    end: datetime
    final: list[ShiftOut] = Field(description="Who is on call: layers merged, overrides on top.")
    layers: list[LayerShifts]
    gaps: list[SpanOut] = Field(description="When nobody is on call.")
    holidays: list[date]
    overrides: list[OverrideOut]


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person: str = Field(description="Who covers (a name from `oncall.people`).")
    starts_at: datetime | None = Field(None, description="Default: now. UTC unless an offset.")
    ends_at: datetime | None = Field(None, description="Give this or `duration`.")
    duration: str | None = Field(None, description="Length from the start: `8h`, `1d`.")
    note: str = Field("", description="Why (shown in the calendar).")


class CalendarLink(BaseModel):
    person: str
    subscribe_url: str = Field(description="Signed URL for calendar apps (no sign-in).")
    download_url: str = Field(description="The same calendar for a signed-in user.")


def shift_out(shift: Shift) -> ShiftOut:
    return ShiftOut(
        person=shift.person,
        start=shift.start,
        end=shift.end,
        layer=shift.layer,
        layer_name=shift.layer_name,
        override=shift.override,
    )


def override_out(view: overrides.OverrideView) -> OverrideOut:
    return OverrideOut(
        id=view.id,
        schedule=view.schedule,
        person=view.person,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        note=view.note,
        created_by=view.created_by,
        created_at=view.created_at,
    )


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _schedule(oncall: OncallSection, name: str) -> Schedule:
    found = overrides.find_schedule(oncall, name)
    if found is None:
        raise NotFoundError(f'no on-call schedule "{name}" in the plan')
    return found


def secret_keys(settings: Settings) -> list[str]:
    """The keys a calendar token may be signed with: the current one first."""
    return [settings.secret_key(), *settings.secret_key_previous]


def subscribe_url(settings: Settings, person: str) -> str:
    """The signed calendar URL of ``person`` (for calendar apps; no sign-in)."""
    token = ical.calendar_token(settings.secret_key(), person)
    return f"{settings.base_url}/oncall/calendar/{quote(person, safe='')}.ics?token={token}"


def ics_response(body: str, person: str) -> Response:
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="oncall-{person}.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )


def person_calendar(db: Session, person: str, now: datetime) -> str:
    """``person``'s shifts from 7 days ago to 90 days ahead as iCalendar text.

    The range runs from midnight (UTC) to midnight, so the first and last shifts, cut to it,
    keep their times and UIDs through the day's refreshes."""
    midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    start, end = midnight - CALENDAR_PAST, midnight + CALENDAR_AHEAD + timedelta(days=1)
    events = overrides.person_shifts(db, person, start, end)
    return ical.calendar(person, events, now=now)


@router.get("/now", response_model=list[ScheduleNow], summary="Who is on call now, per schedule")
def oncall_now(db: Db, _: Viewer) -> list[ScheduleNow]:
    now = utcnow()
    out = []
    for schedule in load_oncall(db).schedules:
        state = overrides.now_and_next(db, schedule, now)
        out.append(
            ScheduleNow(
                schedule=schedule.name,
                description=schedule.description,
                time_zone=schedule.time_zone,
                on_call=[state.person] if state.person else [],
                until=state.until,
                next_person=state.next_person,
                next_at=state.next_at,
            )
        )
    return out


@router.get("/schedules", response_model=list[ScheduleOut], summary="The plan's schedules")
def list_schedules(db: Db, _: Viewer) -> list[ScheduleOut]:
    now = utcnow()
    on_call = overrides.oncall_now(db, now)
    return [
        ScheduleOut(
            name=s.name,
            description=s.description,
            time_zone=s.time_zone,
            holidays=sorted(s.holidays),
            on_call=on_call.get(s.name, []),
            layers=[
                LayerOut(
                    index=i,
                    name=layer.name or f"Layer {i + 1}",
                    rotation=layer.rotation,
                    shift_length_seconds=int(layer.shift_length.total_seconds())
                    if layer.shift_length
                    else None,
                    handoff=layer.handoff,
                    handoff_day=layer.handoff_day,
                    start=layer.start,
                    members=list(layer.members),
                    restrict=[r.model_dump() for r in layer.restrict],
                )
                for i, layer in enumerate(s.layers)
            ],
        )
        for s in load_oncall(db).schedules
    ]


@router.get(
    "/schedules/{name}/shifts",
    response_model=ShiftsOut,
    summary="A schedule's shifts over a range (at most 93 days; 400 otherwise)",
    responses={400: {"description": "The range is empty or longer than 93 days."}},
)
def schedule_shifts(
    request: Request,
    name: str,
    db: Db,
    _: Viewer,
    start: Annotated[
        datetime | None, Query(description="Default: now. UTC unless an offset.")
    ] = None,
    end: Annotated[datetime | None, Query(description="Default: 14 days after the start.")] = None,
) -> ShiftsOut | JSONResponse:
    schedule = _schedule(load_oncall(db), name)
    begin = _utc(start) or utcnow()
    if not 1970 <= begin.year <= 9000:
        message = "must be between the years 1970 and 9000"
        return problem(
            400,
            f"start: {message}",
            errors=[{"field": "start", "message": message}],
            instance=request.url.path,
        )
    finish = _utc(end) or begin + DEFAULT_RANGE
    message = ""
    if finish.year > 9000:
        message = "must be before the year 9000"
    elif finish <= begin:
        message = "must be after the start"
    elif finish - begin > MAX_RANGE:
        message = "the range is at most 93 days"
    if message:
        return problem(
            400,
            f"end: {message}",
            errors=[{"field": "end", "message": message}],
            instance=request.url.path,
        )
    cal = overrides.schedule_calendar(db, schedule, begin, finish)
    return ShiftsOut(
        schedule=schedule.name,
        time_zone=schedule.time_zone,
        start=begin,
        end=finish,
        final=[shift_out(s) for s in cal.final],
        layers=[
            LayerShifts(
                index=layer.index,
                name=layer.name,
                rotation=layer.rotation,
                members=layer.members,
                shifts=[shift_out(s) for s in layer.shifts],
            )
            for layer in cal.layers
        ],
        gaps=[SpanOut(start=lo, end=hi) for lo, hi in cal.gaps],
        holidays=cal.holidays,
        overrides=[override_out(o) for o in cal.overrides],
    )


@router.get(
    "/schedules/{name}/overrides",
    response_model=list[OverrideOut],
    summary="A schedule's overrides that have not ended (or those touching a range)",
)
def list_schedule_overrides(
    name: str,
    db: Db,
    _: Viewer,
    start: Annotated[datetime | None, Query(description="Default: now.")] = None,
    end: Annotated[datetime | None, Query(description="Default: no end.")] = None,
) -> list[OverrideOut]:
    schedule = _schedule(load_oncall(db), name)
    found = overrides.list_overrides(db, schedule.name, _utc(start) or utcnow(), _utc(end))
    return [override_out(o) for o in found]


@router.post(
    "/schedules/{name}/overrides",
    response_model=OverrideOut,
    status_code=201,
    summary="Add an override (problems named by field: person, starts_at, ends_at, duration)",
)
def add_override(
    request: Request, name: str, body: OverrideIn, db: Db, info: Responder
) -> OverrideOut:
    _schedule(load_oncall(db), name)
    now = utcnow()
    start = _utc(body.starts_at) or now
    end = _utc(body.ends_at)
    if body.duration is not None:
        if body.ends_at is not None:
            raise ValidationFailed(
                "the override is not valid",
                [("duration", "give `ends_at` or `duration`, not both")],
            )
        try:
            end = start + parse_duration(body.duration)
        except ValueError as exc:
            raise ValidationFailed("the override is not valid", [("duration", str(exc))]) from None
    view = overrides.add_override(
        db,
        _actor(request, info),
        schedule=name,
        person=body.person,
        starts_at=start,
        ends_at=end,
        note=body.note,
        now=now,
    )
    db.commit()
    return override_out(view)


@router.delete("/overrides/{override_id}", response_model=OverrideOut, summary="Delete an override")
def delete_override(
    request: Request, override_id: OverrideId, db: Db, info: Responder
) -> OverrideOut:
    view = overrides.delete_override(db, _actor(request, info), override_id)
    db.commit()
    return override_out(view)


@router.get(
    "/people/{person}/calendar.ics",
    summary="A person's shifts as iCalendar (7 days back, 90 ahead)",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def person_ics(person: str, db: Db, _: Viewer) -> Response:
    if person not in {p.name for p in load_oncall(db).people}:
        raise NotFoundError(f'no person "{person}" in oncall.people')
    return ics_response(person_calendar(db, person, utcnow()), person)


@router.get(
    "/me/calendar",
    response_model=CalendarLink,
    summary="Your calendar's signed subscription URL (404 when you are not in oncall.people)",
)
def my_calendar(request: Request, db: Db, info: Viewer) -> CalendarLink:
    person = info.username
    if person not in {p.name for p in load_oncall(db).people}:
        raise NotFoundError(f'you ("{person}") are not in the plan\'s oncall.people')
    settings = get_ctx(request).settings
    return CalendarLink(
        person=person,
        subscribe_url=subscribe_url(settings, person),
        download_url=f"{settings.base_url}/api/v1/oncall/people/{quote(person, safe='')}"
        "/calendar.ics",
    )


@calendar_router.get(
    "/oncall/calendar/{person}.ics",
    summary="A person's calendar for calendar apps: signed URL, no sign-in (404 otherwise)",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def subscribed_ics(
    request: Request,
    person: str,
    db: Db,
    token: Annotated[str, Query(max_length=200, description="The signature from the URL.")] = "",
) -> Response:
    settings = get_ctx(request).settings
    # One answer for a wrong token and an unknown person: the URL reveals nothing.
    if not token or not ical.token_valid(secret_keys(settings), person, token):
        raise NotFoundError("no such calendar")
    if person not in {p.name for p in load_oncall(db).people}:
        raise NotFoundError("no such calendar")
    return ics_response(person_calendar(db, person, utcnow()), person)
