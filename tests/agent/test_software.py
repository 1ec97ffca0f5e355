"""The agent's inventories of installed software, against a real server on loopback: specs
from the plan, reports through the spool while the server is down, delivered once it is
back (across an agent restart), unchanged inventories confirmed without a new row, a lost
inventory sent again, and the agent's own loop."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select

from tests.agent.conftest import agent_config, agent_token
from tests.helpers import AiohttpServer, LiveServer, free_port
from watchkeeper.agent.config import AgentConfig
from watchkeeper.agent.run import Agent
from watchkeeper.agent.spool import PACKAGES
from watchkeeper.auth.audit import Actor
from watchkeeper.plan import catalog
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import HostPackages


def plan_inventory(ctx: AppContext, root: Path, interval: str = "6h") -> None:
    """An inventory of the requirements files under ``root`` for hosts test-*."""
    with ctx.sessions() as db:
        catalog.create_object(
            db,
            "security.inventories",
            {
                "name": "apps",
                "hosts": ["test-*"],
                "requirements": [f"{root}/*/requirements.txt"],
                "debian": False,
                "os_updates": False,
                "kernel": False,
                "interval": interval,
            },
            Actor("test"),
        )
        db.commit()


def apps(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    for app, pins in (("shop", "flask==2.3.3\njinja2==3.1.2\n"), ("blog", "django==4.2.11\n")):
        (root / app).mkdir(parents=True)
        (root / app / "requirements.txt").write_text(pins)
    return root


def stored(ctx: AppContext) -> list[tuple[str, list[list[str]], str]]:
    with ctx.sessions() as db:
        return [
            (r.location.rsplit("/", 2)[1], r.packages, r.error)
            for r in db.scalars(select(HostPackages).order_by(HostPackages.id))
        ]


@contextmanager
def serving(ctx: AppContext, port: int) -> Iterator[LiveServer]:
    with LiveServer(create_app(ctx), port) as live:
        yield live


def config(tmp_path: Path, server: str, token: str) -> AgentConfig:
    return agent_config(server, token, tmp_path / "spool", state_dir=tmp_path / "state")


async def with_agent(cfg: AgentConfig, work: Any) -> Any:
    agent = Agent(cfg)
    try:
        return await work(agent)
    finally:
        await agent.close()


def test_reports_spooled_while_the_server_is_down_arrive_when_it_is_back(
    ctx: AppContext, tmp_path: Path
) -> None:
    root = apps(tmp_path)
    plan_inventory(ctx, root)
    port = free_port()
    cfg = config(tmp_path, f"http://127.0.0.1:{port}", agent_token(ctx))

    with serving(ctx, port):  # the agent learns its inventories, then the server goes away
        asyncio.run(with_agent(cfg, lambda agent: agent.software.refresh()))

    async def collect_while_down(agent: Agent) -> float:
        assert agent.software.spec is not None and agent.software.spec.inventories == ["apps"]
        assert agent.software.collect_and_spool()
        return await agent.send_oldest(PACKAGES)

    assert asyncio.run(with_agent(cfg, collect_while_down)) > 0  # refused: retry later
    (entry,) = (tmp_path / "spool").glob(f"*.{PACKAGES}.batch")
    sent = json.loads(gzip.decompress(entry.read_bytes()))
    assert sent["complete"] and {len(i["packages"]) for i in sent["inventories"]} == {1, 2}
    assert stored(ctx) == []

    # A new agent process (a restart) on the same spool and state, the server back.
    with serving(ctx, port):
        assert asyncio.run(with_agent(cfg, lambda agent: agent.flush()))
    assert stored(ctx) == [
        ("blog", [["django", "4.2.11"]], ""),
        ("shop", [["flask", "2.3.3"], ["jinja2", "3.1.2"]], ""),
    ]
    assert list((tmp_path / "spool").glob("*.batch")) == []


def test_unchanged_inventories_are_confirmed_and_a_change_is_a_new_row(
    ctx: AppContext, server: LiveServer, tmp_path: Path
) -> None:
    root = apps(tmp_path)
    plan_inventory(ctx, root)
    cfg = config(tmp_path, server.url, agent_token(ctx))

    async def collect_twice(agent: Agent) -> list[dict[str, Any]]:
        assert await agent.software.once() and await agent.flush()
        first_seen = {r.id: r.collected_at for r in rows(ctx)}
        assert agent.software.collect_and_spool()
        (entry,) = agent.spool.entries(PACKAGES)
        body: list[dict[str, Any]] = json.loads(gzip.decompress(entry.path.read_bytes()))[
            "inventories"
        ]
        assert await agent.flush()
        assert {r.id: r.collected_at for r in rows(ctx)}.keys() == first_seen.keys()
        assert all(r.collected_at > first_seen[r.id] for r in rows(ctx))
        return body

    second = asyncio.run(with_agent(cfg, collect_twice))
    assert all("packages" not in i and len(i["digest"]) == 64 for i in second)  # digests only

    (root / "shop" / "requirements.txt").write_text("flask==3.0.2\njinja2==3.1.3\n")
    (root / "wiki").mkdir()
    (root / "wiki" / "requirements.txt").mkdir()  # unreadable: an error of its own

    async def collect_again(agent: Agent) -> bool:
        return agent.software.collect_and_spool() and await agent.flush()

    assert asyncio.run(with_agent(cfg, collect_again))
    assert stored(ctx)[2:] == [
        ("shop", [["flask", "3.0.2"], ["jinja2", "3.1.3"]], ""),
        ("wiki", [], f"{root}/wiki/requirements.txt: Is a directory"),
    ]
    assert len(stored(ctx)) == 4  # blog: unchanged, confirmed


def rows(ctx: AppContext) -> list[HostPackages]:
    with ctx.sessions() as db:
        return list(db.scalars(select(HostPackages).order_by(HostPackages.id)))


def test_an_inventory_the_server_lost_is_sent_again_in_full(
    ctx: AppContext, server: LiveServer, tmp_path: Path
) -> None:
    root = apps(tmp_path)
    plan_inventory(ctx, root)
    cfg = config(tmp_path, server.url, agent_token(ctx))

    async def lose_and_heal(agent: Agent) -> None:
        assert await agent.software.once() and await agent.flush()
        with ctx.sessions() as db:  # a store restored from an older backup
            db.execute(delete(HostPackages))
            db.commit()
        assert agent.software.collect_and_spool() and await agent.flush()
        assert agent.software.collected_at == 0  # due again at once, those two in full
        assert agent.software.collect_and_spool() and await agent.flush()

    asyncio.run(with_agent(cfg, lose_and_heal))
    assert [s[0] for s in stored(ctx)] == ["blog", "shop"]


def test_the_running_agent_collects_and_sends_on_its_own(
    ctx: AppContext, server: LiveServer, tmp_path: Path
) -> None:
    root = apps(tmp_path)
    plan_inventory(ctx, root, interval="1s")
    cfg = config(tmp_path, server.url, agent_token(ctx))

    async def run_for_a_while(agent: Agent) -> None:
        task = asyncio.create_task(agent.run())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if agent.software.collections >= 2 and not agent.spool.entries(PACKAGES):
                break
        agent.stop()
        await task

    asyncio.run(with_agent(cfg, run_for_a_while))
    assert len(stored(ctx)) == 2
    state = json.loads((tmp_path / "state" / "software.json").read_text())
    assert state["spec"]["inventories"] == ["apps"] and len(state["sent"]) == 2


def test_an_older_server_without_inventories_is_left_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = web.Application()
        async with AiohttpServer(app) as old:
            cfg = config(tmp_path, f"http://127.0.0.1:{old.port}", "token-of-an-older-server")
            agent = Agent(cfg)
            try:
                await agent.software.refresh()
                assert agent.software.spec is not None and agent.software.spec.empty
                assert not agent.software.collect_and_spool()
                assert agent.software.due_in(0) == float("inf")
            finally:
                await agent.close()

    asyncio.run(scenario())
