"""A TCP server that accepts connections and never answers: a database that hangs."""

from __future__ import annotations

import asyncio

from tests.helpers import AsyncioServer


class SilentServer(AsyncioServer):
    """Accept connections on a free loopback port, never answer, and note when the client
    closes its end (``closed``): a run cut short must not leave its socket open."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # everything the client sends, until it closes the connection
        self.closed.set()
        writer.close()

    async def listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._handle, "127.0.0.1", 0)
