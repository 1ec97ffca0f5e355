"""Teams and their members: admins change them, everyone signed in may read them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Request

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as actor
from watchkeeper.api.schemas import MemberIn, TeamIn, TeamOut, TeamPatch
from watchkeeper.auth import teams
from watchkeeper.auth.sessions import SessionInfo

router = APIRouter(prefix="/api/v1", tags=["teams"])
Viewer = Annotated[SessionInfo, require("viewer")]
Admin = Annotated[SessionInfo, require("admin")]


def _out(view: teams.TeamView) -> TeamOut:
    return TeamOut(**asdict(view))


@router.get("/teams", response_model=list[TeamOut], summary="List teams and their members")
def list_teams(db: Db, _: Viewer) -> list[TeamOut]:
    return [_out(t) for t in teams.list_teams(db)]


@router.post("/teams", response_model=TeamOut, status_code=201, summary="Make a team")
def create_team(request: Request, body: TeamIn, db: Db, info: Admin) -> TeamOut:
    view = teams.create_team(db, actor(request, info), body.name, body.description)
    db.commit()
    return _out(view)


@router.get("/teams/{team}", response_model=TeamOut, summary="Read one team")
def get_team(team: str, db: Db, _: Viewer) -> TeamOut:
    return _out(teams.get_team(db, team))


@router.patch("/teams/{team}", response_model=TeamOut, summary="Rename a team or describe it")
def update_team(request: Request, team: str, body: TeamPatch, db: Db, info: Admin) -> TeamOut:
    view = teams.update_team(db, actor(request, info), team, body.model_dump(exclude_unset=True))
    db.commit()
    return _out(view)


@router.delete("/teams/{team}", status_code=204, summary="Delete a team (not its members)")
def delete_team(request: Request, team: str, db: Db, info: Admin) -> None:
    teams.delete_team(db, actor(request, info), team)
    db.commit()


@router.post("/teams/{team}/members", response_model=TeamOut, summary="Add a member")
def add_member(request: Request, team: str, body: MemberIn, db: Db, info: Admin) -> TeamOut:
    view = teams.add_member(db, actor(request, info), team, body.username)
    db.commit()
    return _out(view)


@router.delete("/teams/{team}/members/{member}", response_model=TeamOut, summary="Remove a member")
def remove_member(request: Request, team: str, member: str, db: Db, info: Admin) -> TeamOut:
    view = teams.remove_member(db, actor(request, info), team, member)
    db.commit()
    return _out(view)
