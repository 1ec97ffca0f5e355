"""Heartbeat push URLs on a real server: every kind of ping, bad keys, and a ping that brings
a down heartbeat up at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.checks.test_runner import declare, status_of
from tests.helpers import LiveServer
from watchkeeper.api import pings as pings_api
from watchkeeper.checks.pings import BODY_LIMIT, ensure_key
from watchkeeper.checks.runner import CheckRunner
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import HeartbeatPing

HEARTBEAT = "  - {name: backup, type: heartbeat, period: 1d, grace: 1h}\n"


@pytest.fixture
def key(ctx: AppContext) -> str:
    declare(ctx.sessions, HEARTBEAT)
    with ctx.sessions() as db:
        return ensure_key(db, "backup", None).key


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def pings_of(ctx: AppContext) -> list[tuple[str, int | None, str]]:
    with ctx.sessions() as db:
        rows = db.scalars(select(HeartbeatPing).order_by(HeartbeatPing.id))
        return [(p.kind, p.exit_status, p.body) for p in rows]


def test_every_kind_of_ping_is_recorded(ctx: AppContext, client: httpx.Client, key: str) -> None:
    calls = [
        ("GET", f"/ping/{key}", ""),
        ("POST", f"/ping/{key}/start", ""),
        ("POST", f"/ping/{key}/fail", "disk full"),
        ("GET", f"/ping/{key}/0", ""),
        ("POST", f"/ping/{key}/3", "exit 3"),
        ("POST", f"/ping/{key}/log", "copied 12 files"),
        ("HEAD", f"/ping/{key}", ""),
    ]
    for method, path, body in calls:
        resp = client.request(method, path, content=body, headers={"User-Agent": "cron/1"})
        assert resp.status_code == 200, (method, path, resp.text)
        assert resp.text == ("" if method == "HEAD" else "OK")
    assert pings_of(ctx) == [
        ("success", None, ""),
        ("start", None, ""),
        ("fail", None, "disk full"),
        ("success", 0, ""),
        ("fail", 3, "exit 3"),
        ("log", None, "copied 12 files"),
        ("success", None, ""),
    ]
    with ctx.sessions() as db:
        ping = db.scalars(select(HeartbeatPing)).first()
        assert ping is not None
        assert (ping.remote_addr, ping.user_agent) == ("127.0.0.1", "cron/1")


def test_the_body_is_cut_at_the_limit(ctx: AppContext, client: httpx.Client, key: str) -> None:
    output = "x" * (BODY_LIMIT - 1) + "é" + "y" * 50_000  # cut in the middle of a character
    assert client.post(f"/ping/{key}/log", content=output.encode()).status_code == 200
    [(_, _, body)] = pings_of(ctx)
    assert body == "x" * (BODY_LIMIT - 1) + "\ufffd"


def test_the_key_is_not_case_sensitive(ctx: AppContext, client: httpx.Client, key: str) -> None:
    assert client.get(f"/ping/{key.upper()}").text == "OK"
    assert pings_of(ctx) == [("success", None, "")]


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/ping/00000000-0000-4000-8000-000000000000", 404, "no heartbeat check has this ping key"),
        (
            "/ping/{key}/finish",
            404,
            'no ping "finish": use /start, /fail, /log or an exit status (/0 to /255)',
        ),
        ("/ping/{key}/256", 422, "invalid exit status"),
    ],
)
def test_bad_pings_are_refused_and_not_recorded(
    ctx: AppContext, client: httpx.Client, key: str, path: str, status: int, detail: str
) -> None:
    resp = client.post(path.format(key=key), content="body")
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["detail"] == detail
    assert pings_of(ctx) == []


def test_pings_need_no_sign_in_but_other_routes_still_do(client: httpx.Client, key: str) -> None:
    assert client.get(f"/ping/{key}").status_code == 200
    assert client.get("/api/v1/checks/backup/pings").status_code == 401


def test_a_ping_brings_a_down_heartbeat_up_at_once(ctx: AppContext) -> None:
    declare(ctx.sessions, "  - {name: backup, type: heartbeat, period: 1d, interval: 1h}\n")
    with ctx.sessions() as db:
        key = ensure_key(db, "backup", None).key
    runner = CheckRunner(ctx.sessions, flush_interval=0.1)
    app = create_app(ctx, services=[runner])
    app.state.nudge_check = runner.run_now  # as `watchkeeper up` wires it

    def wait_for(status: str) -> None:
        deadline = time.monotonic() + 20
        while status_of(ctx.sessions, "backup") != status:
            assert time.monotonic() < deadline, f"backup never became {status}"
            time.sleep(0.05)

    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=10) as client:
        wait_for("up")  # the first scheduled run: waiting for the first ping
        # From here the next scheduled run is an hour away: only the pings' nudges judge.
        assert client.get(f"/ping/{key}/1").status_code == 200
        wait_for("down")
        assert client.get(f"/ping/{key}").status_code == 200
        wait_for("up")


def test_the_push_urls_are_documented_as_needing_no_sign_in() -> None:
    app = FastAPI()
    app.include_router(pings_api.router)
    paths = app.openapi()["paths"]  # a duplicate operation id would warn (an error here)
    for path in ("/ping/{key}", "/ping/{key}/{action}"):
        assert {m: op["security"] for m, op in paths[path].items()} == {"get": [], "post": []}
