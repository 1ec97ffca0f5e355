"""The maintenance calendar: task instances and occurrences, planned releases, freezes,
maintenance and patch windows, on-call shifts and drills in one list; the iCal feeds of a
user and of a team for calendar apps (signed URLs like the on-call feeds: no sign-in).
Viewers read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.api.oncall import secret_keys
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.auth.teams import get_team, teams_of
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.incidents import ical
from watchkeeper.settings import Settings
from watchkeeper.store.tables import Team, User, utcnow
from watchkeeper.tasks import calendar

router = APIRouter(prefix="/api/v1", tags=["calendar"])
feed_router = APIRouter(tags=["calendar"])
Viewer = Annotated[SessionInfo, require("viewer")]
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=180)
Who = Annotated[str, Path(min_length=1, max_length=150, pattern=r"^[^/]+$")]


class EventOut(BaseModel):
    kind: str = Field(description=f"One of {', '.join(calendar.KINDS)}.")
    title: str
    start: datetime
    end: datetime
    link: str = Field(description="Its page on this server, when it has one.")


class FeedsOut(BaseModel):
    user: str = Field(description="Your own calendar (your tasks and on-call shifts).")
    teams: dict[str, str] = Field(description="Each of your teams' calendars.")


def audience(db: Session, user: str = "", team: str = "") -> calendar.Audience:
    """The calendar of ``user`` or ``team`` (both empty: everyone); raise NotFoundError."""
    if user and team:
        raise ValidationFailed("give one", [("team", "give either user or team")])
    if user:
        user_id = db.scalar(select(User.id).where(User.username == user))
        if user_id is None:
            raise NotFoundError(f'no user named "{user}"')
        return calendar.Audience(user=user, teams=frozenset(teams_of(db, user_id)))
    if team:
        return calendar.Audience(team=team, members=frozenset(get_team(db, team).members))
    return calendar.Audience()


def kinds_of(kind: list[str] | None) -> frozenset[str]:
    wanted = frozenset(kind or calendar.KINDS)
    bad = sorted(wanted - set(calendar.KINDS))
    if bad:
        raise ValidationFailed(
            "invalid kind", [("kind", f'"{bad[0]}" is not one of {", ".join(calendar.KINDS)}')]
        )
    return wanted


@router.get("/calendar", response_model=list[EventOut], summary="The maintenance calendar")
def get_calendar(
    db: Db,
    _: Viewer,
    start: Annotated[datetime | None, Query(description="Default: now.")] = None,
    end: Annotated[datetime | None, Query(description="Default: 30 days after start.")] = None,
    kind: Annotated[list[str] | None, Query(description="Event kinds (repeatable).")] = None,
    user: Annotated[str, Query(max_length=150, description="Only this user's.")] = "",
    team: Annotated[str, Query(max_length=100, description="Only this team's.")] = "",
) -> list[EventOut]:
    now = utcnow()
    begin = start or now
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=UTC)
    finish = end or begin + timedelta(days=30)
    if finish.tzinfo is None:
        finish = finish.replace(tzinfo=UTC)
    found = calendar.events(
        db, begin, finish, now=now, who=audience(db, user, team), kinds=kinds_of(kind)
    )
    return [
        EventOut(kind=e.kind, title=e.title, start=e.start, end=e.end, link=e.link) for e in found
    ]


def feed_url(settings: Settings, what: str, name: str) -> str:
    """The signed feed URL of user or team ``name`` (``what``: users or teams)."""
    token = ical.calendar_token(settings.secret_key(), f"{what}:{name}")
    return f"{settings.base_url}/calendar/{what}/{quote(name, safe='')}.ics?token={token}"


@router.get("/calendar/feeds", response_model=FeedsOut, summary="Your calendar feeds (iCal)")
def my_feeds(request: Request, db: Db, info: Viewer) -> FeedsOut:
    settings = get_ctx(request).settings
    user_id = db.scalar(select(User.id).where(User.username == info.username))
    teams = teams_of(db, user_id) if user_id is not None else []
    return FeedsOut(
        user=feed_url(settings, "users", info.username),
        teams={t: feed_url(settings, "teams", t) for t in teams},
    )


def _feed(request: Request, db: Session, what: str, name: str, token: str) -> Response:
    settings = get_ctx(request).settings
    # One answer for a wrong token and an unknown name: the URL reveals nothing.
    if not token or not ical.token_valid(secret_keys(settings), f"{what}:{name}", token):
        raise NotFoundError("no such calendar")
    model = User.username if what == "users" else Team.name
    if db.scalar(select(model).where(model == name)) is None:
        raise NotFoundError("no such calendar")
    now = utcnow()
    midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    who = audience(db, user=name) if what == "users" else audience(db, team=name)
    found = calendar.events(db, midnight - FEED_PAST, midnight + FEED_AHEAD, now=now, who=who)
    label = f"Watchkeeper: {name}" + (" (team)" if what == "teams" else "")
    body = calendar.ical(found, name=label, now=now, base_url=settings.base_url)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="watchkeeper-{what[:-1]}.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )


@feed_router.get(
    "/calendar/users/{name}.ics",
    summary="A user's calendar for calendar apps: signed URL, no sign-in (404 otherwise)",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def user_feed(
    request: Request,
    name: Who,
    db: Db,
    token: Annotated[str, Query(max_length=200, description="The signature from the URL.")] = "",
) -> Response:
    return _feed(request, db, "users", name, token)


@feed_router.get(
    "/calendar/teams/{name}.ics",
    summary="A team's calendar for calendar apps: signed URL, no sign-in (404 otherwise)",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def team_feed(
    request: Request,
    name: Who,
    db: Db,
    token: Annotated[str, Query(max_length=200, description="The signature from the URL.")] = "",
) -> Response:
    return _feed(request, db, "teams", name, token)
