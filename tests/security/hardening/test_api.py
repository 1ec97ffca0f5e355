"""The hardening API through a real server: roles on every route, an agent's round trip
(profile, audit, results, the remediation shown back, a run asked by an admin, results kept
while the server is away), bad pushes refused by field, and admin runs in the audit trail."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from tests.agent.conftest import agent_config, agent_token
from tests.helpers import LiveServer
from watchkeeper.agent.hardening import PENDING_FILE, HardeningAuditor
from watchkeeper.agent.push import Pusher
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.hardening.audits import server_host
from watchkeeper.security.hardening.service import HardeningService
from watchkeeper.store.tables import AuditEntry, HardeningRun

SignIn = Callable[..., httpx.Client]


def _plan(ctx: AppContext, paths: Path) -> None:
    text = f"""\
    security:
      hardening:
        - name: agents
          hosts: ["test-*"]
          interval: 1d
          system_paths: ["{paths}"]
          skip: ["NET-LISTENING-PORTS"]
        - name: everyone
          hosts: ["*"]
          system_paths: ["{paths}"]
    """
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(textwrap.dedent(text), env={}))
        db.commit()


ROUTES = [
    ("GET", "/api/v1/security/hardening", "viewer"),
    ("GET", "/api/v1/security/hardening/checks", "viewer"),
    ("GET", "/api/v1/security/hardening/runs?host=x", "viewer"),
    ("GET", "/api/v1/security/hardening/hosts/web-1", "viewer"),
    ("POST", "/api/v1/security/hardening/run", "admin"),
    ("GET", "/api/v1/agent/hardening?host=web-1", "operator"),
    ("POST", "/api/v1/agent/hardening", "operator"),
]
RANK = ["viewer", "responder", "operator", "admin"]


def test_every_route_needs_its_role(sign_in: SignIn, server: LiveServer) -> None:
    clients = {role: sign_in(f"u-{role}", role) for role in RANK}
    with httpx.Client(base_url=server.url) as anonymous:
        for method, path, needed in ROUTES:
            assert anonymous.request(method, path).status_code == 401, path
            for role, client in clients.items():
                body = {"host": "web-1"} if path.endswith("/run") else None
                status = client.request(method, path, json=body).status_code
                if RANK.index(role) < RANK.index(needed):
                    assert status == 403, (path, role)
                else:  # allowed: answered (web-1 has no audit: 404; an empty push: 422)
                    assert status in (200, 202, 404, 422), (path, role, status)


def test_agent_round_trip(
    ctx: AppContext, server: LiveServer, sign_in: SignIn, tmp_path: Path
) -> None:
    paths = tmp_path / "sys"
    paths.mkdir()
    (paths / "open").write_text("x")
    (paths / "open").chmod(0o666)
    _plan(ctx, paths)
    token = agent_token(ctx)

    async def cycle(url: str) -> object:
        pusher = Pusher(url, token, timeout=5)
        try:
            return await HardeningAuditor(
                agent_config(url, token, tmp_path / "spool"), pusher
            ).cycle()
        finally:
            await pusher.close()

    report = asyncio.run(cycle(server.url))
    assert report is not None
    with ctx.sessions() as db:
        run = db.scalars(select(HardeningRun).where(HardeningRun.host == "test-host")).one()
        assert run.profile == "agents,everyone"
        assert run.pushed_by.startswith("agents (token wk_")  # who sent it, not the token
        assert token not in run.pushed_by
    viewer = sign_in("viewer", "viewer")
    detail = viewer.get("/api/v1/security/hardening/hosts/test-host").json()
    assert detail["kind"] == "host" and detail["index"] == run.index
    assert detail["pushed_by"] == run.pushed_by and detail["queued_at"] is None
    first = detail["results"][0]
    assert (first["id"], first["status"]) == ("FILES-WORLD-WRITABLE", "fail")
    assert first["detail"] == f"1 world-writable: {paths / 'open'}"
    assert first["remediation"].startswith("Remove the write permission for others")
    skipped = next(r for r in detail["results"] if r["id"] == "NET-LISTENING-PORTS")
    assert skipped["status"] == "skip" and "by the profile" in skipped["detail"]

    assert asyncio.run(cycle(server.url)) is None  # not due for a day
    admin = sign_in("admin", "admin")
    asked = admin.post("/api/v1/security/hardening/run", json={"host": "test-host"})
    assert asked.status_code == 202 and asked.json()["requested"] == ["test-host"]
    queued = viewer.get("/api/v1/security/hardening/hosts/test-host").json()
    assert queued["queued_at"] == asked.json()["requested_at"]
    assert asyncio.run(cycle(server.url)) is not None  # the admin's request
    assert viewer.get("/api/v1/security/hardening").json()[0]["queued_at"] is None

    # The server away: an audit runs with the saved profile and waits in the state dir.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    pending = tmp_path / "spool" / "state" / PENDING_FILE

    async def offline() -> None:
        pusher = Pusher(dead, token, timeout=2)
        away = HardeningAuditor(agent_config(dead, token, tmp_path / "spool"), pusher)
        away.last_ran = None  # as after a lost state: due, with the saved profile
        assert away.applied is not None  # remembered from the last answer
        assert await away.cycle() is not None
        await pusher.close()

    asyncio.run(offline())
    assert pending.exists()
    asyncio.run(cycle(server.url))
    assert not pending.exists()
    runs = viewer.get("/api/v1/security/hardening/runs", params={"host": "test-host"}).json()
    assert len(runs) == 3  # the first, the one asked for, the one that waited
    hosts = viewer.get("/api/v1/security/hardening").json()
    assert [h["host"] for h in hosts] == ["test-host"] and len(hosts[0]["trend"]) == 3


def test_bad_pushes_are_refused_by_field(ctx: AppContext, server: LiveServer) -> None:
    token = agent_token(ctx)
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    good = {"host": "web-1", "ran_at": "2026-01-01T00:00:00Z", "results": []}
    bad_host = client.post("/api/v1/agent/hardening", json={**good, "host": "tls://x:443"})
    assert bad_host.status_code == 422
    assert bad_host.json()["errors"][0]["field"] == "host"
    bad_status = client.post(
        "/api/v1/agent/hardening",
        json={**good, "results": [{"id": "SSH-ROOT-LOGIN", "status": "meh"}]},
    )
    assert bad_status.status_code == 422
    assert bad_status.json()["errors"][0]["field"] == "results[0].status"
    naive = client.post("/api/v1/agent/hardening", json={**good, "ran_at": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    zipped = client.post(
        "/api/v1/agent/hardening",
        content=gzip.compress(json.dumps(good).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert zipped.status_code == 200 and zipped.json()["index"] is None
    odd = client.post("/api/v1/agent/hardening", content=b"{}", headers={"Content-Encoding": "br"})
    assert odd.status_code == 415
    client.close()


def test_admin_queues_the_server_audit(ctx: AppContext, sign_in: SignIn, tmp_path: Path) -> None:
    _plan(ctx, tmp_path)
    service = HardeningService(ctx.sessions, ctx.settings)
    assert [r.host for r in asyncio.run(service.run_once())] == [server_host()]
    admin = sign_in("admin", "admin")
    # Nothing runs in the request: it is queued for the hardening service (202).
    done = admin.post("/api/v1/security/hardening/run", json={"host": server_host()})
    assert done.status_code == 202, done.text
    assert done.json()["requested"] == [server_host()]
    twice = admin.post("/api/v1/security/hardening/run", json={})  # and the endpoints: none
    assert twice.status_code == 202 and twice.json()["requested"] == [server_host()]
    path = f"/api/v1/security/hardening/hosts/{server_host().replace('//', '/')}"
    detail = admin.get(path)
    assert detail.status_code == 200  # a proxy that merged the slashes does no harm
    assert detail.json()["kind"] == "server"
    assert detail.json()["queued_at"] == twice.json()["requested_at"]
    # Asked twice before it ran: one audit.
    assert [r.host for r in asyncio.run(service.run_once())] == [server_host()]
    assert asyncio.run(service.run_once()) == []
    assert admin.get(path).json()["queued_at"] is None

    missing = admin.post("/api/v1/security/hardening/run", json={"host": "tls://nowhere:443"})
    assert missing.status_code == 404
    other = admin.post("/api/v1/security/hardening/run", json={"host": "watchkeeper://other"})
    assert other.status_code == 404
    bad = admin.post("/api/v1/security/hardening/run", json={"host": "no good"})
    assert bad.status_code == 422
    with ctx.sessions() as db:
        actions = db.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "hardening.request")
        )
        assert list(actions) == [server_host(), "server and endpoints"]
