"""Every API error is RFC 9457 problem+json, with fields named for validation errors."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import login, make_user
from tests.helpers import LiveServer
from watchkeeper.runtime.context import AppContext

PROBLEM = "application/problem+json"

CHECK = {"name": "web", "type": "http", "url": "http://127.0.0.1:9/health"}


def assert_problem(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    body: dict[str, object] = resp.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"] == "about:blank"
    assert "Traceback" not in resp.text
    return body


def test_unknown_api_route_is_problem(server: LiveServer) -> None:
    assert_problem(httpx.get(f"{server.url}/api/v1/nothing-here"), 404)


def test_unauthenticated_api_call_is_401(server: LiveServer) -> None:
    body = assert_problem(httpx.get(f"{server.url}/api/v1/status"), 401)
    assert body["instance"] == "/api/v1/status"


def test_invalid_object_lists_fields(admin: httpx.Client) -> None:
    resp = admin.post(
        "/api/v1/objects/checks", json={"name": "x", "type": "tcp", "host": "", "port": 70000}
    )
    body = assert_problem(resp, 422)
    fields = {e["field"] for e in body["errors"]}  # type: ignore[union-attr]
    assert any(f.endswith("port") for f in fields) and any(f.endswith("host") for f in fields)


def test_malformed_json_is_422(admin: httpx.Client) -> None:
    resp = admin.post(
        "/api/v1/objects/checks", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(resp, 422)


def test_unknown_kind_is_404(admin: httpx.Client) -> None:
    assert_problem(admin.get("/api/v1/objects/nope"), 404)


def test_duplicate_object_is_409(admin: httpx.Client) -> None:
    assert admin.post("/api/v1/objects/checks", json=CHECK).status_code == 201
    assert_problem(admin.post("/api/v1/objects/checks", json=CHECK), 409)


def test_plan_managed_object_is_read_only(admin: httpx.Client, ctx: AppContext) -> None:
    from watchkeeper.plan.apply import apply_plan
    from watchkeeper.plan.loader import load_plan_text

    loaded = load_plan_text("checks:\n  - {name: db, type: tcp, host: h, port: 5432}\n")
    with ctx.sessions() as session:
        apply_plan(session, loaded)
        session.commit()
    got = admin.get("/api/v1/objects/checks/db").json()
    assert got["managed"] is True
    body = assert_problem(
        admin.put(
            "/api/v1/objects/checks/db", json={"name": "db", "type": "tcp", "host": "h", "port": 1}
        ),
        409,
    )
    assert "managed by the plan" in str(body["detail"])
    assert_problem(admin.delete("/api/v1/objects/checks/db"), 409)


def test_ui_made_object_can_be_edited_and_deleted(admin: httpx.Client) -> None:
    assert admin.post("/api/v1/objects/checks", json=CHECK).status_code == 201
    changed = {**CHECK, "interval": "5m"}
    resp = admin.put("/api/v1/objects/checks/web", json=changed)
    assert resp.status_code == 200 and resp.json()["spec"]["interval"] == "5m"
    assert admin.delete("/api/v1/objects/checks/web").status_code == 204
    assert_problem(admin.get("/api/v1/objects/checks/web"), 404)


def test_unsafe_call_without_csrf_token_is_refused(admin: httpx.Client) -> None:
    token = admin.headers.pop("X-CSRF-Token")
    body = assert_problem(admin.post("/api/v1/objects/checks", json=CHECK), 403)
    assert "CSRF" in str(body["detail"])
    admin.headers["X-CSRF-Token"] = "wrong" + token
    assert_problem(admin.post("/api/v1/objects/checks", json=CHECK), 403)


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("viewer", "GET", "/api/v1/status", True),
        ("viewer", "GET", "/api/v1/objects/checks", True),
        ("viewer", "POST", "/api/v1/objects/checks", False),
        ("responder", "POST", "/api/v1/objects/checks", False),
        ("operator", "POST", "/api/v1/objects/checks", True),
        ("operator", "GET", "/api/v1/users", False),
        ("admin", "GET", "/api/v1/users", True),
        ("operator", "POST", "/api/v1/plan/apply", False),
    ],
)
def test_roles(
    ctx: AppContext, server: LiveServer, role: str, method: str, path: str, allowed: bool
) -> None:
    make_user(ctx, f"user-{role}", role)
    client = login(server.url, f"user-{role}")
    try:
        resp = client.request(method, path, json=CHECK if method == "POST" else None)
    finally:
        client.close()
    if allowed:
        assert resp.status_code < 400 or resp.status_code == 404, resp.text
    else:
        assert_problem(resp, 403)


def test_store_outage_is_503_problem(admin: httpx.Client, ctx: AppContext) -> None:
    from watchkeeper.store.engine import make_engine, session_factory

    # Point the running app at a store that cannot be reached.
    dead = make_engine("postgresql://nobody@127.0.0.1:1/none")
    ctx.sessions = session_factory(dead)
    try:
        resp = admin.get("/api/v1/objects/checks")
        assert_problem(resp, 503)
        assert resp.headers["retry-after"] == "5"
    finally:
        dead.dispose()
