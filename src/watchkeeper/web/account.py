"""The signed-in user's own page: profile, password, sessions and API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRouter

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as actor
from watchkeeper.auth import accounts, teams, tokens
from watchkeeper.auth.roles import ROLES, role_allows
from watchkeeper.auth.sessions import COOKIE_NAME, SessionInfo, list_sessions, session_id_of
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.plan.types import parse_duration
from watchkeeper.store.tables import User
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]

# Lifetimes offered for a new token ("" = until revoked).
EXPIRY_CHOICES = (("30d", "30 days"), ("90d", "90 days"), ("365d", "1 year"), ("7d", "7 days"))
NOTICES = {
    "profile": "Profile saved.",
    "password": "Password changed. Your other sessions were signed out.",
    "sessions": "Signed out everywhere else.",
    "revoked": "Token revoked: calls made with it are refused from now on.",
}
FIELD_LABELS = {
    "current_password": "Current password",
    "new_password": "New password",
    "display_name": "Display name",
    "email": "E-mail",
    "name": "Name",
    "role": "Role",
    "expires": "Expires",
}


def form_errors(exc: ValidationFailed) -> list[str]:
    """One sentence per problem, led by the field's label."""
    return [f"{FIELD_LABELS.get(f, f.capitalize())} {m}" for f, m in exc.errors] or [str(exc)]


def token_roles(role: str) -> list[str]:
    """The roles a token made by someone of ``role`` may have."""
    return [r for r in ROLES if role_allows(role, r)]


def expiry(value: str) -> Any:
    """The lifetime a form chose ('' = none); ValidationFailed when it is not a duration."""
    if not value.strip():
        return None
    try:
        return parse_duration(value.strip())
    except ValueError:
        raise ValidationFailed(
            "invalid token", [("expires", f'"{value}" is not a duration (use 30d, 12h)')]
        ) from None


def _page(
    request: Request,
    db: Db,
    info: SessionInfo,
    *,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    new_token: tokens.NewToken | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    user = db.get(User, info.user_id)
    if user is None:
        raise NotFoundError("user not found")
    current = session_id_of(request.cookies.get(COOKIE_NAME, ""))
    return render(
        request,
        "account.html",
        status=status,
        account=user,
        teams=teams.teams_of(db, user.id),
        sessions=list_sessions(db, user.id),
        current_session=current,
        tokens=tokens.list_tokens(db, user.id),
        token_roles=token_roles(info.role),
        expiry_choices=EXPIRY_CHOICES,
        notice=NOTICES.get(request.query_params.get("done", "")),
        errors=errors or {},
        new_token=new_token,
        form=form or {},
        active="account",
        page_title="Your account",
    )


def _done(what: str) -> Response:
    return RedirectResponse(f"/account?done={what}", status_code=303)


@router.get("/account")
def account_page(request: Request, db: Db, user: PageUser) -> Response:
    return _page(request, db, user)


@router.post("/account/profile")
def save_profile(
    request: Request,
    db: Db,
    user: PageUser,
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
) -> Response:
    try:
        accounts.update_profile(
            db,
            actor(request, user),
            user.user_id,
            {"display_name": display_name, "email": email.strip()},
        )
    except ValidationFailed as exc:
        db.rollback()
        return _page(request, db, user, status=422, errors={"profile": form_errors(exc)})
    db.commit()
    return _done("profile")


@router.post("/account/password")
def change_password(
    request: Request,
    db: Db,
    user: PageUser,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    if new_password != repeat_password:
        return _page(
            request,
            db,
            user,
            status=422,
            errors={"password": ["The new password and its repetition differ."]},
        )
    try:
        accounts.change_password(
            db,
            actor(request, user),
            user.user_id,
            current_password,
            new_password,
            request.cookies.get(COOKIE_NAME, ""),
        )
    except ValidationFailed as exc:
        db.rollback()
        return _page(request, db, user, status=422, errors={"password": form_errors(exc)})
    db.commit()
    return _done("password")


@router.post("/account/sessions/end-others")
def end_other_sessions(request: Request, db: Db, user: PageUser) -> Response:
    accounts.sign_out_everywhere(
        db, actor(request, user), user.username, request.cookies.get(COOKIE_NAME, "")
    )
    db.commit()
    return _done("sessions")


@router.post("/account/tokens")
def create_token(
    request: Request,
    db: Db,
    user: PageUser,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    expires: Annotated[str, Form()] = "",
) -> Response:
    owner = db.get(User, user.user_id)
    if owner is None:
        raise NotFoundError("user not found")
    try:
        new = tokens.create_token(
            db, actor(request, user), owner, name, role, expires_in=expiry(expires)
        )
    except (ValidationFailed, ConflictError) as exc:
        db.rollback()
        errors = form_errors(exc) if isinstance(exc, ValidationFailed) else [str(exc)]
        form = {"name": name, "role": role, "expires": expires}
        return _page(request, db, user, status=422, errors={"token": errors}, form=form)
    db.commit()
    # Rendered, not redirected: the token must not travel in a URL, and is shown only now.
    return _page(request, db, user, new_token=new)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, db: Db, user: PageUser) -> Response:
    tokens.revoke_token(db, actor(request, user), token_id, user.user_id)
    db.commit()
    return _done("revoked")
