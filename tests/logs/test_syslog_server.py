"""The syslog listeners against real sockets on 127.0.0.1: UDP, TCP (both framings), TLS,
damaged frames, back-pressure, limits and reconfiguration."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.logs.push_support import stored
from watchkeeper.logs.config import SyslogConfig, TlsListener
from watchkeeper.logs.model import LogLine
from watchkeeper.logs.queue import IngestQueue
from watchkeeper.logs.syslog.server import SyslogServer
from watchkeeper.runtime.context import AppContext
from watchkeeper.telemetry import REGISTRY

LOCAL = "127.0.0.1:0"
WAIT = 10.0  # seconds before a poll gives up (never reached when things work)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rejected(source: str) -> float:
    return counter("watchkeeper_log_lines_total", source=source, outcome="rejected")


def repaired(source: str, reason: str) -> float:
    return counter("watchkeeper_log_lines_repaired_total", source=source, reason=reason)


def counted(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


async def collect(queue: IngestQueue, count: int, source: str | None = None) -> list[LogLine]:
    """Take batches from ``queue`` until ``count`` lines arrived (checking their receiver)."""
    lines: list[LogLine] = []
    deadline = time.monotonic() + WAIT
    while len(lines) < count and time.monotonic() < deadline:
        for batch in queue.take(timeout=0):
            assert source is None or batch.source == source
            lines.extend(batch.lines)
        if len(lines) < count:
            await asyncio.sleep(0.005)
    assert len(lines) == count, f"got {len(lines)} of {count} lines"
    return lines


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Return True once the server closed the connection (EOF or reset)."""
    try:
        async with asyncio.timeout(WAIT):
            while await reader.read(1024):
                pass
    except ConnectionError:
        pass
    return True


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def started(
    queue: IngestQueue,
    config: SyslogConfig,
    max_connections: int = 1000,
    idle_timeout: float = 300.0,
) -> tuple[SyslogServer, dict[str, tuple[str, int]]]:
    server = SyslogServer(queue, max_connections=max_connections, idle_timeout=idle_timeout)
    assert await server.apply(config) == []
    return server, server.addresses


# --- UDP --------------------------------------------------------------------------------------


def test_udp_datagrams_are_messages() -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        server, addresses = await started(queue, SyslogConfig(udp=LOCAL, labels={"env": "t"}))
        before = repaired("syslog_udp", "invalid_utf8")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(
                b"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - hello", addresses["udp"]
            )
            sock.sendto(b"<13>Oct 11 22:14:15 app[1]: no host \xff", addresses["udp"])
        lines = await collect(queue, 2, "syslog_udp")
        await server.stop()
        by_message = {line.message: line for line in lines}
        assert dict(by_message["hello"].labels) == {
            "source": "syslog",
            "host": "mymachine",
            "app": "su",
            "level": "critical",
            "env": "t",
        }
        no_host = by_message["no host \ufffd"]
        assert no_host.label("host") == "127.0.0.1"  # the sender, when the message names none
        assert repaired("syslog_udp", "invalid_utf8") == before + 1

    run(main)


def test_udp_stray_line_ends_are_no_messages() -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        server, addresses = await started(queue, SyslogConfig(udp=LOCAL))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"\n", addresses["udp"])
            sock.sendto(b"<13>Oct 11 22:14:15 h app: real", addresses["udp"])
            sock.sendto(b"\r\n", addresses["udp"])
        lines = await collect(queue, 1)
        await server.stop()  # flushes what is pending
        lines += [ln for batch in queue.take(timeout=0) for ln in batch.lines]
        assert [ln.message for ln in lines] == ["real"]

    run(main)


def test_udp_oversized_datagram_is_cut_and_counted() -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        server, addresses = await started(queue, SyslogConfig(udp=LOCAL, max_message_bytes=100))
        before = repaired("syslog_udp", "truncated")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"<13>Oct 11 22:14:15 h app: " + "é".encode() * 200, addresses["udp"])
        (line,) = await collect(queue, 1)
        await server.stop()
        assert line.message == "é" * 36  # 100 bytes, cut before a split character
        assert repaired("syslog_udp", "truncated") == before + 1

    run(main)


# --- TCP --------------------------------------------------------------------------------------


def test_tcp_newline_framing_in_bulk() -> None:
    async def main() -> None:
        queue = IngestQueue(100_000)
        server, addresses = await started(queue, SyslogConfig(tcp=LOCAL))
        reader, writer = await asyncio.open_connection(*addresses["tcp"])
        payload = b"".join(
            b"<14>Oct 11 22:14:15 web-1 app[7]: line %d\n" % i for i in range(20_000)
        )
        writer.write(payload)
        await writer.drain()
        lines = await collect(queue, 20_000, "syslog_tcp")
        writer.close()
        await server.stop()
        assert [line.message for line in lines] == [f"line {i}" for i in range(20_000)]
        assert lines[0].label("host") == "web-1"

    run(main)


