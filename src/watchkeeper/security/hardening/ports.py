"""Listening ports beyond loopback, against the profile's ``allowed_ports``.

The sockets come from psutil (``/proc/net`` on Linux): TCP sockets in LISTEN state and UDP
sockets bound without a peer. One bound to a loopback address (127.0.0.0/8, ::1) is not
reachable from the network and is left out; any other address (the wildcards 0.0.0.0 and ::
included) counts.

``allowed_ports`` items: ``22`` or ``8000-8100`` (TCP), ``tcp/22``, ``udp/53``, ``udp/60000-61000``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import psutil

from watchkeeper.security.hardening.interface import (
    AuditContext,
    Result,
    check,
    failed,
    passed,
    skipped,
)


@dataclass(frozen=True)
class Listener:
    """A socket taking connections or datagrams: protocol, address, port, process."""

    protocol: str
    address: str
    port: int
    process: str = ""

    def __str__(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        who = f" ({self.process})" if self.process else ""
        return f"{self.protocol}/{self.port} on {address}{who}"


def parse_allowed(items: list[str]) -> list[tuple[str, int, int]]:
    """``(protocol, low, high)`` of each allowed item (validated by the plan model)."""
    ranges = []
    for item in items:
        protocol = "udp" if item.startswith("udp/") else "tcp"
        low, _, high = item.removeprefix("tcp/").removeprefix("udp/").partition("-")
        ranges.append((protocol, int(low), int(high or low)))
    return ranges


def is_allowed(listener: Listener, allowed: list[tuple[str, int, int]]) -> bool:
    return any(p == listener.protocol and low <= listener.port <= high for p, low, high in allowed)


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def listeners() -> list[Listener]:
    """The sockets listening beyond loopback; raise psutil.AccessDenied where the system
    shows them to root only."""
    found: dict[tuple[str, str, int], Listener] = {}
    names: dict[int, str] = {}
    for conn in psutil.net_connections(kind="inet"):
        if not conn.laddr:
            continue
        if conn.type == socket.SOCK_STREAM and conn.status == psutil.CONN_LISTEN:
            protocol = "tcp"
        elif conn.type == socket.SOCK_DGRAM and not conn.raddr:
            protocol = "udp"
        else:
            continue
        address, port = conn.laddr.ip, conn.laddr.port
        if is_loopback(address):
            continue
        process = ""
        if conn.pid:
            if conn.pid not in names:
                try:
                    names[conn.pid] = psutil.Process(conn.pid).name()
                except psutil.Error:
                    names[conn.pid] = ""
            process = f"{names[conn.pid]} pid {conn.pid}" if names[conn.pid] else f"pid {conn.pid}"
        found[(protocol, address, port)] = Listener(protocol, address, port, process)
    return sorted(found.values(), key=lambda item: (item.protocol, item.port, item.address))


@check(
    "NET-LISTENING-PORTS",
    title="Only allowed ports listen beyond loopback",
    weight=3,
    scope="host",
    rationale="Every port reachable from the network is something an attacker can probe; "
    "services that only local programs use (databases, caches, admin consoles) are safer on "
    "127.0.0.1, and a forgotten debug server is a common way in.",
    remediation="Bind local-only services to 127.0.0.1 (or a private interface), stop the "
    "ones nobody needs, or — when the port is meant to be open — add it to the profile's "
    "`allowed_ports` (`443`, `8000-8100`, `udp/53`).",
)
def listening_ports(ctx: AuditContext) -> Result:
    if not ctx.live:
        return skipped("auditing a directory tree, not the running system: no sockets to list")
    try:
        found = listeners()
    except psutil.AccessDenied:
        return skipped(
            "this system shows the listening sockets to root only; run the agent (or "
            "`watchkeeper security audit`) as root for this check"
        )
    allowed = parse_allowed(ctx.profile.allowed_ports)
    bad = [item for item in found if not is_allowed(item, allowed)]
    permitted = ", ".join(ctx.profile.allowed_ports) or "none"
    if bad:
        return failed(f"{len(bad)} not allowed: {', '.join(map(str, bad))} (allowed: {permitted})")
    open_ports = ", ".join(sorted({f"{item.protocol}/{item.port}" for item in found})) or "none"
    return passed(f"beyond loopback: {open_ports} (allowed: {permitted})")
