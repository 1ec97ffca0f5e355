"""Every route declares the permission it needs, and the permissions hold.

The walk covers every route of the real app (API and web pages); a route passes when one of
its dependencies, however deep, carries ``required_role`` (set by ``api.deps.require``) or
``required_stage`` (the sign-in steps between password and second factor), or when it is in
``PUBLIC`` with the reason it may be. The matrix then calls every role-guarded route as each
role and checks that the roles below are refused (403) and the others are let through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select
from starlette.routing import BaseRoute, Mount

from tests.conftest import make_user, remember_secret
from tests.helpers import LiveServer
from watchkeeper.api.deps import CSRF_HEADER, require
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.roles import ROLES
from watchkeeper.auth.sessions import COOKIE_NAME, start_session
from watchkeeper.auth.teams import add_member, create_team
from watchkeeper.auth.tokens import create_service_account, create_token
from watchkeeper.plan import catalog
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import User, WebSession

# (method, path) -> why it needs no signed-in user.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe for orchestrators; reveals nothing",
    ("GET", "/readyz"): "readiness probe; says only whether the store answers",
    ("GET", "/metrics"): "Prometheus scrape of Watchkeeper's own counters (no user data)",
    ("GET", "/api/v1/openapi.json"): "the API's description, public like its documentation",
    ("GET", "/login"): "the sign-in form",
    ("POST", "/login"): "signing in (CSRF by double-submit cookie, throttled)",
    ("GET", "/setup"): "first-run form; only works with the one-time setup link",
    ("POST", "/setup"): "creates the first admin; only with the one-time setup link",
    ("GET", "/ping/{key}"): "heartbeat push URL called by cron jobs; the key is the secret",
    ("POST", "/ping/{key}"): "heartbeat push URL called by cron jobs; the key is the secret",
    ("GET", "/ping/{key}/{action}"): "heartbeat start/fail/exit status/log; the key is the secret",
    ("POST", "/ping/{key}/{action}"): "heartbeat start/fail/exit status/log; the key is the secret",
    ("GET", "/i/{token}"): "signed, expiring incident link from a page; the signature is the key",
    ("POST", "/i/{token}"): "acknowledge/resolve through a signed, expiring link from a page",
    ("GET", "/status/{name}"): "public status page: only component statuses and posted updates",
    ("GET", "/status/{name}.json"): "public status page's JSON feed: the same public fields",
    ("GET", "/oncall/calendar/{person}.ics"): "on-call calendar for calendar apps, which "
    "cannot sign in; needs the HMAC token of the person's name (404 without it)",
    ("GET", "/calendar/users/{name}.ics"): "a user's maintenance calendar for calendar apps; "
    "needs the HMAC token of the user's name (404 without it)",
    ("GET", "/calendar/teams/{name}.ics"): "a team's maintenance calendar for calendar apps; "
    "needs the HMAC token of the team's name (404 without it)",
    ("POST", "/api/{project_id:int}/envelope/"): "Sentry SDKs send events here; the DSN "
    "public key is the credential (401/403 without the project's key)",
    ("POST", "/api/{project_id:int}/store/"): "Sentry SDKs' legacy event endpoint; the DSN "
    "public key is the credential (401/403 without the project's key)",
}
# Routes the walk does not judge: the static files.
EXEMPT_MOUNTS = {"/static"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _route_contexts(app: FastAPI) -> Iterator[Any]:
    """Every route of ``app`` as the router sees it (included routers flattened)."""
    from fastapi import routing

    walker = getattr(routing, "iter_route_contexts", None)
    if walker is None:  # older FastAPI: included routes are copied into app.routes
        yield from app.routes
    else:
        yield from walker(app.routes)


def _guards(dependant: Any) -> dict[str, Any]:
    """``required_role`` / ``required_stage`` found anywhere in the dependency tree."""
    found: dict[str, Any] = {}
    for sub in getattr(dependant, "dependencies", []):
        for attr in ("required_role", "required_stage"):
            value = getattr(sub.call, attr, None)
            if value:
                found.setdefault(attr, value)
        for key, value in _guards(sub).items():
            found.setdefault(key, value)
    return found


def routes_of(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, guards) for every method of every route; mounts are listed with
    method "MOUNT"."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for route in _route_contexts(app):
        original: BaseRoute = getattr(route, "original_route", route)
        path = str(getattr(route, "path", "") or "")
        if isinstance(original, Mount):
            out.append(("MOUNT", path, {}))
            continue
        guards = _guards(getattr(route, "dependant", None))
        for method in sorted(set(getattr(route, "methods", None) or {"ANY"}) - IGNORED_METHODS):
            out.append((method, path, guards))
    return out


def unguarded(app: FastAPI) -> list[str]:
    """Routes with neither a permission nor an entry in ``PUBLIC``."""
    bad = []
    for method, path, guards in routes_of(app):
        if method == "MOUNT":
            if path not in EXEMPT_MOUNTS:
                bad.append(f"mount {path}")
            continue
        if not guards and (method, path) not in PUBLIC:
            bad.append(f"{method} {path}")
    return bad


@pytest.fixture
def app(ctx: AppContext) -> FastAPI:
    return create_app(ctx)


def test_every_route_declares_a_permission_or_is_public(app: FastAPI) -> None:
    assert unguarded(app) == []


def test_public_routes_exist_and_carry_no_permission(app: FastAPI) -> None:
    """The PUBLIC table lists only real routes, each with a reason, none of them guarded
    (a guarded route listed as public would hide a mistake)."""
    routes = {(m, p): g for m, p, g in routes_of(app)}
    for key, reason in PUBLIC.items():
        assert key in routes, f"{key} is listed as public but is not a route"
        assert routes[key] == {}, f"{key} is listed as public but declares {routes[key]}"
        assert len(reason) > 10


def test_the_walk_sees_the_routes_of_included_routers(app: FastAPI) -> None:
    paths = {(m, p) for m, p, _ in routes_of(app)}
    for expected in [
        ("GET", "/api/v1/status"),
        ("POST", "/api/v1/tokens"),
        ("PATCH", "/api/v1/users/{username}"),
        ("GET", "/account"),
        ("GET", "/access"),
        ("GET", "/{slug}"),
    ]:
        assert expected in paths
    guards = {(m, p): g for m, p, g in routes_of(app)}
    assert guards[("GET", "/access")] == {"required_role": "admin"}
    assert guards[("DELETE", "/api/v1/me/sessions")] == {"required_role": "viewer"}


def _needs_operator(_: Annotated[Any, require("operator")]) -> None:
    """A dependency that carries the role one level down (the walk must look deep)."""


def test_the_walk_catches_a_route_without_a_permission() -> None:
    from fastapi import APIRouter

    demo = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    router = APIRouter(prefix="/api/v1")

    @router.get("/open")
    def open_route() -> dict[str, str]:
        return {}

    @router.get("/guarded-deep")
    def guarded(_: Annotated[None, Depends(_needs_operator)]) -> dict[str, str]:
        return {}

    demo.include_router(router)
    demo.mount("/files", app=FastAPI())
    assert unguarded(demo) == ["GET /api/v1/open", "mount /files"]
    assert {p: g for _, p, g in routes_of(demo)}["/api/v1/guarded-deep"] == {
        "required_role": "operator"
    }


# -- the role x route matrix ----------------------------------------------------------------


def _fixture_objects(ctx: AppContext) -> dict[str, str]:
    """Objects for the path parameters; return the values to substitute."""
    for role in ROLES:
        make_user(ctx, f"as-{role}", role)
    make_user(ctx, "target", "viewer")
    actor = Actor("test")
    with ctx.sessions() as db:
        catalog.create_object(
            db, "checks", {"name": "web", "type": "http", "url": "http://127.0.0.1:9/"}, actor
        )
        create_service_account(db, actor, "robot", "operator")
        robot = db.scalar(select(User).where(User.username == "robot"))
        assert robot is not None
        token = create_token(db, actor, robot, "matrix", "viewer")
        remember_secret(token.token)
        create_team(db, actor, "crew")
        add_member(db, actor, "crew", "target")
        db.commit()
    return {
        "kind": "checks",
        "name": "web",
        "slug": "checks",
        "username": "target",
        "account": "robot",
        "token_id": str(token.view.id),
        "team": "crew",
        "member": "target",
        "key_id": "1",
        "alert_id": "1",
        "silence_id": "no-such-silence",
        "override_id": "999999",  # no such on-call override: 404
        "person": "target",  # not in oncall.people: the calendar answers 404
        "update_id": "999999",
        "incident_id": "999999",  # no such incident: the routes answer 404, not 401/403
        "item_id": "999999",
        "link_id": "999999",  # no such tracker issue: 404
        "search_id": "999999",  # no such saved log search: 404
        "policy": "no-such-policy",  # no backup policy in the plan: 404
        "database": "no-such-database",  # no database in the plan: 404
        "task": "no-such-task",
        "key": "no-such:finding",
        "run_id": "999999",  # no such maintenance run: 404
        "control": "NO-SUCH-CONTROL",  # no such compliance control: 404
        "report_id": "999999",  # no such compliance report: 404
        "inventory_id": "999999",  # no such stored inventory: 404
        "finding_id": "999999",  # no such vulnerability finding: 404
        "suppression_id": "999999",  # no such suppression: 404
        "action_id": "999999",  # no such patch action: 404
        "import_id": "999999",  # no such vulnerability-database import: 404
        "vuln_id": "NO-SUCH-VULN",  # no such OSV record: 404
        "host": "no-such-host",  # no hardening audit of that host: 404
        "issue_id": "999999",  # no such error issue: 404
        "deploy_id": "999999",  # no such deploy: 404
        "version": "1",  # runbook revision; no runbook is named "checks" (slug): 404
        "forecast_id": "999999",  # no such capacity forecast: 404
        "instance_id": "999999",  # no such task instance: 404
        "file_id": "999999",  # no such file of a task instance: 404
        "session_id": "999999",  # no such training session: 404
    }


def _csrf_of(ctx: AppContext, token: str) -> str:
    from watchkeeper.auth.sessions import session_id_of

    with ctx.sessions() as db:
        row = db.get(WebSession, session_id_of(token))
        assert row is not None
        return row.csrf_token


def _new_session(ctx: AppContext, username: str) -> tuple[str, str]:
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None
        token = remember_secret(start_session(db, user, "127.0.0.1", "matrix"))
        db.commit()
    return token, _csrf_of(ctx, token)


def _matrix_routes(app: FastAPI, values: dict[str, str]) -> tuple[list[Any], list[str]]:
    """(method, concrete path, needed role) for the role-guarded routes whose path
    parameters all have a value; and the routes skipped for want of one."""
    checked, skipped = [], []
    for method, path, guards in routes_of(app):
        role = guards.get("required_role")
        if not role or method in ("MOUNT", "ANY"):
            continue
        params = re.findall(r"{(\w+)(?::\w+)?}", path)
        if any(p not in values for p in params):
            skipped.append(f"{method} {path}")
            continue
        concrete = re.sub(r"{(\w+)(?::\w+)?}", lambda m: values[m.group(1)], path)
        checked.append((method, concrete, role))
    return checked, skipped


def test_role_route_matrix(ctx: AppContext, server: LiveServer) -> None:
    values = _fixture_objects(ctx)
    checked, skipped = _matrix_routes(create_app(ctx), values)
    assert len(checked) >= 60, (checked, skipped)
    assert len(skipped) <= 3, skipped
    failures = []
    with httpx.Client(base_url=server.url, timeout=10, follow_redirects=False) as client:
        for method, path, needed in checked:
            for role in ROLES:  # lowest first: the refusals run before any change is made
                token, csrf = _new_session(ctx, f"as-{role}")
                client.cookies.clear()
                client.cookies.set(COOKIE_NAME, token)
                resp = client.request(
                    method, path, headers={CSRF_HEADER: csrf, "Accept": "application/json"}
                )
                below = ROLES.index(role) < ROLES.index(needed)
                if below and resp.status_code != 403:
                    failures.append(f"{role} {method} {path}: {resp.status_code}, expected 403")
                if not below and resp.status_code in (401, 403):
                    failures.append(f"{role} {method} {path}: {resp.status_code} {resp.text[:120]}")
    assert failures == []


def test_anonymous_calls_are_refused_everywhere_but_public(
    ctx: AppContext, server: LiveServer
) -> None:
    """Without a session, API routes answer 401 and pages redirect to the sign-in page."""
    values = _fixture_objects(ctx)
    checked, _ = _matrix_routes(create_app(ctx), values)
    with httpx.Client(base_url=server.url, timeout=10, follow_redirects=False) as client:
        for method, path, _role in checked:
            resp = client.request(method, path)
            if path.startswith("/api/"):
                assert resp.status_code == 401, (method, path, resp.status_code)
            else:
                # Pages redirect; the few JSON endpoints pages call answer 401.
                assert resp.status_code in (303, 401), (method, path, resp.status_code)
                if resp.status_code == 303:
                    assert resp.headers["location"].startswith("/login"), (method, path)


def test_api_tokens_obey_the_matrix_on_api_routes(ctx: AppContext, server: LiveServer) -> None:
    """A token of each role: refused below the route's role, let through at or above it,
    without a CSRF token."""
    values = _fixture_objects(ctx)
    checked, _ = _matrix_routes(create_app(ctx), values)
    bearer: dict[str, str] = {}
    with ctx.sessions() as db:
        owner = db.scalar(select(User).where(User.username == "as-admin"))
        assert owner is not None
        for role in ROLES:
            bearer[role] = remember_secret(
                create_token(db, Actor("test"), owner, f"t-{role}", role).token
            )
        db.commit()
    failures = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for method, path, needed in checked:
            if not path.startswith("/api/"):
                continue
            for role in ROLES:
                resp = client.request(
                    method, path, headers={"Authorization": f"Bearer {bearer[role]}"}
                )
                below = ROLES.index(role) < ROLES.index(needed)
                if below and resp.status_code != 403:
                    failures.append(f"{role} {method} {path}: {resp.status_code}, expected 403")
                if not below and resp.status_code in (401, 403):
                    failures.append(f"{role} {method} {path}: {resp.status_code} {resp.text}")
    assert failures == []
