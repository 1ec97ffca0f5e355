"""TCP checks against real sockets on loopback."""

from __future__ import annotations

import asyncio

from watchkeeper.checks.tcp import TcpCheck, TcpCheckConfig


def run(port: int) -> tuple[bool, str]:
    config = TcpCheckConfig(name="t", type="tcp", host="127.0.0.1", port=port)
    outcome = asyncio.run(TcpCheck().run(config))
    return outcome.ok, outcome.message


def test_listening_port_is_up(listening_port: int) -> None:
    assert run(listening_port) == (True, "connected")


def test_closed_port_is_down(closed_port: int) -> None:
    ok, message = run(closed_port)
    assert not ok and message.startswith(f"cannot connect to 127.0.0.1:{closed_port}")
