"""`GET /api/v1/agent/log-sources` on a real server, and the whole way of a log line: a file
on the agent's host, the agent (sources from the server's plan), `POST /api/v1/logs`, the
store, a search."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.conftest import agent_config, agent_token
from tests.agent.logutil import append
from tests.helpers import LiveServer
from watchkeeper.agent.log_sources import parse_sources
from watchkeeper.agent.run import Agent
from watchkeeper.auth.audit import Actor
from watchkeeper.logs.model import LogLine
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext


def add_source(ctx: AppContext, kind: str, spec: dict[str, Any]) -> None:
    with ctx.sessions() as db:
        catalog.create_object(db, kind, spec, Actor("test"))
        db.commit()


def get_sources(server: LiveServer, token: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/api/v1/agent/log-sources",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_an_agent_gets_the_sources_whose_hosts_match_its_host(
    ctx: AppContext, server: LiveServer
) -> None:
    add_source(ctx, "logs.files", {"name": "nginx", "paths": ["/var/log/nginx/*.log"]})
    add_source(
        ctx,
        "logs.files",
        {"name": "shop", "hosts": ["web-*", "api-1"], "paths": ["/srv/shop/*.log"]},
    )
    add_source(ctx, "logs.files", {"name": "pg", "hosts": ["db-*"], "paths": ["/var/log/pg"]})
    add_source(ctx, "logs.journald", {"name": "sshd", "hosts": ["WEB-*"], "units": ["ssh"]})
    token = agent_token(ctx)

    web = get_sources(server, token, host="web-7")
    assert web.status_code == 200, web.text
    body = web.json()
    assert [s["name"] for s in body["files"]] == ["nginx", "shop"]
    assert [s["name"] for s in body["journald"]] == ["sshd"]  # host names ignore case
    assert body["files"][1]["paths"] == ["/srv/shop/*.log"]
    assert parse_sources(body).files[1].name == "shop"  # the agent reads what it is sent

    db = get_sources(server, token, host="db-1").json()
    assert [s["name"] for s in db["files"]] == ["nginx", "pg"] and db["journald"] == []


@pytest.mark.parametrize(
    ("params", "status"),
    [({}, 422), ({"host": "bad host!"}, 422), ({"host": "x" * 201}, 422)],
)
def test_a_missing_or_bad_host_is_a_422_naming_it(
    ctx: AppContext, server: LiveServer, params: dict[str, str], status: int
) -> None:
    resp = get_sources(server, agent_token(ctx), **params)
    assert resp.status_code == status
    assert "host" in resp.text


def test_a_viewer_token_may_not_read_the_log_sources(ctx: AppContext, server: LiveServer) -> None:
    assert get_sources(server, agent_token(ctx, "viewer"), host="web-1").status_code == 403
    assert httpx.get(f"{server.url}/api/v1/agent/log-sources?host=a", timeout=10).status_code == 401


def test_the_agent_skips_sources_it_cannot_use_and_keys_it_does_not_know() -> None:
    sources = parse_sources(
        {
            "files": [
                {"name": "ok", "paths": ["/a"], "from_a_newer_server": True},
                {"name": "bad", "paths": "not a list"},
                "not an object",
            ],
            "journald": [{"name": "j"}],
            "other": [],
        }
    )
    assert [s.name for s in sources.files] == ["ok"]
    assert [s.name for s in sources.journald] == ["j"]
    assert parse_sources(["not", "an", "object"]).files == []


def searched(ctx: AppContext, query: str) -> list[LogLine]:
    ctx.logs.drain()
    return list(reversed(ctx.logs.search(query, 0, 2**63 - 1, limit=1000)))


def test_lines_written_on_the_host_are_searchable_on_the_server(
    ctx: AppContext, server: LiveServer, tmp_path: Path
) -> None:
    logdir = tmp_path / "log"
    logdir.mkdir()
    (logdir / "app.log").write_text("2026-01-01 09:59:59 INFO was there before\n")
    add_source(
        ctx,
        "logs.files",
        {
            "name": "shop",
            "hosts": ["test-*"],
            "paths": [str(logdir / "*.log")],
            "labels": {"app": "shop"},
            "start_at": "beginning",
            "multiline": {"start": r"^\d{4}-", "timeout": "1s"},
        },
    )
    add_source(ctx, "logs.files", {"name": "elsewhere", "hosts": ["db-*"], "paths": ["/x"]})
    config = dataclasses.replace(
        agent_config(server.url, agent_token(ctx), tmp_path / "spool"),
        interval=0.5,
        log_poll=0.05,
        log_glob_every=0.1,
    )
    agent = Agent(config)
    trace = (
        "2026-01-01 10:00:01 ERROR payment failed\n"
        "java.lang.IllegalStateException: declined\n"
        "\tat com.shop.Pay.charge(Pay.java:12)\n"
    )

    async def scenario() -> list[LogLine]:
        task = asyncio.create_task(agent.run())
        try:
            deadline = time.monotonic() + 30
            while "file/plan/shop" not in agent.logs.files:
                assert time.monotonic() < deadline and not task.done()
                await asyncio.sleep(0.02)
            assert list(agent.logs.files) == ["file/plan/shop"]
            append(logdir / "app.log", trace + "2026-01-01 10:00:02 INFO ok\n")
            (logdir / "other.log").write_text("2026-01-01 10:00:03 INFO a new file\n")
            while len(found := await asyncio.to_thread(searched, ctx, '{app="shop"}')) < 4:
                assert time.monotonic() < deadline, found
                await asyncio.sleep(0.05)
            return found
        finally:
            agent.stop()
            await task
            await agent.close()

    found = asyncio.run(scenario())
    by_message = {line.message: line for line in found}
    assert sorted(by_message) == [
        "2026-01-01 09:59:59 INFO was there before",
        trace.rstrip("\n"),
        "2026-01-01 10:00:02 INFO ok",
        "2026-01-01 10:00:03 INFO a new file",
    ]
    assert len(found) == 4  # once each
    assert dict(by_message[trace.rstrip("\n")].labels) == {
        "app": "shop",
        "filename": str(logdir / "app.log"),
        "host": "test-host",
        "source": "file",
    }
    assert len(agent.spool.entries("logs")) == 0
