"""HTTPS checks with a private CA (`ca_file`) and client certificates (`client_cert`,
`client_key`) against a real TLS server on loopback that requires one; trustme makes the
certificates."""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from tests.checks.http_app import serve_and_check
from watchkeeper.checks.http import HttpCheck
from watchkeeper.checks.interface import Outcome


@dataclass(frozen=True)
class Pki:
    """A private CA, a server certificate for 127.0.0.1, and client certificates as files."""

    folder: Path
    server: ssl.SSLContext  # requires a client certificate issued by the private CA

    def __getitem__(self, name: str) -> str:
        return str(self.folder / name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, stranger = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client = ca.issue_cert("probe@watchkeeper.test")
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    client.private_key_pem.write_to_path(str(folder / "client.key"))
    client.private_key_and_cert_chain_pem.write_to_path(str(folder / "client-with-key.pem"))
    other = ca.issue_cert("other@watchkeeper.test")
    other.private_key_pem.write_to_path(str(folder / "other.key"))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    (folder / "encrypted.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a passphrase"),
        )
    )
    outsider = stranger.issue_cert("probe@elsewhere.test")
    outsider.private_key_and_cert_chain_pem.write_to_path(str(folder / "outsider.pem"))

    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca.configure_trust(server)
    server.verify_mode = ssl.CERT_REQUIRED
    return Pki(folder, server)


def check_tls(pki: Pki, **spec: Any) -> Outcome:
    return asyncio.run(serve_and_check("/report", spec, server_ssl=pki.server))


def test_client_certificate_is_presented(pki: Pki) -> None:
    outcome = check_tls(
        pki, ca_file=pki["ca.pem"], client_cert=pki["client.pem"], client_key=pki["client.key"]
    )
    assert outcome.ok and outcome.message == "HTTP 200"


def test_certificate_and_key_in_one_file(pki: Pki) -> None:
    assert check_tls(pki, ca_file=pki["ca.pem"], client_cert=pki["client-with-key.pem"]).ok


def test_without_a_client_certificate_the_server_refuses(pki: Pki) -> None:
    outcome = check_tls(pki, ca_file=pki["ca.pem"])
    assert not outcome.ok
    assert outcome.message == (
        "server closed the connection without answering "
        "(if it requires a client certificate, set client_cert)"
    )


def test_client_certificate_from_another_ca_is_refused(pki: Pki) -> None:
    outcome = check_tls(pki, ca_file=pki["ca.pem"], client_cert=pki["outsider.pem"])
    assert not outcome.ok
    assert outcome.message == (
        "server closed the connection without answering "
        f"(does it trust the client certificate in {pki['outsider.pem']}?)"
    )


def test_private_ca_is_not_trusted_without_ca_file(pki: Pki) -> None:
    outcome = check_tls(pki, client_cert=pki["client-with-key.pem"])
    assert not outcome.ok and outcome.message.startswith("TLS certificate not trusted")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"ca_file": "missing-ca.pem"},
            "cannot load ca_file {missing-ca.pem}: No such file or directory",
        ),
        (
            {"client_cert": "missing.pem"},
            "cannot load client_cert: {missing.pem}: No such file or directory",
        ),
        (
            {"client_cert": "client.pem"},
            "cannot load client_cert: {client.pem} holds no PEM private key "
            "(give its key file as client_key)",
        ),
        (
            {"client_cert": "client.key"},
            "cannot load client_cert: {client.key} holds no PEM certificate",
        ),
        (
            {"client_cert": "client.pem", "client_key": "encrypted.key"},
            "cannot load client_cert: the key in {encrypted.key} is encrypted; "
            "give an unencrypted key",
        ),
        (
            {"client_cert": "client.pem", "client_key": "other.key"},
            "cannot load client_cert: the key in {other.key} does not belong to the "
            "certificate in {client.pem}",
        ),
    ],
)
def test_unusable_files_are_named(pki: Pki, files: dict[str, str], message: str) -> None:
    paths = {key: pki[name] for key, name in files.items()}
    outcome = check_tls(pki, **({"ca_file": pki["ca.pem"]} | paths))
    assert not outcome.ok
    for name in files.values():
        message = message.replace(f"{{{name}}}", pki[name])
    assert outcome.message == message


def test_a_renewed_client_certificate_is_picked_up(pki: Pki, tmp_path: Path) -> None:
    """The context is cached per set of files, and rebuilt when a file changes."""
    cert = tmp_path / "renewed.pem"
    cert.write_bytes((pki.folder / "outsider.pem").read_bytes())
    spec = {"ca_file": pki["ca.pem"], "client_cert": str(cert)}

    async def before_and_after_renewal() -> tuple[Outcome, Outcome]:
        plugin = HttpCheck()
        try:
            before = await serve_and_check("/report", spec, pki.server, plugin=plugin)
            cert.write_bytes((pki.folder / "client-with-key.pem").read_bytes())
            renewed_at = cert.stat().st_mtime + 3600  # as a renewal an hour later would
            os.utime(cert, (renewed_at, renewed_at))
            after = await serve_and_check("/report", spec, pki.server, plugin=plugin)
        finally:
            await plugin.aclose()
        return before, after

    before, after = asyncio.run(before_and_after_renewal())
    assert not before.ok and after.ok