def test_tcp_damaged_frames_cost_only_themselves() -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        server, addresses = await started(queue, SyslogConfig(tcp=LOCAL, max_message_bytes=200))
        counts = (
            rejected("syslog_tcp"),
            repaired("syslog_tcp", "truncated"),
            repaired("syslog_tcp", "invalid_utf8"),
        )
        reader, writer = await asyncio.open_connection(*addresses["tcp"])
        writer.write(
            counted(b"<13>1 - h app - - - one")
            + counted(b"<13>1 - h app - - - " + b"x" * 500)  # oversized: cut
            + counted(b"<13>1 - h app - - - bad \xc3\x28 utf8")  # repaired
            + b"1x5 <13>1 - h app - - - not a count"  # rejected
            + counted(b"<13>1 - h app - - - two")
            + b"<13>Oct 11 22:14:15 h app: three\n"  # newline framing in between
            + b"<13>Oct 11 22:14:15 h app: "
            + b"y" * 500
            + b"\n"  # oversized line: cut
        )
        await writer.drain()
        lines = await collect(queue, 6)
        assert [line.message[:8] for line in lines] == [
            "one",
            "x" * 8,
            "bad \ufffd( u",
            "two",
            "three",
            "y" * 8,
        ]
        assert len(lines[1].message.encode()) == 200 - len(b"<13>1 - h app - - - ")
        # the connection survived: more lines still arrive
        writer.write(counted(b"<13>1 - h app - - - four"))
        await writer.drain()
        (four,) = await collect(queue, 1)
        assert four.message == "four"
        # a frame the connection's end cuts short is rejected
        writer.write(b"300 <13>1 - h app - - - never finished")
        writer.write_eof()
        assert await closed_by_server(reader)
        writer.close()
        await until(lambda: rejected("syslog_tcp") == counts[0] + 2)
        await server.stop()
        assert repaired("syslog_tcp", "truncated") == counts[1] + 2
        assert repaired("syslog_tcp", "invalid_utf8") == counts[2] + 1
        assert queue.take(timeout=0) == []

    run(main)


def test_hopeless_stream_is_closed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        server, addresses = await started(queue, SyslogConfig(tcp=LOCAL, max_message_bytes=100))
        reader, writer = await asyncio.open_connection(*addresses["tcp"])
        writer.write(counted(b"<13>1 - h app - - - fine") + b"\x16\x03\x01" + bytes(range(14, 256)))
        await writer.drain()
        assert await closed_by_server(reader)
        writer.close()
        (line,) = await collect(queue, 1)
        assert line.message == "fine"
        await server.stop()

    with caplog.at_level(logging.DEBUG, logger="watchkeeper.logs.syslog"):
        run(main)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "no syslog frame found" in warnings[0].getMessage()
    assert "connection closed" in warnings[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)


def test_full_queue_slows_the_sender_and_loses_nothing() -> None:
    async def main() -> None:
        queue = IngestQueue(size=100)  # "block"
        server, addresses = await started(queue, SyslogConfig(tcp=LOCAL))
        reader, writer = await asyncio.open_connection(*addresses["tcp"])
        total = 30_000
        payload = b"".join(b"<14>Oct 11 22:14:15 h app: n%d\n" % i for i in range(total))

        async def send() -> None:
            writer.write(payload)
            await writer.drain()

        sending = asyncio.create_task(send())
        # nobody takes: the receiver stops reading once the queue holds its share
        await until(lambda: queue.lines >= 100)
        await asyncio.sleep(0.05)
        assert queue.lines < total
        lines = await collect(queue, total)
        await sending
        writer.close()
        await server.stop()
        assert [line.message for line in lines] == [f"n{i}" for i in range(total)]

    run(main)


