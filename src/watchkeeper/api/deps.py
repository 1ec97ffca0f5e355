"""Dependencies shared by API routes and web pages: store sessions, users, roles, CSRF."""

from __future__ import annotations

import base64
import hmac
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.auth.audit import Actor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import COOKIE_NAME, SessionInfo, resolve_session
from watchkeeper.auth.tokens import TOKEN_PREFIX, resolve_token
from watchkeeper.runtime.context import AppContext

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
TOKEN_PATHS = ("/api/", "/loki/api/")
"""Paths that take API tokens: the API, and the Loki-compatible log push endpoint."""


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


def _resolve_bearer(db: Session, token: str) -> SessionInfo | None:
    info = resolve_token(db, token)
    db.commit()  # persists last_used_at
    return info


def bearer_token(request: Request) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header (None when there is none)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def basic_token(request: Request) -> str | None:
    """Return the password of an ``Authorization: Basic`` header when it is an API token
    (``wk_...``; the user name is ignored), else None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        return None
    _, colon, password = decoded.partition(":")
    return password if colon and password.startswith(TOKEN_PREFIX) else None


async def current_session(request: Request, db: Db) -> SessionInfo | None:
    """Who calls: an API token (``Authorization: Bearer``, on TOKEN_PATHS only) or the
    session cookie. A bearer token that is not valid is refused outright (401)."""
    bearer = bearer_token(request) if request.url.path.startswith(TOKEN_PATHS) else None
    if bearer is not None:
        info = await run_in_threadpool(_resolve_bearer, db, bearer)
        if info is None:
            raise HTTPException(
                401,
                "the API token is not valid (unknown, expired or revoked)",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        request.state.user = info
        return info
    token = request.cookies.get(COOKIE_NAME, "")
    info = await run_in_threadpool(_resolve, db, token) if token else None
    request.state.user = info
    return info


async def session_or_basic_token(
    request: Request, db: Db, info: Annotated[SessionInfo | None, Depends(current_session)]
) -> SessionInfo | None:
    """``current_session``, or else an API token sent as the password of HTTP basic auth.

    Only for the push endpoints of log shippers (Promtail, Alloy, Vector often cannot send
    a bearer token); see ``require(basic=True)``. Elsewhere basic auth stays refused: a
    browser that cached basic credentials would send them with cross-site requests, and
    token calls skip the CSRF check. A token that is not valid is refused (401), without a
    ``Basic`` challenge, so that browsers never offer to remember one."""
    if info is not None:
        return info
    token = basic_token(request)
    if token is None:
        return None
    info = await run_in_threadpool(_resolve_bearer, db, token)
    if info is None:
        raise HTTPException(
            401,
            "the API token is not valid (unknown, expired or revoked)",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.state.user = info
    return info


class LoginRequired(Exception):
    """Raised by page dependencies; the web layer turns it into a redirect to /login
    (or to ``location`` when given)."""

    def __init__(self, location: str = "") -> None:
        super().__init__(location)
        self.location = location


async def check_csrf(request: Request, info: SessionInfo) -> None:
    """Raise 403 unless an unsafe request carries the session's CSRF token.

    Calls made with an API token are exempt: no cookie is involved, so another site cannot
    make a browser send one."""
    if request.method in SAFE_METHODS or info.via_token:
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


def require(role: str, *, page: bool = False, basic: bool = False) -> Any:
    """Return a dependency that needs a signed-in user with at least ``role``.

    API routes answer 401/403 problems; pages (``page=True``) redirect to the login page.
    ``basic=True`` also takes an API token as the password of HTTP basic auth (log push).
    """

    async def allowed(request: Request, info: SessionInfo | None) -> SessionInfo:
        if info is None:
            if page:
                raise LoginRequired()
            raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Cookie"})
        if not role_allows(info.role, role):
            raise HTTPException(403, f"this needs the {role} role; you are {info.role}")
        await check_csrf(request, info)
        return info

    # Two definitions, not one naming a variable: FastAPI reads these (string) annotations
    # in the module's globals, where a local would not be found.
    if basic:

        async def dependency(
            request: Request, info: Annotated[SessionInfo | None, Depends(session_or_basic_token)]
        ) -> SessionInfo:
            return await allowed(request, info)

    else:

        async def dependency(
            request: Request, info: Annotated[SessionInfo | None, Depends(current_session)]
        ) -> SessionInfo:
            return await allowed(request, info)

    dependency.required_role = role  # type: ignore[attr-defined]
    return Depends(dependency)


def _resolve_in(db: Session, token: str, stages: tuple[str, ...]) -> SessionInfo | None:
    info = resolve_session(db, token, stages)
    db.commit()
    return info


def _next_param(request: Request) -> str:
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def staged(*stages: str, page: bool = True) -> Any:
    """Return a dependency that needs a session in one of ``stages``: "mfa" (password given,
    second factor next), "enrol" (must set up a second factor first) or "full".

    For the sign-in steps between password and full session. Pages (``page=True``) send a
    caller without such a session to /login, and a fully signed-in one on to ``next``; JSON
    routes answer 401. Unsafe methods need the session's CSRF token, as with ``require()``.
    """
    wanted = tuple(stages) or ("full",)

    async def dependency(request: Request, db: Db) -> SessionInfo:
        token = request.cookies.get(COOKIE_NAME, "")
        accept = (*wanted, "full") if "full" not in wanted else wanted
        info = await run_in_threadpool(_resolve_in, db, token, accept) if token else None
        if info is None or info.stage not in wanted:
            if not page:
                raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Cookie"})
            if info is not None:  # already fully signed in: nothing to do here
                raise LoginRequired(_next_param(request))
            raise LoginRequired(f"/login?next={quote(_next_param(request))}")
        if info.stage == "full":
            request.state.user = info
        await check_csrf(request, info)
        return info

    dependency.required_stage = wanted  # type: ignore[attr-defined]
    return Depends(dependency)


def request_actor(request: Request, info: SessionInfo) -> Actor:
    """The signed-in user and their address, for the audit trail."""
    return Actor(info.username, request.client.host if request.client else "")
