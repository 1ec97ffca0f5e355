"""User administration (admin) and the signed-in user's password and sessions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Request

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as actor
from watchkeeper.api.schemas import (
    PasswordChangeIn,
    SessionsEndedOut,
    UnlockOut,
    UserOut,
    UserPatch,
)
from watchkeeper.auth import accounts
from watchkeeper.auth.sessions import COOKIE_NAME, SessionInfo

router = APIRouter(prefix="/api/v1", tags=["users"])
Viewer = Annotated[SessionInfo, require("viewer")]
Admin = Annotated[SessionInfo, require("admin")]


def _current_cookie(request: Request, info: SessionInfo) -> str:
    """The session token of the calling browser ('' for a call made with an API token)."""
    return "" if info.via_token else request.cookies.get(COOKIE_NAME, "")


@router.patch(
    "/users/{username}",
    response_model=UserOut,
    summary="Change a user's role, state, name or e-mail (a role change or disabling "
    "signs them out everywhere)",
)
def update_user(request: Request, username: str, body: UserPatch, db: Db, info: Admin) -> UserOut:
    view, _ = accounts.update_user(
        db, actor(request, info), username, body.model_dump(exclude_unset=True)
    )
    db.commit()
    return UserOut(**asdict(view))


@router.post(
    "/users/{username}/unlock",
    response_model=UnlockOut,
    summary="Lift a sign-in lock (forget the failed attempts)",
)
def unlock_user(request: Request, username: str, db: Db, info: Admin) -> UnlockOut:
    accounts.get_user(db, username)
    forgotten = accounts.unlock(db, actor(request, info), username)
    db.commit()
    return UnlockOut(username=username, failures_forgotten=forgotten)


@router.post(
    "/users/{username}/mfa/reset",
    summary="Remove a user's second factors (lost device and recovery codes)",
)
def reset_user_mfa(request: Request, username: str, db: Db, info: Admin) -> dict[str, int]:
    removed = accounts.reset_mfa(db, actor(request, info), username)
    db.commit()
    return removed


@router.delete(
    "/users/{username}/sessions",
    response_model=SessionsEndedOut,
    summary="Sign a user out everywhere",
)
def end_user_sessions(request: Request, username: str, db: Db, info: Admin) -> SessionsEndedOut:
    ended = accounts.sign_out_everywhere(db, actor(request, info), username)
    db.commit()
    return SessionsEndedOut(sessions_ended=ended)


@router.delete(
    "/me/sessions",
    response_model=SessionsEndedOut,
    summary="Sign out everywhere else (the calling session stays)",
)
def end_my_other_sessions(request: Request, db: Db, info: Viewer) -> SessionsEndedOut:
    ended = accounts.sign_out_everywhere(
        db, actor(request, info), info.username, _current_cookie(request, info)
    )
    db.commit()
    return SessionsEndedOut(sessions_ended=ended)


@router.post(
    "/me/password",
    response_model=SessionsEndedOut,
    summary="Change your password (your other sessions end)",
)
def change_my_password(
    request: Request, body: PasswordChangeIn, db: Db, info: Viewer
) -> SessionsEndedOut:
    """Refusals name the field: ``current_password`` when it is wrong (wrong guesses count
    toward the sign-in lock), ``new_password`` with every reason the policy refuses it."""
    ended = accounts.change_password(
        db,
        actor(request, info),
        info.user_id,
        body.current_password,
        body.new_password,
        _current_cookie(request, info),
    )
    db.commit()
    return SessionsEndedOut(sessions_ended=ended)