def test_stop_ends_busy_and_blocked_connections_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        queue = IngestQueue(size=10)
        server, addresses = await started(queue, SyslogConfig(tcp=LOCAL, udp=LOCAL))
        idle = await asyncio.open_connection(*addresses["tcp"])
        blocked = await asyncio.open_connection(*addresses["tcp"])
        blocked[1].write(b"<13>Oct 11 22:14:15 h app: x\n" * 100)
        await until(lambda: queue.lines > 0)
        blocked[1].write(b"<13>Oct 11 22:14:15 h app: y\n" * 100)  # waits for room
        await blocked[1].drain()
        await asyncio.wait_for(server.stop(), WAIT)
        for reader, writer in (idle, blocked):
            assert await closed_by_server(reader)
            writer.close()

    with caplog.at_level(logging.DEBUG):
        run(main)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_connection_limit(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        server, addresses = await started(queue, SyslogConfig(tcp=LOCAL), max_connections=2)
        first = await asyncio.open_connection(*addresses["tcp"])
        second = await asyncio.open_connection(*addresses["tcp"])
        first[1].write(b"<13>Oct 11 22:14:15 h app: a\n")
        second[1].write(b"<13>Oct 11 22:14:15 h app: b\n")
        await collect(queue, 2)  # both are being served
        third_reader, third_writer = await asyncio.open_connection(*addresses["tcp"])
        assert await closed_by_server(third_reader)
        third_writer.close()
        await server.stop()
        for _, writer in (first, second):
            writer.close()

    with caplog.at_level(logging.WARNING, logger="watchkeeper.logs.syslog"):
        run(main)
    assert any("the limit" in r.getMessage() for r in caplog.records)


def test_idle_connection_is_closed() -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        server, addresses = await started(queue, SyslogConfig(tcp=LOCAL), idle_timeout=0.1)
        reader, writer = await asyncio.open_connection(*addresses["tcp"])
        writer.write(b"<13>Oct 11 22:14:15 h app: last words")  # no LF: kept at close
        assert await closed_by_server(reader)
        writer.close()
        (line,) = await collect(queue, 1)
        assert line.message == "last words"
        await server.stop()

    run(main)


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("syslog-tls")
    files = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key", "client")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    ca.issue_cert("sender.example").private_key_and_cert_chain_pem.write_to_path(
        str(files["client"])
    )
    return files


def client_context(files: dict[str, Path], with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files["ca"]))
    if with_cert:
        context.load_cert_chain(str(files["client"]))
    return context


def test_tls_octet_counted(tls_files: dict[str, Path]) -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        config = SyslogConfig(
            tls=TlsListener(
                listen=LOCAL, cert_file=str(tls_files["cert"]), key_file=str(tls_files["key"])
            )
        )
        server, addresses = await started(queue, config)
        reader, writer = await asyncio.open_connection(
            *addresses["tls"], ssl=client_context(tls_files, False)
        )
        writer.write(counted(b"<13>1 - h app - - - over tls") + b"<13>1 - h app - - - line\n")
        await writer.drain()
        lines = await collect(queue, 2, "syslog_tls")
        assert [line.message for line in lines] == ["over tls", "line"]
        writer.close()
        await server.stop()

    run(main)


def test_tls_client_certificate_required(tls_files: dict[str, Path]) -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        config = SyslogConfig(
            tls=TlsListener(
                listen=LOCAL,
                cert_file=str(tls_files["cert"]),
                key_file=str(tls_files["key"]),
                client_ca_file=str(tls_files["ca"]),
            )
        )
        server, addresses = await started(queue, config)
        # without a certificate: the handshake fails, or (TLS 1.3) the server hangs up
        try:
            reader, writer = await asyncio.open_connection(
                *addresses["tls"], ssl=client_context(tls_files, False)
            )
            writer.write(counted(b"<13>1 - h app - - - refused"))
            await writer.drain()
            assert await closed_by_server(reader)
            writer.close()
        except (ssl.SSLError, ConnectionError):
            pass
        reader, writer = await asyncio.open_connection(
            *addresses["tls"], ssl=client_context(tls_files, True)
        )
        writer.write(counted(b"<13>1 - h app - - - accepted"))
        await writer.drain()
        (line,) = await collect(queue, 1)
        assert line.message == "accepted"  # and nothing from the first one
        writer.close()
        await server.stop()

    run(main)


# --- configuration ----------------------------------------------------------------------------


def test_apply_is_idempotent_and_restarts_only_what_changed() -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        config = SyslogConfig(tcp=LOCAL, udp=LOCAL, labels={"env": "a"})
        server, addresses = await started(queue, config)
        assert await server.apply(config.model_copy()) == []
        assert server.addresses == addresses
        reader, writer = await asyncio.open_connection(*addresses["tcp"])
        writer.write(b"<13>Oct 11 22:14:15 h app: before\n")
        await writer.drain()
        (before,) = await collect(queue, 1)
        # new labels: same listeners, the open connection carries on with the new labels
        assert await server.apply(config.model_copy(update={"labels": {"env": "b"}})) == []
        assert server.addresses == addresses
        writer.write(b"<13>Oct 11 22:14:15 h app: after\n")
        await writer.drain()
        (after,) = await collect(queue, 1)
        assert (before.label("env"), after.label("env")) == ("a", "b")
        # no UDP any more: only UDP stops
        assert await server.apply(SyslogConfig(tcp=LOCAL, labels={"env": "b"})) == []
        assert set(server.addresses) == {"tcp"}
        assert server.addresses["tcp"] == addresses["tcp"]
        await server.apply(None)
        assert server.addresses == {}
        assert await closed_by_server(reader)
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(*addresses["tcp"])

    run(main)


