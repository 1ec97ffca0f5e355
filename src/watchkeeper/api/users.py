"""Users (admin) and the signed-in user."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Request

from watchkeeper.api.deps import Db, require
from watchkeeper.api.schemas import SessionOut, UserIn, UserOut
from watchkeeper.auth import accounts, users
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError
from watchkeeper.store.tables import User

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/me", response_model=UserOut, summary="The signed-in user")
def me(db: Db, info: Annotated[SessionInfo, require("viewer")]) -> UserOut:
    user = db.get(User, info.user_id)
    if user is None:
        raise NotFoundError("user not found")
    return UserOut(**asdict(users.UserView.of(user)))


@router.get("/users", response_model=list[UserOut], summary="List users")
def list_users(db: Db, _: Annotated[SessionInfo, require("admin")]) -> list[UserOut]:
    return [UserOut(**asdict(u)) for u in users.list_users(db)]


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user")
def create_user(
    request: Request, body: UserIn, db: Db, info: Annotated[SessionInfo, require("admin")]
) -> UserOut:
    view = accounts.add_user(
        db,
        Actor(info.username, request.client.host if request.client else ""),
        body.username,
        body.password,
        body.role,
        body.display_name,
        body.email,
    )
    db.commit()
    return UserOut(**asdict(view))


@router.get("/session", response_model=SessionOut, summary="The current session")
def session(info: Annotated[SessionInfo, require("viewer")]) -> SessionOut:
    """Return who is signed in and the CSRF token that unsafe cookie-authenticated calls need
    in their ``X-CSRF-Token`` header (other sites cannot read this response)."""
    return SessionOut(username=info.username, role=info.role, csrf_token=info.csrf_token)
