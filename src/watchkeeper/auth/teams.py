"""Teams: named groups of users (later domains scope objects such as on-call by team).

Every change is recorded in the audit trail in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.store.tables import Team, TeamMember, User

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
NAME_RULE = "must be 1-100 letters, digits or . _ -, starting with a letter or digit"
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class TeamView:
    id: int
    name: str
    description: str
    created_at: datetime
    members: list[str]


def _members(db: Session, team_id: int) -> list[str]:
    return list(
        db.scalars(
            select(User.username)
            .join(TeamMember, TeamMember.user_id == User.id)
            .where(TeamMember.team_id == team_id)
            .order_by(User.username)
        )
    )


def _view(db: Session, team: Team) -> TeamView:
    return TeamView(team.id, team.name, team.description, team.created_at, _members(db, team.id))


def _problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if "name" in values and not (isinstance(values["name"], str) and _NAME.match(values["name"])):
        errors.append(("name", NAME_RULE))
    if "description" in values and (
        not isinstance(values["description"], str) or len(values["description"]) > MAX_DESCRIPTION
    ):
        errors.append(("description", f"must be text of at most {MAX_DESCRIPTION} characters"))
    return errors


def _get(db: Session, name: str) -> Team:
    team = db.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise NotFoundError(f'no team "{name}"')
    return team


def _user(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise ValidationFailed("unknown user", [("username", f'no user "{username}"')])
    return user


def list_teams(db: Session) -> list[TeamView]:
    return [_view(db, t) for t in db.scalars(select(Team).order_by(Team.name))]


def get_team(db: Session, name: str) -> TeamView:
    return _view(db, _get(db, name))


def teams_of(db: Session, user_id: int) -> list[str]:
    """Return the names of the teams a user belongs to."""
    return list(
        db.scalars(
            select(Team.name)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user_id)
            .order_by(Team.name)
        )
    )


def create_team(db: Session, actor: Actor, name: str, description: str = "") -> TeamView:
    errors = _problems({"name": name, "description": description})
    if errors:
        raise ValidationFailed("invalid team", errors)
    team = Team(name=name, description=description.strip())
    try:
        with db.begin_nested():
            db.add(team)
    except IntegrityError:
        raise ConflictError(f'a team named "{name}" already exists') from None
    audit.record(
        db,
        actor,
        "team.create",
        f"team/{name}",
        {"changes": audit.changes(None, {"name": name, "description": team.description})},
    )
    return _view(db, team)


def update_team(db: Session, actor: Actor, name: str, values: Mapping[str, Any]) -> TeamView:
    """Rename a team or change its description."""
    wrong = [(k, "cannot be changed") for k in values if k not in ("name", "description")]
    errors = wrong + _problems(values)
    if errors:
        raise ValidationFailed("invalid team", errors)
    team = _get(db, name)
    before = {"name": team.name, "description": team.description}
    after = {
        "name": values.get("name", team.name),
        "description": values.get("description", team.description).strip(),
    }
    changed = audit.changes(before, after)
    if changed:
        try:
            with db.begin_nested():  # a taken name must not undo the caller's work
                team.name, team.description = after["name"], after["description"]
                db.flush()
        except IntegrityError:
            raise ConflictError(f'a team named "{after["name"]}" already exists') from None
        audit.record(db, actor, "team.update", f"team/{name}", {"changes": changed})
    return _view(db, team)


def delete_team(db: Session, actor: Actor, name: str) -> None:
    team = _get(db, name)
    before = {"name": team.name, "description": team.description, "members": _members(db, team.id)}
    db.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    db.delete(team)
    audit.record(db, actor, "team.delete", f"team/{name}", {"changes": audit.changes(before, None)})


def add_member(db: Session, actor: Actor, name: str, username: str) -> TeamView:
    """Add a user to a team (adding a member again changes nothing)."""
    team = _get(db, name)
    user = _user(db, username)
    if db.get(TeamMember, (team.id, user.id)) is None:
        try:
            with db.begin_nested():  # a concurrent add of the same member is not an error
                db.add(TeamMember(team_id=team.id, user_id=user.id))
        except IntegrityError:
            return _view(db, team)
        audit.record(db, actor, "team.member_add", f"team/{name}", {"user": username})
    return _view(db, team)


def remove_member(db: Session, actor: Actor, name: str, username: str) -> TeamView:
    team = _get(db, name)
    user = db.scalar(select(User).where(User.username == username))
    member = db.get(TeamMember, (team.id, user.id)) if user else None
    if member is None:
        raise NotFoundError(f'"{username}" is not a member of team "{name}"')
    db.delete(member)
    db.flush()
    audit.record(db, actor, "team.member_remove", f"team/{name}", {"user": username})
    return _view(db, team)
