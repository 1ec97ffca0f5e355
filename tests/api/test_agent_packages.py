"""`GET /api/v1/agent/inventories`, `POST /api/v1/agent/packages` and `GET
/api/v1/security/inventories[/{id}]` on a real server."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.agent.conftest import agent_token
from tests.helpers import LiveServer
from watchkeeper.auth.audit import Actor
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import HostPackages

AT = "2026-03-01T12:00:00+00:00"
DPKG = [["openssl", "3.0.11-1~deb12u2"], ["zlib", "1:1.2.13.dfsg-1"]]


def post(server: LiveServer, token: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{server.url}/api/v1/agent/packages",
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
        timeout=10,
    )


def get(server: LiveServer, token: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def report(*entries: dict[str, Any], at: str = AT) -> dict[str, Any]:
    return {"host": "web-1", "collected_at": at, "inventories": list(entries)}


def dpkg(packages: list[list[str]] = DPKG) -> dict[str, Any]:
    return {"ecosystem": "Debian", "location": "dpkg", "distro": "12", "packages": packages}


def count_rows(ctx: AppContext) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(HostPackages)) or 0


def test_an_agent_gets_the_merged_spec_of_its_inventories(
    ctx: AppContext, server: LiveServer
) -> None:
    with ctx.sessions() as db:
        catalog.create_object(
            db,
            "security.inventories",
            {"name": "shop", "hosts": ["web-*"], "python": ["/srv/shop/.venv"], "interval": "1h"},
            Actor("test"),
        )
        catalog.create_object(
            db, "security.inventories", {"name": "base", "os_updates": False}, Actor("test")
        )
        db.commit()
    token = agent_token(ctx)
    web = get(server, token, "/api/v1/agent/inventories", host="web-1").json()
    assert web["inventories"] == ["shop", "base"]
    assert web["python"] == ["/srv/shop/.venv"] and web["interval_seconds"] == 3600
    assert web["debian"] is True and web["os_updates"] is True  # "shop" asks for them
    other = get(server, token, "/api/v1/agent/inventories", host="db-1").json()
    assert (other["inventories"], other["python"], other["os_updates"]) == (["base"], [], False)
    bad = get(server, token, "/api/v1/agent/inventories", host="bad host")
    assert bad.status_code == 422 and "host" in bad.text


def test_a_report_is_stored_once_and_confirmed_after(ctx: AppContext, server: LiveServer) -> None:
    token = agent_token(ctx)
    first = post(server, token, gzip.compress(json.dumps(report(dpkg())).encode()),
                 **{"Content-Encoding": "gzip"})  # fmt: skip
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": 1, "unchanged": 0, "failed": 0, "gone": 0, "resend": []}
    again = post(server, token, report(dpkg(list(reversed(DPKG))), at="2026-03-01T18:00:00Z"))
    assert again.json()["unchanged"] == 1
    assert count_rows(ctx) == 1

    viewer = agent_token(ctx, "viewer")
    listed = get(server, viewer, "/api/v1/security/inventories").json()["inventories"]
    assert [(i["host"], i["ecosystem"], i["location"], i["package_count"]) for i in listed] == [
        ("web-1", "Debian", "dpkg", 2)
    ]
    assert listed[0]["first_seen_at"] == "2026-03-01T12:00:00Z"
    assert listed[0]["collected_at"] == "2026-03-01T18:00:00Z"
    detail = get(server, viewer, f"/api/v1/security/inventories/{listed[0]['id']}").json()
    assert detail["packages"] == DPKG and detail["distro"] == "12"
    assert [h["id"] for h in detail["history"]] == [listed[0]["id"]]
    missing = get(server, viewer, "/api/v1/security/inventories/999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    none = get(server, viewer, "/api/v1/security/inventories", ecosystem="npm")
    assert none.json() == {"inventories": []}


ROW = ["flask", "3.0.2"]
BAD_BODIES: list[tuple[str, Any, str]] = [
    ("no host", {"collected_at": AT, "inventories": []}, "host"),
    ("bad host", {"host": "web 1", "collected_at": AT}, "host"),
    ("naive time", {"host": "h", "collected_at": "2026-03-01T12:00:00"}, "collected_at"),
    ("ecosystem", report({"ecosystem": "pip", "location": "x", "packages": [ROW]}), "ecosystem"),
    (
        "short row",
        report({"ecosystem": "PyPI", "location": "x", "packages": [["flask"]]}),
        "inventories[0].packages[0]",
    ),
    (
        "os-updates row",
        report({"ecosystem": "os-updates", "location": "apt", "packages": [ROW]}),
        "a os-updates row is 4 strings",
    ),
    (
        "long name",
        report({"ecosystem": "PyPI", "location": "x", "packages": [["a" * 256, "1"]]}),
        "at most 255 characters",
    ),
    (
        "error and packages",
        report({"ecosystem": "PyPI", "location": "x", "packages": [ROW], "error": "e"}),
        "carries no `packages`",
    ),
    ("no digest", report({"ecosystem": "PyPI", "location": "x"}), "64 hex digits"),
    (
        "twice",
        report(
            {"ecosystem": "PyPI", "location": "x", "packages": [ROW]},
            {"ecosystem": "PyPI", "location": "x", "packages": [ROW]},
        ),
        "PyPI x is listed twice",
    ),
    ("unknown key", report({"ecosystem": "PyPI", "location": "x", "pkgs": []}), "pkgs"),
    ("not json", b"{not json", "JSON"),
]


def test_a_bad_body_is_a_422_naming_the_field(ctx: AppContext, server: LiveServer) -> None:
    token = agent_token(ctx)
    for what, body, expected in BAD_BODIES:  # one server for the table: it is the slow part
        resp = post(server, token, body)
        assert resp.status_code == 422, (what, resp.text)
        assert resp.headers["content-type"] == "application/problem+json", what
        assert expected in resp.text, (what, resp.text)
    assert count_rows(ctx) == 0


def test_the_errors_listed_are_bounded(ctx: AppContext, server: LiveServer) -> None:
    body = report({"ecosystem": "PyPI", "location": "x", "packages": [[1, 2]] * 500})
    resp = post(server, agent_token(ctx), body)
    assert resp.status_code == 422 and len(resp.json()["errors"]) == 20


def test_bodies_that_cannot_be_read(ctx: AppContext, server: LiveServer) -> None:
    token = agent_token(ctx)
    bomb = gzip.compress(b" " * (40 << 20))  # 40 MB of spaces, 40 kB compressed
    too_big = post(server, token, bomb, **{"Content-Encoding": "gzip"})
    assert too_big.status_code == 413 and "larger than 32 MB" in too_big.text
    not_gzip = post(server, token, b"plain", **{"Content-Encoding": "gzip"})
    assert not_gzip.status_code == 400 and "not valid gzip" in not_gzip.text
    brotli = post(server, token, report(), **{"Content-Encoding": "br"})
    assert brotli.status_code == 415
    assert brotli.headers["content-type"] == "application/problem+json"


def test_only_agent_tokens_may_report(ctx: AppContext, server: LiveServer) -> None:
    assert post(server, agent_token(ctx, "viewer"), report(dpkg())).status_code == 403
    assert httpx.post(f"{server.url}/api/v1/agent/packages", timeout=10).status_code == 401
    assert httpx.get(f"{server.url}/api/v1/security/inventories", timeout=10).status_code == 401
    assert count_rows(ctx) == 0
