"""The syslog listeners (UDP, TCP, TCP+TLS) of the plan's ``logs.syslog`` section.

Lines go to the ingest queue in batches: one batch per TCP read (a read takes whatever has
arrived, up to 256 KiB, so batches grow with the load) and one per few milliseconds of UDP
datagrams. A TCP connection waits while the queue is full and is not read meanwhile, so
TCP flow control slows the sender down and nothing is lost; UDP cannot wait, and the
queue counts what it drops.

Damage stays with the frame it hits (see :mod:`.framing`): the connection and the other
frames survive, the damaged frame is counted. A stream that cannot be framed any more is
closed with a warning. Listeners bind 127.0.0.1 when the plan gives a port only (``:5514``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from watchkeeper.logs.config import SyslogConfig, TlsListener
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.queue import IngestQueue
from watchkeeper.logs.syslog.framing import Framer, cut_utf8
from watchkeeper.logs.syslog.parse import SyslogParser
from watchkeeper.telemetry import LOG_LINES, LOG_REPAIRED

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
UDP_BATCH_DELAY = 0.005  # seconds datagrams are gathered into one batch
UDP_BATCH_MAX = 5000
UDP_RECEIVE_BUFFER = 8 * 1024 * 1024
TLS_HANDSHAKE_TIMEOUT = 10.0
DEFAULT_HOST = "127.0.0.1"


def parse_listen(value: str) -> tuple[str, int]:
    """Return ``(host, port)`` of a plan ``listen`` value (``host:port``, ``[v6]:port`` or
    ``:port``, which means 127.0.0.1)."""
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    return host or DEFAULT_HOST, int(port)


@dataclass(frozen=True)
class _Settings:
    """What the connections read per batch; replaced whole when the plan changes."""

    parser: SyslogParser
    max_bytes: int


def _count(source: str, rejected: int = 0, truncated: int = 0, repaired: int = 0) -> None:
    if rejected:
        LOG_LINES.labels(source, "rejected").inc(rejected)
    if truncated:
        LOG_REPAIRED.labels(source, "truncated").inc(truncated)
    if repaired:
        LOG_REPAIRED.labels(source, "invalid_utf8").inc(repaired)


class _UdpProtocol(asyncio.DatagramProtocol):
    """One datagram is one message; datagrams are parsed and queued in small batches."""

    def __init__(self, owner: SyslogServer) -> None:
        self._owner = owner
        self._pending: list[tuple[bytes, str]] = []
        self._timer: asyncio.TimerHandle | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if not data:
            return
        if len(data) < 3 and not data.strip(b"\r\n\0 "):
            return  # a stray line end is no message
        self._pending.append((data, str(addr[0])))
        if len(self._pending) >= UDP_BATCH_MAX:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(UDP_BATCH_DELAY, self.flush)

    def error_received(self, exc: Exception) -> None:
        log.debug("syslog udp: %s", exc)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        settings = self._owner.settings
        parse_text, max_bytes = settings.parser.parse_text, settings.max_bytes
        received = time.time_ns()
        lines: list[LogLine] = []
        truncated = repaired = 0
        for data, peer in pending:
            if len(data) > max_bytes:
                data = cut_utf8(data, max_bytes)
                truncated += 1
            try:
                text = data.decode()
            except UnicodeDecodeError:
                text = data.decode(errors="replace")
                repaired += 1
            lines.append(parse_text(text, received, peer))
        self._owner.queue.offer("syslog_udp", lines)  # the writer counts what it stores
        _count("syslog_udp", truncated=truncated, repaired=repaired)

    def close(self) -> None:
        self.flush()


@dataclass(eq=False)
class _StreamListener:
    """A TCP or TLS listener and the connections it serves."""

    source: str
    server: asyncio.Server
    connections: set[asyncio.Task[None]] = field(default_factory=set)
    full_warned: bool = False

    async def close(self) -> None:
        self.server.close()
        for task in list(self.connections):
            task.cancel()
        if self.connections:
            await asyncio.gather(*self.connections, return_exceptions=True)
        await self.server.wait_closed()


class SyslogServer:
    """Run the syslog listeners a :class:`SyslogConfig` asks for, feeding ``queue``.

    ``max_connections`` bounds the connections per TCP/TLS listener (more are closed at
    once, with one warning); a connection silent for ``idle_timeout`` seconds is closed."""

    def __init__(
        self,
        queue: IngestQueue,
        *,
        max_connections: int = 1000,
        idle_timeout: float = 300.0,
    ) -> None:
        self.queue = queue
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.settings = _Settings(SyslogParser(), SyslogConfig().max_message_bytes)
        self._config: SyslogConfig | None = None
        self._udp: tuple[asyncio.DatagramTransport, _UdpProtocol] | None = None
        self._tcp: _StreamListener | None = None
        self._tls: _StreamListener | None = None
        self._reported: set[str] = set()

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        """Return the bound address of each running listener (``udp``, ``tcp``, ``tls``):
        the port the system chose when the plan says port 0."""
        out: dict[str, tuple[str, int]] = {}
        if self._udp is not None:
            sockname = self._udp[0].get_extra_info("sockname")
            out["udp"] = (sockname[0], sockname[1])
        for kind, listener in (("tcp", self._tcp), ("tls", self._tls)):
            if listener is not None:
                sockname = listener.server.sockets[0].getsockname()
                out[kind] = (sockname[0], sockname[1])
        return out

    async def apply(self, config: SyslogConfig | None) -> list[str]:
        """Start, stop or restart the listeners so that they match ``config`` (None: none).

        Listeners whose settings did not change keep running with their connections; new
        ``labels`` take effect on the next batch, a new ``max_message_bytes`` on the next
        datagram and new connections. A listener that cannot start (port taken, unreadable
        certificate) is reported, and tried again by the next call; return those reports
        (logged as warnings when they first appear, not on every retry)."""
        old = self._config
        self._config = config
        if config is None:
            await self.stop()
            return []
        if old is None or (old.labels, old.max_message_bytes) != (
            config.labels,
            config.max_message_bytes,
        ):
            self.settings = _Settings(SyslogParser(config.labels), config.max_message_bytes)
        problems: list[str] = []
        if self._udp is None or old is None or old.udp != config.udp:
            await self._stop_udp()
            if config.udp is not None:
                await self._report(problems, "udp", config.udp, self._start_udp(config.udp))
        if self._tcp is None or old is None or old.tcp != config.tcp:
            await self._stop_stream("tcp")
            if config.tcp is not None:
                await self._report(problems, "tcp", config.tcp, self._start_tcp(config.tcp))
        if self._tls is None or old is None or old.tls != config.tls:
            await self._stop_stream("tls")
            if config.tls is not None:
                await self._report(problems, "tls", config.tls.listen, self._start_tls(config.tls))
        for problem in problems:
            if problem not in self._reported:
                log.warning("%s", problem)
        self._reported = set(problems)
        return problems

    async def stop(self) -> None:
        """Stop every listener and close their connections."""
        self._config = None
        await self._stop_udp()
        await self._stop_stream("tcp")
        await self._stop_stream("tls")

    async def _report(
        self, problems: list[str], kind: str, listen: str, start: Awaitable[None]
    ) -> None:
        try:
            await start
        except (OSError, ssl.SSLError, ValueError) as exc:
            problems.append(
                f"logs.syslog.{kind}: cannot start the listener on {listen}: {_reason(exc)}"
            )

    async def _start_udp(self, listen: str) -> None:
        host, port = parse_listen(listen)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(host, port)
        )
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError):  # bursts wait here while a batch is parsed
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        self._udp = (transport, protocol)

    async def _start_tcp(self, listen: str) -> None:
        self._tcp = await self._listen("syslog_tcp", listen, None)

    async def _start_tls(self, config: TlsListener) -> None:
        self._tls = await self._listen("syslog_tls", config.listen, tls_context(config))

    async def _listen(
        self, source: str, listen: str, context: ssl.SSLContext | None
    ) -> _StreamListener:
        host, port = parse_listen(listen)
        holder: list[_StreamListener] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # stop() cancels connections; this task is the connection's top level, and ending
            # quietly keeps asyncio's stream callback from logging the cancellation as an error
            with contextlib.suppress(asyncio.CancelledError):
                await self._serve(holder[0], reader, writer)

        server = await asyncio.start_server(
            handle,
            host,
            port,
            ssl=context,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if context else None,
            limit=2 * READ_SIZE,
            backlog=512,
        )
        holder.append(_StreamListener(source, server))
        return holder[0]

    async def _stop_udp(self) -> None:
        if self._udp is not None:
            transport, protocol = self._udp
            self._udp = None
            protocol.close()
            transport.close()

    async def _stop_stream(self, kind: str) -> None:
        listener = self._tcp if kind == "tcp" else self._tls
        if listener is None:
            return
        if kind == "tcp":
            self._tcp = None
        else:
            self._tls = None
        await listener.close()

    async def _serve(
        self,
        listener: _StreamListener,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        source = listener.source
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else ""
        if len(listener.connections) >= self.max_connections:
            if not listener.full_warned:
                listener.full_warned = True
                log.warning(
                    "%s: %d connections open, the limit; refusing more until some close",
                    source,
                    self.max_connections,
                )
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        listener.connections.add(task)
        framer = Framer(self.settings.max_bytes)
        try:
            await self._read(source, peer, reader, framer)
        except (ConnectionError, ssl.SSLError) as exc:
            log.debug("%s from %s: %s", source, peer, _reason(exc))
        except OSError as exc:
            log.warning("%s from %s: %s; connection closed", source, peer, _reason(exc))
        finally:
            _count(source, rejected=framer.rejected, truncated=framer.truncated)
            listener.connections.discard(task)
            if len(listener.connections) < self.max_connections:
                listener.full_warned = False
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):  # a TLS peer may never answer close_notify
                    await writer.wait_closed()

    async def _read(
        self, source: str, peer: str, reader: asyncio.StreamReader, framer: Framer
    ) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                log.debug("%s from %s: idle for %gs, closing", source, peer, self.idle_timeout)
                data = b""  # the end, as if the sender had closed: a last line is kept
            frames = framer.feed(data) if data else framer.finish()
            if framer.rejected or framer.truncated:
                _count(source, rejected=framer.rejected, truncated=framer.truncated)
                framer.rejected = framer.truncated = 0
            if frames:
                parser = self.settings.parser
                lines, repaired = parser.parse_many(frames, time.time_ns(), peer)
                await self.queue.submit(source, lines)  # the writer counts what it stores
                _count(source, repaired=repaired)
            if framer.failure:
                log.warning("%s from %s: %s; connection closed", source, peer, framer.failure)
                return
            if not data:
                return


def tls_context(config: TlsListener) -> ssl.SSLContext:
    """Return the server context of a TLS listener (TLS 1.2 or later; client certificates
    required when ``client_ca_file`` is set); raise ValueError naming the file at fault."""
    files = [("cert_file", config.cert_file), ("key_file", config.key_file)]
    if config.client_ca_file:
        files.append(("client_ca_file", config.client_ca_file))
    for key, path in files:
        if not os.access(path, os.R_OK) or not os.path.isfile(path):
            raise ValueError(f"{key} {path} is not a readable file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"cert_file {config.cert_file} and key_file {config.key_file} do not load: "
            f"{_reason(exc)}"
        ) from None
    if config.client_ca_file:
        try:
            context.load_verify_locations(cafile=config.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"client_ca_file {config.client_ca_file} does not load: {_reason(exc)}"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__
