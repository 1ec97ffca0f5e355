"""Offer a TLS server exactly what the audit asks about, whatever the local TLS library can
do: a hand-built ClientHello (RFC 5246 7.4.1.2) with a chosen protocol version and chosen
cipher suite ids, and the server's answer read from the wire. A ServerHello says the
server took the offer (with the version and suite it picked); an alert or a closed
connection says it refused. No key exchange follows: the connection is dropped after the
ServerHello, so nothing needs the suite's algorithms here (OpenSSL 3 has no RC4, DES or
EXPORT suites at all, and no SSL 3.0)."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Sequence

from watchkeeper.security.hardening.interface import CheckError, Endpoint

SSL3, TLS10, TLS11, TLS12 = 0x0300, 0x0301, 0x0302, 0x0303
_GROUPS = (0x001D, 0x0017, 0x0018, 0x0019)  # x25519, P-256, P-384, P-521
_SIGNATURES = (0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501, 0x0201, 0x0203)


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(server_name: str, version: int, suites: Sequence[int]) -> bytes:
    """A ClientHello record offering ``version`` (no TLS 1.3 extension: at most 1.2) and
    ``suites``, with SNI (not for an IP address), the elliptic curves and the signature
    algorithms a server needs to pick an ECDHE suite or answer TLS 1.2."""
    exts = b""
    try:
        ipaddress.ip_address(server_name.strip("[]"))
    except ValueError:
        name = server_name.encode("idna")
        exts += _ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
    exts += _ext(10, struct.pack(f"!H{len(_GROUPS)}H", 2 * len(_GROUPS), *_GROUPS))
    exts += _ext(11, b"\x01\x00")  # uncompressed points
    exts += _ext(13, struct.pack(f"!H{len(_SIGNATURES)}H", 2 * len(_SIGNATURES), *_SIGNATURES))
    exts += _ext(0xFF01, b"\x00")  # secure renegotiation, empty: a first handshake
    ids = struct.pack(f"!{len(suites)}H", *suites)
    body = struct.pack("!H", version) + os.urandom(32) + b"\x00"  # no session to resume
    body += struct.pack("!H", len(ids)) + ids + b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    hello = b"\x01" + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 0x16, TLS10, len(hello)) + hello


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def offer(
    endpoint: Endpoint, timeout: float, version: int, suites: Sequence[int]
) -> tuple[int, int] | None:
    """Send the ClientHello; return the ``(version, suite)`` of the server's ServerHello,
    or None when it refused (an alert, a reset, a close). Raise CheckError when the
    endpoint cannot be reached, does not answer in time or does not answer with TLS."""
    where = f"{endpoint.host}:{endpoint.port}"
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except OSError as exc:
        raise CheckError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    try:
        with sock:
            sock.sendall(client_hello(endpoint.sni, version, suites))
            header = _read(sock, 5)
            if len(header) < 5 or header[0] == 0x15:  # closed, or an alert
                return None
            record = _read(sock, int.from_bytes(header[3:5], "big"))
    except TimeoutError:
        raise CheckError(f"{where} did not answer a ClientHello in {timeout:g} s") from None
    except OSError:
        return None  # reset: what some servers do with an offer they refuse
    if header[0] != 0x16 or len(record) < 39 or record[0] != 0x02:
        raise CheckError(f"{where} did not answer a ClientHello with a ServerHello")
    at = 38 + 1 + record[38]  # type, length, version, random; then the session id
    if len(record) < at + 2:
        raise CheckError(f"{where} sent a ServerHello too short to read")
    return int.from_bytes(record[4:6], "big"), int.from_bytes(record[at : at + 2], "big")
