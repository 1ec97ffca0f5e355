"""TLS checks against real TLS servers on loopback, with certificates made by trustme."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trustme

from watchkeeper.checks.interface import Outcome
from watchkeeper.checks.tls import TlsCheck, TlsCheckConfig


def probe(
    tmp_path: Path, *, not_after: datetime | None = None, trust: bool = True, **spec: Any
) -> Outcome:
    """Serve one TLS listener with a fresh CA's certificate for localhost, run the check."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", not_after=not_after)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)

    async def go() -> Outcome:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        config = TlsCheckConfig.model_validate(
            {
                "name": "t",
                "type": "tls",
                "host": "127.0.0.1",
                "port": port,
                "server_name": "localhost",
                **({"ca_file": str(ca_file)} if trust else {}),
                **spec,
            }
        )
        async with server:
            return await TlsCheck().run(config)

    return asyncio.run(go())


def test_trusted_certificate_is_up_with_days_left(tmp_path: Path) -> None:
    outcome = probe(tmp_path, not_after=datetime.now(UTC) + timedelta(days=90, hours=1))
    assert outcome.ok and outcome.message.startswith("certificate valid for 90 more days")
    assert outcome.response_ms is not None


def test_untrusted_chain_is_down(tmp_path: Path) -> None:
    outcome = probe(tmp_path, trust=False)
    assert not outcome.ok and "certificate not valid for localhost" in outcome.message


def test_wrong_host_name_is_down(tmp_path: Path) -> None:
    outcome = probe(tmp_path, server_name="shop.example.org")
    assert not outcome.ok and "certificate not valid for shop.example.org" in outcome.message


def test_certificate_expiring_soon_is_down(tmp_path: Path) -> None:
    outcome = probe(tmp_path, not_after=datetime.now(UTC) + timedelta(days=5, hours=1), min_days=14)
    assert not outcome.ok and outcome.message.startswith("certificate expires in 5 days")


def test_expired_certificate_is_reported_even_without_verification(tmp_path: Path) -> None:
    outcome = probe(tmp_path, not_after=datetime.now(UTC) - timedelta(days=2), tls_verify=False)
    assert not outcome.ok and outcome.message.startswith("certificate expired on")


def test_unreadable_ca_file_is_a_clear_failure(tmp_path: Path) -> None:
    outcome = probe(tmp_path, ca_file=str(tmp_path / "missing.pem"))
    assert not outcome.ok and "cannot load ca_file" in outcome.message


def test_closed_port_is_down(closed_port: int) -> None:
    config = TlsCheckConfig(name="t", type="tls", host="127.0.0.1", port=closed_port)
    outcome = asyncio.run(TlsCheck().run(config))
    assert not outcome.ok and outcome.message.startswith("cannot connect to 127.0.0.1")
