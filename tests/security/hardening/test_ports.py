"""Listening ports against the allowed list, with real sockets: one on 127.0.0.1 is not
reachable from the network, the same port on 0.0.0.0 is (TCP and UDP)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.hardening.support import profile, tree_context
from watchkeeper.security.hardening.interface import AuditContext
from watchkeeper.security.hardening.ports import is_loopback, listening_ports, parse_allowed


def _allow_all_but(port: int) -> list[str]:
    """Every port except ``port`` (the host may listen on others during the test)."""
    allowed = ["udp/1-65535"] if port > 1 else []
    if port > 1:
        allowed.append(f"1-{port - 1}")
    if port < 65535:
        allowed.append(f"{port + 1}-65535")
    return allowed


@pytest.fixture
def free_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port: int = probe.getsockname()[1]
    yield port


def _listen(address: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen()
    return sock


def test_loopback_passes_wildcard_fails(free_port: int) -> None:
    ctx = AuditContext(profile=profile(allowed_ports=_allow_all_but(free_port)))
    with _listen("127.0.0.1", free_port):
        result = listening_ports(ctx)
        assert result.status == "pass", result.detail
        assert f"tcp/{free_port}" not in result.detail
    with _listen("0.0.0.0", free_port):
        result = listening_ports(ctx)
        assert result.status == "fail"
        assert result.detail.startswith(f"1 not allowed: tcp/{free_port} on 0.0.0.0 (")
        assert f"pid {os.getpid()})" in result.detail
    ctx.profile = profile(allowed_ports=[*_allow_all_but(free_port), f"tcp/{free_port}"])
    with _listen("0.0.0.0", free_port):
        assert listening_ports(ctx).status == "pass"


def test_udp_needs_its_own_allowance(free_port: int) -> None:
    allowed = [f"1-{free_port - 1}", f"{free_port + 1}-65535", f"{free_port}"]
    allowed += [f"udp/1-{free_port - 1}", f"udp/{free_port + 1}-65535"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("0.0.0.0", free_port))
        result = listening_ports(AuditContext(profile=profile(allowed_ports=allowed)))
        assert result.status == "fail"
        assert f"udp/{free_port} on 0.0.0.0" in result.detail
        allowed.append(f"udp/{free_port}")
        assert (
            listening_ports(AuditContext(profile=profile(allowed_ports=allowed))).status == "pass"
        )


def test_not_judged_on_a_directory_tree(tmp_path: Path) -> None:
    assert listening_ports(tree_context(tmp_path)).status == "skip"


def test_allowed_ranges_and_loopback_addresses() -> None:
    assert parse_allowed(["22", "tcp/443", "8000-8100", "udp/53"]) == [
        ("tcp", 22, 22),
        ("tcp", 443, 443),
        ("tcp", 8000, 8100),
        ("udp", 53, 53),
    ]
    assert is_loopback("127.0.0.53") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.1")
