"""Real targets on loopback for the checks: HTTP, HTTPS (trustme certificates), TCP."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


async def _status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return PlainTextResponse(f"status {code} <title>ok</title>", status_code=code)


async def _slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "30")))
    return PlainTextResponse("late")


TARGET = Starlette(routes=[Route("/status/{code:int}", _status), Route("/slow", _slow)])


class Target:
    """A uvicorn serving TARGET on a free loopback port (optionally with TLS)."""

    def __init__(self, certfile: Path | None = None, keyfile: Path | None = None) -> None:
        config = uvicorn.Config(
            TARGET,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
            ssl_certfile=str(certfile) if certfile else None,
            ssl_keyfile=str(keyfile) if keyfile else None,
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.scheme = "https" if certfile else "http"
        self.port = 0

    def __enter__(self) -> Target:
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive(), "target server did not start"
            threading.Event().wait(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def url(self, path: str) -> str:
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def http_target() -> Iterator[Target]:
    with Target() as target:
        yield target


@pytest.fixture(scope="session")
def tls_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    with Target(certfile, keyfile) as target:
        yield target


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A TCP port with a listener that accepts connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(100)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_ = ssl  # trustme produces PEM files consumed by uvicorn's ssl support
