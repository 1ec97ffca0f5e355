"""A TCP server that accepts connections and never answers: a database that hangs."""

from __future__ import annotations

import asyncio
from types import TracebackType


class SilentServer:
    """Accept connections on a free loopback port, never answer, and note when the client
    closes its end (``closed``): a run cut short must not leave its socket open."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # everything the client sends, until it closes the connection
        self.closed.set()
        writer.close()

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