def test_listener_that_cannot_start_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            server = SyslogServer(queue)
            config = SyslogConfig(
                tcp=f"127.0.0.1:{port}",
                udp=LOCAL,
                tls=TlsListener(
                    listen=LOCAL,
                    cert_file=str(tmp_path / "missing.pem"),
                    key_file=str(tmp_path / "missing.key"),
                ),
            )
            problems = await server.apply(config)
            assert len(problems) == 2
            assert problems[0].startswith(
                f"logs.syslog.tcp: cannot start the listener on 127.0.0.1:{port}: "
            )
            assert "address already in use" in problems[0]
            assert problems[1] == (
                "logs.syslog.tls: cannot start the listener on 127.0.0.1:0: "
                f"cert_file {tmp_path / 'missing.pem'} is not a readable file"
            )
            assert set(server.addresses) == {"udp"}  # the rest runs
        # the port is free now: the same configuration is tried again, and TCP starts
        assert await server.apply(config) == problems[1:]
        assert server.addresses["tcp"][1] == port
        await server.stop()

    with caplog.at_level(logging.WARNING, logger="watchkeeper.logs.syslog"):
        run(main)
    # each problem is logged once, not on every retry
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "logs.syslog.tcp",
        "logs.syslog.tls",
    ]


# --- a real sender ----------------------------------------------------------------------------

LOGGER = shutil.which("logger")


@pytest.mark.skipif(LOGGER is None, reason="util-linux logger is not installed")
@pytest.mark.parametrize(
    ("kind", "flags", "source"),
    [
        ("tcp", ["--tcp", "--octet-count", "--rfc5424"], "syslog_tcp"),
        ("tcp", ["--tcp", "--rfc3164"], "syslog_tcp"),
        ("udp", ["--udp", "--rfc5424"], "syslog_udp"),
        ("udp", ["--udp", "--rfc3164"], "syslog_udp"),
    ],
)
def test_util_linux_logger(kind: str, flags: list[str], source: str) -> None:
    async def main() -> None:
        queue = IngestQueue(1000)
        server, addresses = await started(queue, SyslogConfig(tcp=LOCAL, udp=LOCAL))
        assert LOGGER is not None
        sender = await asyncio.create_subprocess_exec(
            LOGGER,
            "--server",
            "127.0.0.1",
            "--port",
            str(addresses[kind][1]),
            *flags,
            "--tag",
            "shop",
            "--priority",
            "local4.err",
            "order placed",
            env={"TZ": "UTC"},  # RFC 3164 times are read as UTC
        )
        assert await sender.wait() == 0
        (line,) = await collect(queue, 1, source)
        await server.stop()
        assert line.message == "order placed"
        assert line.label("app") == "shop"
        assert line.label("level") == "error"
        assert line.label("host") not in ("", "127.0.0.1")  # the sender's own name
        assert line.fields["facility"] == "local4"
        assert abs(line.ts - line.received) < 120 * 10**9

    run(main)


# --- end to end -------------------------------------------------------------------------------


def test_lines_are_stored_and_searchable(ctx: AppContext) -> None:
    async def main() -> None:
        server, addresses = await started(ctx.logs.queue, SyslogConfig(tcp=LOCAL))
        reader, writer = await asyncio.open_connection(*addresses["tcp"])
        writer.write(
            counted(b'<11>1 2024-01-15T10:00:00Z db-1 postgres 42 - [req@1 id="r-7"] boom')
            + b"<14>Jan 15 10:00:01 web-1 nginx[9]: GET / 200\n"
        )
        writer.write_eof()
        assert await closed_by_server(reader)
        writer.close()
        await until(lambda: ctx.logs.queue.lines == 0)
        await server.stop()

    run(main)
    (boom,) = stored(ctx, '{source="syslog", level="error"}')
    assert boom.message == "boom"
    assert boom.label("host") == "db-1"
    assert boom.fields["sd.req@1.id"] == "r-7"
    (get,) = stored(ctx, '{app="nginx"}')
    assert get.message == "GET / 200"
    assert get.label("level") == "info"
