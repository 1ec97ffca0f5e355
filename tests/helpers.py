"""Test helpers: a real uvicorn server in a background thread, `watchkeeper up`, and bases
for the servers tests start on loopback (aiohttp applications and plain asyncio servers)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from aiohttp import web
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send


class SecretLogGuard:
    """The "no secret in any log line" guard's memory: the secrets tests made, and every log
    line and server-subprocess output line of the run (see the end of ``tests/conftest.py``).

    Values shorter than ``MIN_LENGTH`` are ignored: they would match ordinary text.
    """

    MIN_LENGTH = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.secrets: set[str] = set()
        self.lines: list[tuple[str, str]] = []

    def remember(self, value: str | None) -> None:
        if value and len(value) >= self.MIN_LENGTH:
            with self._lock:
                self.secrets.add(value)

    def note(self, where: str, text: str) -> None:
        """Keep ``text`` (one or more lines) written while ``where`` (a test id) ran."""
        with self._lock:
            self.lines.append((where, text))

    def leaks(self) -> list[tuple[str, str]]:
        """Return ``(where, line)`` for each kept line holding a remembered secret; the
        secrets in the returned lines are replaced by ``<secret>`` (the report must not leak)."""
        with self._lock:
            secrets = sorted(self.secrets, key=len, reverse=True)
            lines = list(self.lines)
        if not secrets:
            return []
        whole = "\n".join(text for _, text in lines)
        present = [s for s in secrets if s in whole]  # one fast scan per secret
        found = []
        for where, text in lines:
            if any(s in text for s in present):
                for s in present:
                    text = text.replace(s, "<secret>")
                found.append((where, text))
        return found


LOG_GUARD = SecretLogGuard()


def current_test() -> str:
    """The id of the test running now (pytest sets PYTEST_CURRENT_TEST), or ""."""
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]


class _SharedRouting:
    stack: ASGIApp | None = None
    routes = 0


def _with_shared_routing(app: FastAPI) -> ASGIApp:
    """Serve an app made by ``create_app`` through one middleware and routing stack per
    test process. FastAPI prepares a route (its dependencies and their pydantic validators)
    per app, a second or more for all of ours, and every test makes a new app: paid once
    here instead. Requests still see ``app`` as theirs (``request.app.state.ctx`` is the
    test's context) and ``app`` runs its own lifespan (its services). An app whose routes
    were changed after ``create_app`` (or not made by it) is served as it is."""
    from watchkeeper.runtime.app import create_app

    ctx = getattr(app.state, "ctx", None)
    if ctx is None or app.title != "Watchkeeper":
        return app
    if _SharedRouting.stack is None:
        shared = create_app(ctx)  # only its routes and middleware are used, never its state
        _SharedRouting.stack = shared.build_middleware_stack()
        _SharedRouting.routes = len(shared.router.routes)
    if len(app.router.routes) != _SharedRouting.routes:
        return app
    stack = _SharedRouting.stack

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        scope["app"] = app
        await stack(scope, receive, send)

    return serve


class LiveServer:
    """Serve ``app`` on 127.0.0.1 and a free port (or ``port``) for the duration of a
    ``with`` block."""

    def __init__(self, app: FastAPI, port: int = 0) -> None:
        config = uvicorn.Config(
            _with_shared_routing(app),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        # Served from a thread: uvicorn installs signal handlers only in the main thread.
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class LoopbackServer:
    """A server on 127.0.0.1 and a free port (``port``) for the length of an ``async with``:
    a subclass opens it in ``start`` and closes it in ``stop``."""

    port = 0

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class AiohttpServer(LoopbackServer):
    """Serve an aiohttp ``app`` (over TLS with ``ssl_context``). ``shutdown_timeout``: how
    long ``stop`` lets handlers still running finish before cancelling them. ``stop`` may be
    called early, when a test wants the port to refuse connections."""

    def __init__(
        self,
        app: web.Application,
        *,
        ssl_context: ssl.SSLContext | None = None,
        shutdown_timeout: float = 60.0,
    ) -> None:
        # No access log: request paths can hold secrets (a Telegram bot token, say).
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
        self._ssl = ssl_context
        self._running = False

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl).start()
        self._running = True
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._running:
            self._running = False
            await self._runner.cleanup()


class AsyncioServer(LoopbackServer):
    """A plain asyncio server: a subclass opens it on 127.0.0.1 and port 0 in ``listen``."""

    _server: asyncio.Server | None = None

    async def listen(self) -> asyncio.Server:
        raise NotImplementedError

    async def start(self) -> None:
        self._server = await self.listen()
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class UpProcess:
    """`watchkeeper up` as a user runs it, with its output collected."""

    def __init__(self, tmp_path: Path, plan: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
        env.update(WATCHKEEPER_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1", COLUMNS="200")
        exe = Path(sys.executable).with_name("watchkeeper")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "up",
                "--plan",
                str(plan),
                "--listen",
                f"127.0.0.1:{self.port}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        where = f"{current_test()} (watchkeeper up output)"
        for line in self.proc.stdout:
            self._lines.append(line)
            LOG_GUARD.note(where, line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not printed; output:\n{self.output}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code

    def __enter__(self) -> UpProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout and not self.proc.stdout.closed:
            self._reader.join(timeout=5)
            self.proc.stdout.close()


ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_or_skip() -> str:
    """Return Debian's chromium; skip the test when it is missing (fail it under CI)."""
    import shutil

    import pytest

    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(exist_ok=True)
    return path


def signed_in_page(
    browser: Any,
    base_url: str,
    username: str,
    password: str,
    problems: list[str],
    width: int = 1280,
    height: int = 900,
) -> Any:
    """A new Playwright page signed in through the login form, noting script errors and
    4xx/5xx answers (but a missing favicon) in ``problems``, accepting confirm dialogs."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{base_url}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    return page
