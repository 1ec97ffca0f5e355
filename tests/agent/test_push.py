"""The push client against a real loopback server that answers what each test needs:
which failures are retried, which are final, and what the agent does with each."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from tests.agent.conftest import agent_config
from tests.conftest import remember_secret
from watchkeeper.agent.push import Backoff, Pusher, PushFailed
from watchkeeper.agent.run import Agent

TOKEN = remember_secret("wk_0123abcd_" + "s" * 43)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/api/v1/agent/push", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def failure(status: int, body: object = None, **headers: str) -> PushFailed:
    """Send one batch to a server answering ``status``; return the failure raised."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body or {"detail": "because"}, status=status, headers=headers)

    runner, url = await serve(handler)
    pusher = Pusher(url, TOKEN)
    try:
        with pytest.raises(PushFailed) as caught:
            await pusher.send(b"{}")
        return caught.value
    finally:
        await pusher.close()
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, False),  # an expired token or a changed role: keep the batches
        (403, False),
        (404, False),  # a proxy in front of a server being deployed
        (413, True),
        (415, True),
        (422, True),
        (408, False),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
    ],
)
def test_which_statuses_are_final(status: int, permanent: bool) -> None:
    exc = asyncio.run(failure(status))
    assert exc.permanent is permanent
    assert f"answered {status}" in str(exc) and "because" in str(exc)


def test_retry_after_and_field_errors_are_read() -> None:
    exc = asyncio.run(failure(503, None, **{"Retry-After": "7"}))
    assert exc.retry_after == 7.0
    problem = {
        "detail": "the request has invalid fields",
        "errors": [{"field": "series[0].name", "message": "too long"}],
    }
    exc = asyncio.run(failure(422, problem))
    assert "series[0].name: too long" in str(exc)


def test_the_token_goes_in_the_header_only() -> None:
    seen: list[str] = []

    async def run() -> None:
        async def handler(request: web.Request) -> web.Response:
            seen.append(request.headers["Authorization"])
            return web.json_response({"accepted": 1, "duplicates": 0, "series_created": 1})

        runner, url = await serve(handler)
        pusher = Pusher(url, TOKEN)
        try:
            result = await pusher.send(b"{}")
            assert result.accepted == 1
        finally:
            await pusher.close()
            await runner.cleanup()

    asyncio.run(run())
    assert seen == [f"Bearer {TOKEN}"]


def test_an_absent_server_is_a_transient_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused

        async def run() -> PushFailed:
            pusher = Pusher(f"http://127.0.0.1:{port}", TOKEN)
            try:
                with pytest.raises(PushFailed) as caught:
                    await pusher.send(b"{}")
                return caught.value
            finally:
                await pusher.close()

        exc = asyncio.run(run())
    assert not exc.permanent
    assert f"cannot reach http://127.0.0.1:{port}" in str(exc)


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0)
    delays = [backoff.next_delay() for _ in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**n)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.next_delay(at_least=6.5) >= 6.5  # the server's Retry-After is honoured
    assert backoff.next_delay(at_least=600) <= 8.0  # but never past the cap
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_the_agent_keeps_a_batch_through_server_errors_until_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two 503s, then success: the batch is sent three times and only then removed; one
    warning when the server fails, one note when it is back."""
    received: list[dict[str, object]] = []

    async def run() -> Agent:
        async def handler(request: web.Request) -> web.Response:
            received.append(json.loads(await request.read()))
            if len(received) <= 2:
                return web.json_response({"detail": "starting"}, status=503)
            return web.json_response({"accepted": 1, "duplicates": 0, "series_created": 1})

        runner, url = await serve(handler)
        agent = Agent(agent_config(url, TOKEN, tmp_path / "spool"))
        try:
            entry = await agent.collect_once()
            assert entry is not None
            assert await agent.send_oldest() > 0
            assert await agent.send_oldest() > 0
            assert agent.spool.oldest() == entry
            assert await agent.send_oldest() == 0
            return agent
        finally:
            await agent.close()
            await runner.cleanup()

    with caplog.at_level(logging.INFO, logger="watchkeeper.agent"):
        agent = asyncio.run(run())
    assert len(agent.spool) == 0 and agent.push_failures == 2
    assert received[0] == received[1] == received[2]
    levels = [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if "answered" in r.getMessage() or "reachable again" in r.getMessage()
    ]
    assert [lv for lv, _ in levels] == ["WARNING", "INFO"], levels
