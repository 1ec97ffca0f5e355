"""An aiohttp app on loopback for the HTTP check's option tests: it checks credentials,
echoes what it was sent, and serves a JSON health document and a text report."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import remember_secret
from watchkeeper.checks.http import HttpCheck, HttpCheckConfig
from watchkeeper.checks.interface import Outcome

PASSWORD = remember_secret("basic-pass-7f3a9c")
TOKEN = remember_secret("bearer-token-0d8e61b2")
HEALTH = {
    "status": "ok",
    "items": [{"count": 5}, {"count": 0}],
    "db": {"healthy": True, "lag ms": 12},
    "version": "2.4.1",
}
REPORT = "build 2024.06.1\nqueue depth 17\nWARNING: disk at 91%\n"


async def _echo(request: web.Request) -> web.Response:
    """Say what arrived, so assertions on the answer check what the check sent."""
    sent_json = await request.json() if request.content_type == "application/json" else None
    return web.json_response(
        {
            "method": request.method,
            "content_type": request.content_type,
            "body": await request.text(),
            "json": sent_json,
            "user_agent": request.headers.get("User-Agent"),
        }
    )


async def _basic(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != aiohttp.encode_basic_auth("ops", PASSWORD):
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="ops"'})
    return web.Response(text="welcome")


async def _bearer(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
    return web.Response(text="welcome")


async def _health(request: web.Request) -> web.Response:
    return web.json_response(HEALTH)


async def _report(request: web.Request) -> web.Response:
    return web.Response(text=REPORT)


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query["s"]))
    return web.Response(text="late")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/basic", _basic)
    app.router.add_get("/bearer", _bearer)
    app.router.add_get("/health", _health)
    app.router.add_get("/report", _report)
    app.router.add_get("/slow", _slow)
    return app


async def serve_and_check(
    path: str,
    spec: dict[str, Any],
    server_ssl: ssl.SSLContext | None = None,
    plugin: HttpCheck | None = None,
) -> Outcome:
    """Serve make_app() on a free loopback port, run one check against ``path`` (with a
    fresh plugin unless ``plugin`` is given: the caller then closes it)."""
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
        await site.start()
        port = runner.addresses[0][1]
        scheme = "https" if server_ssl else "http"
        config = HttpCheckConfig.model_validate(
            {"name": "t", "type": "http", "url": f"{scheme}://127.0.0.1:{port}{path}", **spec}
        )
        if plugin is not None:
            return await plugin.run(config)
        fresh = HttpCheck()
        try:
            return await fresh.run(config)
        finally:
            await fresh.aclose()
    finally:
        await runner.cleanup()
