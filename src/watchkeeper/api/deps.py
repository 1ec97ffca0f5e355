"""Dependencies shared by API routes and web pages: store sessions, users, roles, CSRF."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import COOKIE_NAME, SessionInfo, resolve_session
from watchkeeper.runtime.context import AppContext

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_db(request: Request) -> AsyncIterator[Session]:
    """Yield a store session; the route commits what it changes.

    Async on purpose: making a Session does no I/O, and a sync generator dependency would
    cost two thread-pool hops per request.
    """
    db = get_ctx(request).sessions()
    try:
        yield db
    finally:
        db.close()


Db = Annotated[Session, Depends(get_db)]


def _resolve(db: Session, token: str) -> SessionInfo | None:
    info = resolve_session(db, token)
    db.commit()  # persists the idle-timer refresh or the removal of an expired session
    return info


async def current_session(request: Request, db: Db) -> SessionInfo | None:
    token = request.cookies.get(COOKIE_NAME, "")
    info = await run_in_threadpool(_resolve, db, token) if token else None
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
