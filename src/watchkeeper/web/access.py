"""The Access page (admin): users, roles, locks, service accounts and their tokens, teams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRouter

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as actor
from watchkeeper.auth import accounts, teams, throttle, tokens
from watchkeeper.auth.roles import ROLES
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.auth.users import list_users
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.web.account import EXPIRY_CHOICES, expiry, form_errors
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageAdmin = Annotated[SessionInfo, require("admin", page=True)]

NOTICES = {
    "user-created": "User created.",
    "user-saved": "User updated; their sessions ended if their role changed or they were disabled.",
    "unlocked": "Sign-in lock lifted.",
    "signed-out": "Signed out everywhere.",
    "mfa-reset": "Second factors removed; the user sets up a new one at the next sign-in "
    "if their role requires it.",
    "service-created": "Service account created: make it a token below.",
    "token-revoked": "Token revoked.",
    "team-created": "Team created.",
    "team-deleted": "Team deleted.",
    "member-added": "Member added.",
    "member-removed": "Member removed.",
}


def _page(
    request: Request,
    db: Db,
    *,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    new_token: tokens.NewToken | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    everyone = list_users(db)
    people = [u for u in everyone if u.kind == "human"]
    services = [u for u in everyone if u.kind == "service"]
    return render(
        request,
        "users.html",
        status=status,
        users=people,
        locked={u.username for u in people if throttle.is_locked(db, u.username)},
        services=services,
        service_tokens={u.username: tokens.list_tokens(db, u.id) for u in services},
        teams=teams.list_teams(db),
        usernames=[u.username for u in everyone],
        roles=ROLES,
        expiry_choices=EXPIRY_CHOICES,
        notice=NOTICES.get(request.query_params.get("done", "")),
        errors=errors or {},
        new_token=new_token,
        form=form or {},
        active="access",
        page_title="Access",
    )


def _done(what: str, anchor: str = "") -> Response:
    return RedirectResponse(f"/access?done={what}{'#' + anchor if anchor else ''}", status_code=303)


def _attempt(
    request: Request,
    db: Db,
    section: str,
    change: Callable[[], Any],
    done: str,
    form: dict[str, str] | None = None,
) -> Response:
    """Make ``change`` and commit, then go back to the page; on a refusal show the page with
    the reasons in ``section``."""
    try:
        change()
    except (ValidationFailed, ConflictError) as exc:
        db.rollback()
        errors = form_errors(exc) if isinstance(exc, ValidationFailed) else [str(exc)]
        return _page(request, db, status=422, errors={section: errors}, form=form)
    db.commit()
    return _done(done, section)


@router.get("/access")
def access_page(request: Request, db: Db, _: PageAdmin) -> Response:
    return _page(request, db)


@router.post("/access/users")
def create_user(
    request: Request,
    db: Db,
    user: PageAdmin,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
) -> Response:
    return _attempt(
        request,
        db,
        "users",
        lambda: accounts.add_user(
            db, actor(request, user), username.strip(), password, role, display_name, email
        ),
        "user-created",
        {"username": username, "role": role, "display_name": display_name, "email": email},
    )


@router.post("/access/users/{username}/role")
def set_role(
    request: Request, username: str, db: Db, user: PageAdmin, role: Annotated[str, Form()]
) -> Response:
    return _attempt(
        request,
        db,
        "users",
        lambda: accounts.update_user(db, actor(request, user), username, {"role": role}),
        "user-saved",
    )


@router.post("/access/users/{username}/disable")
def disable_user(request: Request, username: str, db: Db, user: PageAdmin) -> Response:
    return _attempt(
        request,
        db,
        "users",
        lambda: accounts.update_user(db, actor(request, user), username, {"disabled": True}),
        "user-saved",
    )


@router.post("/access/users/{username}/enable")
def enable_user(request: Request, username: str, db: Db, user: PageAdmin) -> Response:
    return _attempt(
        request,
        db,
        "users",
        lambda: accounts.update_user(db, actor(request, user), username, {"disabled": False}),
        "user-saved",
    )


@router.post("/access/users/{username}/unlock")
def unlock_user(request: Request, username: str, db: Db, user: PageAdmin) -> Response:
    accounts.get_user(db, username)
    return _attempt(
        request,
        db,
        "users",
        lambda: accounts.unlock(db, actor(request, user), username),
        "unlocked",
    )


@router.post("/access/users/{username}/reset-mfa")
def reset_user_mfa(request: Request, username: str, db: Db, user: PageAdmin) -> Response:
    return _attempt(
        request,
        db,
        "users",
        lambda: accounts.reset_mfa(db, actor(request, user), username),
        "mfa-reset",
    )


@router.post("/access/users/{username}/sign-out")
def sign_out_user(request: Request, username: str, db: Db, user: PageAdmin) -> Response:
    return _attempt(
        request,
        db,
        "users",
        lambda: accounts.sign_out_everywhere(db, actor(request, user), username),
        "signed-out",
    )


@router.post("/access/service-accounts")
def create_service_account(
    request: Request,
    db: Db,
    user: PageAdmin,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    display_name: Annotated[str, Form()] = "",
) -> Response:
    return _attempt(
        request,
        db,
        "services",
        lambda: tokens.create_service_account(
            db, actor(request, user), username.strip(), role, display_name
        ),
        "service-created",
        {"sa_username": username, "sa_role": role, "sa_display_name": display_name},
    )


@router.post("/access/service-accounts/{account}/tokens")
def create_service_token(
    request: Request,
    account: str,
    db: Db,
    user: PageAdmin,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    expires: Annotated[str, Form()] = "",
) -> Response:
    owner = tokens.get_service_account(db, account)
    try:
        new = tokens.create_token(
            db, actor(request, user), owner, name, role, expires_in=expiry(expires)
        )
    except ValidationFailed as exc:
        db.rollback()
        return _page(request, db, status=422, errors={"services": form_errors(exc)})
    db.commit()
    # Rendered, not redirected: the token is shown this once and must not go in a URL.
    return _page(request, db, new_token=new)


@router.post("/access/service-accounts/{account}/tokens/{token_id}/revoke")
def revoke_service_token(
    request: Request, account: str, token_id: int, db: Db, user: PageAdmin
) -> Response:
    owner = tokens.get_service_account(db, account)
    tokens.revoke_token(db, actor(request, user), token_id, owner.id)
    db.commit()
    return _done("token-revoked", "services")


@router.post("/access/teams")
def create_team(
    request: Request,
    db: Db,
    user: PageAdmin,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    return _attempt(
        request,
        db,
        "teams",
        lambda: teams.create_team(db, actor(request, user), name.strip(), description),
        "team-created",
        {"team_name": name, "team_description": description},
    )


@router.post("/access/teams/{team}/delete")
def delete_team(request: Request, team: str, db: Db, user: PageAdmin) -> Response:
    teams.delete_team(db, actor(request, user), team)
    db.commit()
    return _done("team-deleted", "teams")


@router.post("/access/teams/{team}/members")
def add_member(
    request: Request, team: str, db: Db, user: PageAdmin, username: Annotated[str, Form()] = ""
) -> Response:
    return _attempt(
        request,
        db,
        "teams",
        lambda: teams.add_member(db, actor(request, user), team, username),
        "member-added",
    )


@router.post("/access/teams/{team}/members/{member}/remove")
def remove_member(request: Request, team: str, member: str, db: Db, user: PageAdmin) -> Response:
    teams.remove_member(db, actor(request, user), team, member)
    db.commit()
    return _done("member-removed", f"team-{quote(team)}")
