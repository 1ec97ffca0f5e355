"""HTML pages. Thin like the API: gather from the domain, render a template."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from watchkeeper.api.deps import Db, current_session, get_ctx, require
from watchkeeper.api.problems import _TITLES
from watchkeeper.auth import audit
from watchkeeper.auth import setup as first_run
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.login import sign_in
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import COOKIE_NAME, SessionInfo, end_session, start_session
from watchkeeper.auth.users import count_users
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.plan import catalog
from watchkeeper.plan.apply import last_apply
from watchkeeper.store.tables import User
from watchkeeper.web.nav import BY_SLUG, DOMAINS
from watchkeeper.web.plan_home import home_context
from watchkeeper.web.sparks import sparkline, uptime_bar

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
ANON_CSRF_COOKIE = "wk_csrf"
router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageAdmin = Annotated[SessionInfo, require("admin", page=True)]


def _assets() -> dict[str, bool]:
    vendor = STATIC_DIR / "vendor"
    return {
        "htmx": (vendor / "htmx.min.js").exists(),
        "normalize": (vendor / "modern-normalize.css").exists(),
        "uplot": (vendor / "uPlot.iife.min.js").exists(),
    }


def _static(path: str) -> str:
    return f"/static/{path}"


templates.env.globals.update(
    static=_static, domains=DOMAINS, uptime_bar=uptime_bar, sparkline=sparkline
)


def render(request: Request, template: str, /, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the signed-in user, their CSRF token and the asset flags."""
    info: SessionInfo | None = getattr(request.state, "user", None)
    base = {"user": info, "csrf_token": info.csrf_token if info else "", "assets": _assets()}
    response = templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def render_error(request: Request, status: int, detail: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status=status,
        status_code=status,
        title=_TITLES.get(status, "Error"),
        detail=detail,
    )


def anon_page(request: Request, template: str, /, status: int = 200, **context: Any) -> Response:
    """Render a form page for signed-out visitors, with a double-submit CSRF token: a random
    value in a SameSite=Strict cookie that the form must echo."""
    token = request.cookies.get(ANON_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, template, status=status, anon_csrf=token, **context)
    if request.cookies.get(ANON_CSRF_COOKIE) != token:
        response.set_cookie(
            ANON_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


def _anon_csrf_ok(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(ANON_CSRF_COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie, sent)


def _safe_next(target: str) -> str:
    # "/\evil.example" counts as "//evil.example" in browsers: an open redirect.
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def client_addr(request: Request) -> str:
    """The caller's address (the proxy's view of it when proxies are trusted)."""
    return request.client.host if request.client else ""


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """Put ``token`` in the session cookie: HttpOnly, SameSite=Lax, Secure behind TLS."""
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(ANON_CSRF_COOKIE, path="/")


def signed_in(request: Request, token: str, target: str) -> Response:
    """Redirect to ``target`` with the new session's cookie set."""
    response = RedirectResponse(_safe_next(target), status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.get("/login")
def login_page(
    request: Request,
    db: Db,
    info: Annotated[SessionInfo | None, Depends(current_session)],
    next: str = "/",
) -> Response:
    if info is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return anon_page(
        request,
        "login.html",
        next=_safe_next(next),
        no_users=count_users(db) == 0,
        page_title="Sign in",
    )


@router.post("/login")
def login(
    request: Request,
    db: Db,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not _anon_csrf_ok(request, csrf_token):
        return anon_page(
            request,
            "login.html",
            status=403,
            next=next,
            username=username,
            error="Your sign-in form expired; try again.",
        )
    result = sign_in(
        db, username, password, client_addr(request), request.headers.get("user-agent", "")
    )
    db.commit()
    if result.outcome == "throttled":
        minutes, seconds = divmod(result.retry_after, 60)
        wait = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
        response = anon_page(
            request,
            "login.html",
            status=429,
            next=next,
            username=username,
            error=f"Too many failed sign-ins. Try again in {wait}.",
        )
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.outcome == "denied":
        return anon_page(
            request,
            "login.html",
            status=401,
            next=next,
            username=username,
            error="Wrong user name or password.",
        )
    target = {
        "mfa": f"/login/mfa?next={quote(_safe_next(next))}",
        "enrol": f"/login/enrol?next={quote(_safe_next(next))}",
    }.get(result.outcome, next)
    return signed_in(request, result.token, target)


@router.post("/logout")
def logout(request: Request, db: Db, user: PageUser) -> Response:
    end_session(db, request.cookies.get(COOKIE_NAME, ""))
    audit.record(db, Actor(user.username, client_addr(request)), "logout", f"user/{user.username}")
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/setup")
def setup_page(request: Request, db: Db, token: str = "") -> Response:
    return anon_page(
        request,
        "setup.html",
        valid=first_run.setup_token_valid(db, token),
        token=token,
        page_title="First run",
    )


@router.post("/setup")
def setup(
    request: Request,
    db: Db,
    token: Annotated[str, Form()],
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not _anon_csrf_ok(request, csrf_token):
        return anon_page(
            request,
            "setup.html",
            status=403,
            valid=True,
            token=token,
            username=username,
            errors=["Your form expired; try again."],
        )
    try:
        user = first_run.complete_setup(db, token, username, password)
    except ValidationFailed as exc:
        db.rollback()
        errors = [f"{field.capitalize()} {msg}" for field, msg in exc.errors]
        return anon_page(
            request,
            "setup.html",
            status=422,
            valid=True,
            token=token,
            username=username,
            errors=errors,
        )
    except ConflictError:
        db.rollback()
        return render(request, "setup.html", status=409, valid=False)
    actor = Actor(user.username, client_addr(request))
    audit.record(
        db,
        actor,
        "user.create",
        f"user/{user.username}",
        {"role": user.role, "via": "first-run setup link"},
    )
    row = db.get(User, user.id)
    assert row is not None
    token = start_session(db, row, actor.client_addr, request.headers.get("user-agent", ""))
    audit.record(db, actor, "login", f"user/{user.username}")
    db.commit()
    return signed_in(request, token, "/")


@router.get("/")
def home(request: Request, db: Db, _: PageUser) -> Response:
    """The plan and whether each of its sections is being followed (web/plan_home.py)."""
    ctx = get_ctx(request)
    last = last_apply(db)
    plan = {
        "plan_name": last.plan_name if last else "",
        "plan_file": str(ctx.settings.plan_path) if ctx.settings.plan_path else None,
        "last_applied_at": last.applied_at if last else None,
        "plan_error": ctx.plan_error(),
    }
    return render(
        request,
        "home.html",
        plan=plan,
        active="home",
        page_title="Overview",
        assets_charts=True,
        scripts=["js/home.js"],
        **home_context(ctx, db),
    )


@router.get("/{slug}")
def domain_page(request: Request, slug: str, db: Db, user: PageUser) -> Response:
    domain = BY_SLUG.get(slug)
    if domain is None:
        raise NotFoundError(f'there is no page "/{quote(slug)}"')
    groups = []
    if domain.section:
        kinds = [
            k
            for k in catalog.collection_kinds()
            if k == domain.section or k.startswith(domain.section + ".")
        ]
        groups = [(k, catalog.list_objects(db, k)) for k in kinds]
    return render(
        request,
        "domain.html",
        domain=domain,
        groups=groups,
        active=slug,
        page_title=domain.title,
        can_create=role_allows(user.role, "operator"),
    )
