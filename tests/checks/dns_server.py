"""A tiny authoritative DNS server for tests, built on dnspython's message API: UDP and TCP on
the same free loopback port, answering from a table of records, logging every question."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any, Self, cast

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Records = dict[tuple[str, str], list[str]]
"""``{("shop.test.", "A"): ["203.0.113.10"]}``: record texts as in a zone file."""


class DnsServer:
    """Answers from ``records``: NXDOMAIN for names it does not know, an empty answer for
    known names without records of the type asked, SERVFAIL for ``servfail.test.``, and
    nothing at all (over UDP) for ``silent.test.``."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.names = {name for name, _ in records}
        self.log: list[tuple[str, str, str]] = []  # (transport, name, type) per question
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name, kind = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        self.log.append((transport, name, kind))
        if name == "silent.test.":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name == "servfail.test.":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif texts := self.records.get((name, kind)):
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", kind, texts))
        return response.to_wire()

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # the UDP port may be taken for TCP; try another
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=("127.0.0.1", 0)
            )
            self.port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", self.port)
            except OSError:
                self._udp.close()
                continue
            return self
        raise RuntimeError("no free port for both UDP and TCP")

    async def __aexit__(self, *exc: object) -> None:
        assert self._udp is not None and self._tcp is not None
        self._udp.close()
        self._tcp.close()
        for task in self._connections:  # Server.wait_closed does not wait for them (3.11)
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._tcp.wait_closed()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    (size,) = struct.unpack("!H", await reader.readexactly(2))
                    reply = self.answer(await reader.readexactly(size), "tcp")
                    if reply is not None:
                        writer.write(struct.pack("!H", len(reply)) + reply)
                        await writer.drain()
        finally:
            writer.close()
            self._connections.discard(task)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector transport is not a DatagramTransport subclass, though it is one
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.server.answer(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)
