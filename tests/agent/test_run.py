"""The agent's collection loop: what goes into each spooled batch."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from tests.agent.conftest import agent_config
from watchkeeper.agent.run import Agent


def spooled(agent: Agent) -> list[dict[str, Any]]:
    bodies = []
    while (entry := agent.spool.oldest()) is not None:
        bodies.append(json.loads(agent.spool.read(entry) or b"{}"))
        agent.spool.remove(entry)
    return bodies


def collect(agent: Agent, times: int) -> list[dict[str, Any]]:
    async def run() -> None:
        for _ in range(times):
            await agent.collect_once()

    asyncio.run(run())
    return spooled(agent)


def test_the_inventory_goes_with_the_first_batch_then_when_due(tmp_path: Path) -> None:
    config = agent_config("http://127.0.0.1:9", "wk_token", tmp_path / "spool")
    agent = Agent(dataclasses.replace(config, inventory_check_every=0))
    try:
        first, second = collect(agent, 2)
        assert first["inventory"]["interval_seconds"] == 0.2
        assert first["inventory"]["os"]["name"]
        assert "inventory" not in second  # checked again, unchanged: not resent
        agent.config = dataclasses.replace(agent.config, inventory_every=0)
        (third,) = collect(agent, 1)
        assert third["inventory"] == first["inventory"]  # due again however unchanged
    finally:
        asyncio.run(agent.close())


def test_each_batch_counts_itself_and_reports_the_spool(tmp_path: Path) -> None:
    agent = Agent(agent_config("http://127.0.0.1:9", "wk_token", tmp_path / "spool"))
    try:
        batches = collect(agent, 3)
    finally:
        asyncio.run(agent.close())

    def value(batch: dict[str, Any], name: str) -> float:
        (found,) = [s["samples"][0][1] for s in batch["series"] if s["name"] == name]
        return float(found)

    assert [value(b, "watchkeeper_agent_collections_total") for b in batches] == [1, 2, 3]
    assert [value(b, "watchkeeper_agent_spool_batches") for b in batches] == [0, 1, 2]
    assert value(batches[2], "watchkeeper_agent_spool_bytes") > 0
    assert all(b["labels"] == {"instance": "test-host", "job": "agent"} for b in batches)
