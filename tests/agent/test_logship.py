"""Sending log batches to a loopback server that answers what each test needs: retried
through outages without loss or repeat, refused batches dropped, and metrics never held
back by logs the server does not take."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.agent.conftest import agent_config
from tests.agent.logutil import append
from tests.agent.test_push import TOKEN
from watchkeeper.agent.run import Agent, run_agent

OK_PUSH = {"accepted": 1, "duplicates": 0, "series_created": 0}


class FakeServer:
    """Answers pushes with 200, log posts as ``logs_answer`` says, log sources as given."""

    def __init__(self, sources: dict[str, Any] | None = None) -> None:
        self.sources = sources
        self.logs_answer: Callable[[int], int] = lambda _: 200
        self.log_posts: list[dict[str, Any]] = []
        self.stored: list[dict[str, Any]] = []
        self.pushes = 0
        self.source_queries: list[dict[str, str]] = []

    async def push(self, request: web.Request) -> web.Response:
        self.pushes += 1
        return web.json_response(OK_PUSH)

    async def logs(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp undoes the Content-Encoding
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        lines = [json.loads(x) for x in body.splitlines()]
        self.log_posts.append({"headers": dict(request.headers), "lines": lines})
        status = self.logs_answer(len(self.log_posts))
        if status == 200:
            self.stored += lines
            return web.json_response({"accepted": len(lines), "rejected": []})
        return web.json_response({"detail": "not now"}, status=status)

    async def log_sources(self, request: web.Request) -> web.Response:
        self.source_queries.append(dict(request.query))
        if self.sources is None:
            raise web.HTTPNotFound()
        return web.json_response(self.sources)

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_post("/api/v1/agent/push", self.push)
        app.router.add_post("/api/v1/logs", self.logs)
        app.router.add_get("/api/v1/agent/log-sources", self.log_sources)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def config(url: str, tmp_path: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {"log_poll": 0.02, "log_glob_every": 0.05, "interval": 0.1}
    values.update(overrides)
    return dataclasses.replace(agent_config(url, TOKEN, tmp_path / "spool"), **values)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_log_batches_ride_out_server_errors_and_arrive_once_in_order(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.touch()
    fake = FakeServer({"files": [], "journald": []})
    fake.logs_answer = lambda n: 503 if n <= 2 else 200

    async def scenario() -> Agent:
        runner, url = await fake.start()
        agent = Agent(config(url, tmp_path, tail=(str(app),)))
        task = asyncio.create_task(agent.run())
        try:
            await until(lambda: agent.logs.files_tailed() == 1, "the file to be tailed")
            for n in range(5):
                append(app, f"line {n}\n")
                await asyncio.sleep(0.05)  # a few batches
            await until(lambda: len(fake.stored) >= 5, "the lines")
            return agent
        finally:
            agent.stop()
            await task
            await agent.close()
            await runner.cleanup()

    agent = asyncio.run(scenario())
    assert [x["message"] for x in fake.stored] == [f"line {n}" for n in range(5)]
    assert all(x["labels"]["filename"] == str(app) for x in fake.stored)
    assert fake.source_queries[0] == {"host": "test-host"}
    first = fake.log_posts[0]
    assert first["headers"]["Content-Encoding"] == "gzip"
    assert first["headers"]["Content-Type"] == "application/x-ndjson"
    assert first["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert agent.push_failures >= 2 and not agent.spool.entries("logs")


def test_metrics_keep_flowing_while_the_server_does_not_take_logs(tmp_path: Path) -> None:
    """An older server answers 404 to /api/v1/logs (and to the sources): log batches wait
    in the spool, metric batches go out all the same."""
    app = tmp_path / "app.log"
    app.touch()
    fake = FakeServer(None)
    fake.logs_answer = lambda _: 404

    async def scenario() -> Agent:
        runner, url = await fake.start()
        agent = Agent(config(url, tmp_path, tail=(str(app),)))
        task = asyncio.create_task(agent.run())
        try:
            await until(lambda: agent.logs.files_tailed() == 1, "the file to be tailed")
            append(app, "waits\n")
            await until(lambda: len(fake.log_posts) >= 2, "the log batch to be tried twice")
            pushes = fake.pushes
            await until(lambda: fake.pushes >= pushes + 3, "metric pushes")
            return agent
        finally:
            agent.stop()
            await task
            await agent.close()
            await runner.cleanup()

    agent = asyncio.run(scenario())
    assert len(agent.spool.entries("logs")) == 1
    assert fake.stored == []


def test_a_refused_log_batch_is_dropped_and_counted(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.write_text("refused\n")
    fake = FakeServer(
        {"files": [{"name": "a", "paths": [str(app)], "start_at": "beginning"}], "journald": []}
    )
    fake.logs_answer = lambda _: 400

    async def scenario() -> tuple[Agent, int]:
        runner, url = await fake.start()
        agent = Agent(config(url, tmp_path))
        try:
            lines = await agent.logs.once()
            assert await agent.flush()
            return agent, lines
        finally:
            await agent.close()
            await runner.cleanup()

    agent, lines = asyncio.run(scenario())
    assert lines == 1 and len(fake.log_posts) == 1
    assert agent.refused == 1 and not agent.spool.entries("logs")


def test_once_reads_the_tailed_files_and_sends_them(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    app.touch()
    fake = FakeServer(
        {"files": [{"name": "plan", "paths": [str(tmp_path / "plan.log")]}], "journald": []}
    )
    (tmp_path / "plan.log").write_text("plan file, before\n")

    async def scenario() -> int:
        runner, url = await fake.start()
        try:
            cfg = config(url, tmp_path, tail=(str(app),))
            assert await run_agent(cfg, once=True) == 0  # the first run: at the files' ends
            append(app, "one\ntwo\n")
            append(tmp_path / "plan.log", "plan file, after\n")
            return await run_agent(cfg, once=True)
        finally:
            await runner.cleanup()

    assert asyncio.run(scenario()) == 0
    assert sorted(x["message"] for x in fake.stored) == ["one", "plan file, after", "two"]
    assert fake.pushes == 2
