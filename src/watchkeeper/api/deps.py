"""Dependencies shared by API routes and web pages: store sessions, users, roles, CSRF."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import COOKIE_NAME, SessionInfo, resolve_session
from watchkeeper.runtime.context import AppContext

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_db(request: Request) -> Iterator[Session]:
    """Yield a store session; the route commits what it changes."""
    with get_ctx(request).sessions() as db:
        yield db


Db = Annotated[Session, Depends(get_db)]


def current_session(request: Request, db: Db) -> SessionInfo | None:
    info = resolve_session(db, request.cookies.get(COOKIE_NAME, ""))
    db.commit()  # persists the idle-timer refresh or the removal of an expired session
    request.state.user = info
    return info


class LoginRequired(Exception):
    """Raised by page dependencies; the web layer turns it into a redirect to /login."""


async def check_csrf(request: Request, info: SessionInfo) -> None:
    """Raise 403 unless an unsafe request carries the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent, info.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token (send the X-CSRF-Token header)")


def require(role: str, *, page: bool = False) -> Any:
    """Return a dependency that needs a signed-in user with at least ``role``.

    API routes answer 401/403 problems; pages (``page=True``) redirect to the login page.
    """

    async def dependency(
        request: Request, info: Annotated[SessionInfo | None, Depends(current_session)]
    ) -> SessionInfo:
        if info is None:
            if page:
                raise LoginRequired()
            raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Cookie"})
        if not role_allows(info.role, role):
            raise HTTPException(403, f"this needs the {role} role; you are {info.role}")
        await check_csrf(request, info)
        return info

    dependency.required_role = role  # type: ignore[attr-defined]
    return Depends(dependency)
