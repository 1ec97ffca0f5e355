"""The TLS audit against real HTTPS servers on loopback: a legacy one (TLS 1.0 up, NULL and
anonymous suites, an RSA-1024 key, no HSTS) fails every check; a modern one (TLS 1.2 up, EC
P-256, HSTS for a year) passes them, with every legacy version and weak suite offered on the
wire; an endpoint nobody listens on is an error, not a failure."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.hardening.support import profile
from tests.security.hardening.tls_servers import HttpsServer, self_signed
from watchkeeper.security.hardening import client_hello
from watchkeeper.security.hardening.audits import audit_endpoint
from watchkeeper.security.hardening.interface import CheckError, Endpoint
from watchkeeper.security.hardening.profiles import AppliedProfile
from watchkeeper.security.hardening.runner import Report

APPLIED = AppliedProfile(("default",), profile(name="default"))


def _results(report: Report) -> dict[str, tuple[str, str]]:
    return {o.id: (o.status, o.detail) for o in report.outcomes}


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    cert, key = self_signed(tmp_path_factory.mktemp("legacy"), "rsa1024")
    with HttpsServer(cert, key, legacy=True) as server:
        yield server


@pytest.fixture(scope="module")
def modern(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    cert, key = self_signed(tmp_path_factory.mktemp("modern"), "ec")
    with HttpsServer(cert, key, hsts="max-age=31536000; includeSubDomains") as server:
        yield server


def _endpoint(port: int, url: bool = True) -> Endpoint:
    return Endpoint("127.0.0.1", port, None, f"https://127.0.0.1:{port}/" if url else None)


def test_a_legacy_endpoint_fails_every_check(legacy: HttpsServer) -> None:
    report = audit_endpoint(_endpoint(legacy.port), APPLIED, timeout=5)
    assert report.host == f"tls://127.0.0.1:{legacy.port}"
    found = _results(report)
    assert found["TLS-PROTOCOLS"] == (
        "fail",
        "accepts TLS 1.0, TLS 1.1, TLS 1.2, TLS 1.3; refuses SSL 3.0",
    )
    status, detail = found["TLS-WEAK-CIPHERS"]
    assert status == "fail"
    # Offered on the wire: the picked suite is read from the ServerHello, not negotiated
    # by the local library.
    assert detail.startswith("accepts NULL (no encryption): TLS_")
    assert "; anonymous (no authentication): TLS_" in detail
    assert found["TLS-KEY-SIZE"] == ("fail", "RSA 1024 bits (CN=test-rsa1024)")
    status, detail = found["TLS-HSTS"]
    assert status == "fail"
    assert (
        detail
        == f"no Strict-Transport-Security header on https://127.0.0.1:{legacy.port} (status 200)"
    )
    assert (report.points, report.index) == (0, 0.0)


def test_a_modern_endpoint_passes(modern: HttpsServer) -> None:
    report = audit_endpoint(_endpoint(modern.port), APPLIED, timeout=5)
    found = _results(report)
    assert found["TLS-PROTOCOLS"] == (
        "pass",
        "accepts TLS 1.2, TLS 1.3; refuses SSL 3.0, TLS 1.0, TLS 1.1",
    )
    # Every weak class was offered (whatever this OpenSSL has) and refused: nothing untested.
    assert found["TLS-WEAK-CIPHERS"] == (
        "pass",
        "refuses NULL (no encryption), anonymous (no authentication), EXPORT, RC4, DES, 3DES",
    )
    assert found["TLS-KEY-SIZE"] == ("pass", "EC secp256r1 (256 bits) (CN=test-ec)")
    assert found["TLS-HSTS"] == (
        "pass",
        'Strict-Transport-Security "max-age=31536000; includeSubDomains"',
    )
    assert report.index == 100.0


def test_the_hand_built_client_hello(legacy: HttpsServer, modern: HttpsServer) -> None:
    # Well-formed: a modern server takes the one ECDHE suite offered (so a refusal of a weak
    # suite is the server's, not a malformed hello's); the legacy one speaks TLS 1.0.
    gcm = client_hello.offer(_endpoint(modern.port), 5, client_hello.TLS12, [0xC02B])
    assert gcm == (client_hello.TLS12, 0xC02B)
    old = client_hello.offer(_endpoint(legacy.port), 5, client_hello.TLS10, [0xC018, 0x0034])
    assert old is not None and old[0] == client_hello.TLS10 and old[1] in (0xC018, 0x0034)
    assert client_hello.offer(_endpoint(modern.port), 5, client_hello.TLS10, [0xC013]) is None
    with socket.socket() as plain:  # a listener that never answers: an error, not a refusal
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        endpoint = _endpoint(plain.getsockname()[1])
        with pytest.raises(CheckError, match="did not answer a ClientHello in 0.2 s"):
            client_hello.offer(endpoint, 0.2, client_hello.TLS12, [0xC02B])


def test_a_short_hsts_max_age_fails(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "ec")
    with HttpsServer(cert, key, hsts="max-age=300") as server:
        report = audit_endpoint(_endpoint(server.port), APPLIED, timeout=5)
    assert _results(report)["TLS-HSTS"] == (
        "fail",
        'Strict-Transport-Security "max-age=300": max-age under 180 days',
    )


def test_tls_checks_only_skip_hsts_and_profile_skips_count(modern: HttpsServer) -> None:
    applied = AppliedProfile(("p",), profile(name="p", skip=["TLS-WEAK-CIPHERS"]))
    found = _results(audit_endpoint(_endpoint(modern.port, url=False), applied, timeout=5))
    assert found["TLS-HSTS"][0] == "skip"
    assert found["TLS-WEAK-CIPHERS"] == ("skip", "skipped by the profile (p)")


def test_nobody_listening_is_an_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = audit_endpoint(_endpoint(port), APPLIED, timeout=2)
    assert {o.status for o in report.outcomes} == {"error"}
    assert report.possible == 0
    status, detail = _results(report)["TLS-PROTOCOLS"]
    assert detail == f"cannot connect to 127.0.0.1:{port}: Connection refused"
