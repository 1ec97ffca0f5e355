"""Watchkeeper's own TLS: `watchkeeper tls self-signed` (files, modes, names, messages),
the certificate settings (both or neither; checked before serving), HSTS and the security
headers on real responses over HTTP and HTTPS, the posture checks that report them, and the
HTTPS listener audited as an endpoint (its real protocols, suites, key and HSTS)."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from typer.testing import CliRunner

from tests.helpers import LiveServer
from tests.security.hardening.support import profile
from tests.security.hardening.tls_servers import self_signed
from watchkeeper.cli import app as cli_app
from watchkeeper.exceptions import ConfigError
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.runtime.tls import check_files, write_self_signed
from watchkeeper.security.hardening.audits import audit_endpoint
from watchkeeper.security.hardening.endpoints import own_endpoint
from watchkeeper.security.hardening.interface import AuditContext
from watchkeeper.security.hardening.posture import own_headers, own_tls
from watchkeeper.security.hardening.profiles import AppliedProfile
from watchkeeper.settings import Settings, load_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


def test_self_signed_command_writes_a_private_key_and_says_how_to_use_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = ["--home", str(home), "tls", "self-signed", "--host", "wk.example.org"]
    result = runner.invoke(cli_app, [*args, "--host", "10.0.0.5", "--days", "30"])
    assert result.exit_code == 0, result.output
    cert, key = home / "tls" / "cert.pem", home / "tls" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "tls").stat().st_mode) == 0o700
    assert stat.S_IMODE(home.stat().st_mode) == 0o700  # made here: private as `up` makes it
    assert f"WATCHKEEPER_TLS_CERT_FILE={cert.resolve()}" in result.output
    assert f"WATCHKEEPER_TLS_KEY_FILE={key.resolve()}" in result.output
    assert "names:       wk.example.org, 10.0.0.5" in result.output
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    days = (parsed.not_valid_after_utc - datetime.now(UTC)).days
    assert days == 29 or days == 30
    info = check_files(str(cert), str(key))  # the pair serves
    assert info.names == ("wk.example.org", "10.0.0.5")

    again = runner.invoke(cli_app, args)
    assert again.exit_code == 1
    assert "exists already; give --force to replace them" in again.output
    assert runner.invoke(cli_app, [*args, "--force"]).exit_code == 0
    bad = runner.invoke(cli_app, ["--home", str(home), "tls", "self-signed", "--host", "no good"])
    assert bad.exit_code == 1
    assert '--host "no good" is not a DNS name or an IP address' in bad.output
    days0 = runner.invoke(cli_app, [*args, "--force", "--days", "0"])
    assert days0.exit_code == 1 and "--days 0 is out of range" in days0.output


def test_certificate_settings_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set both WATCHKEEPER_TLS_CERT_FILE"):
        load_settings(env={"WATCHKEEPER_TLS_CERT_FILE": "/x.pem"}, home=tmp_path)
    one = write_self_signed(tmp_path / "one", ["localhost"], 1)
    other = write_self_signed(tmp_path / "other", ["localhost"], 1)
    with pytest.raises(ConfigError, match="is not the key of the certificate"):
        check_files(str(one.path), str(other.path.with_name("key.pem")))
    with pytest.raises(ConfigError, match=r"^WATCHKEEPER_TLS_KEY_FILE: cannot read /nope.pem"):
        check_files(str(one.path), "/nope.pem")
    # `watchkeeper up` stops with one line before starting anything.
    env = {
        "WATCHKEEPER_HOME": str(tmp_path / "home"),
        "WATCHKEEPER_TLS_CERT_FILE": str(one.path),
        "WATCHKEEPER_TLS_KEY_FILE": str(tmp_path / "missing.pem"),
    }
    result = runner.invoke(cli_app, ["up"], env=env)
    assert result.exit_code == 1
    assert "WATCHKEEPER_TLS_KEY_FILE: cannot read" in result.output


class _TlsServer(LiveServer):
    """The app served over HTTPS on a free loopback port."""

    def __init__(self, app: object, cert: Path, key: Path) -> None:
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="on",
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> _TlsServer:
        super().__enter__()
        self.url = self.url.replace("http://", "https://")
        return self


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[Path, Path]:
    info = write_self_signed(tmp_path / "tls", ["127.0.0.1"], 2)
    return info.path, info.path.with_name("key.pem")


def _settings(base: Settings, url: str, tls: tuple[Path, Path] | None) -> Settings:
    env = {}
    if tls:
        env = {"WATCHKEEPER_TLS_CERT_FILE": str(tls[0]), "WATCHKEEPER_TLS_KEY_FILE": str(tls[1])}
    return load_settings(
        env=env,
        home=base.home,
        database_url=base.database_url,
        listen=url.split("://", 1)[1],
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no store question here
def test_headers_over_http_and_https(ctx: AppContext, tls_pair: tuple[Path, Path]) -> None:
    with LiveServer(create_app(ctx)) as plain:
        response = httpx.get(plain.url + "/login")
        assert "strict-transport-security" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "same-origin"
        settings = _settings(ctx.settings, plain.url, None)
        result = own_headers(AuditContext(profile=profile(), settings=settings))
        assert result.status == "pass", result.detail
        assert result.detail == (
            f"{plain.url}/login sends X-Content-Type-Options, CSP, frame protection, "
            "Referrer-Policy"
        )
        assert own_tls(AuditContext(profile=profile(), settings=settings)).status == "pass"
        assert own_endpoint(settings) is None  # no TLS here: WK-TLS judges that
    with _TlsServer(create_app(ctx), *tls_pair) as secure:
        trust = ssl.create_default_context(cafile=str(tls_pair[0]))
        response = httpx.get(secure.url + "/login", verify=trust)
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        settings = _settings(ctx.settings, secure.url, tls_pair)
        assert settings.base_url == secure.url
        check = AuditContext(profile=profile(), settings=settings)
        result = own_headers(check)
        assert result.status == "pass", result.detail
        assert result.detail.endswith("Referrer-Policy, HSTS")
        tls = own_tls(check)
        assert tls.status == "pass"
        assert "(self-signed): EC secp256r1 (256 bits), expires" in tls.detail
        # The listener itself is audited as an endpoint: what it really accepts.
        own = own_endpoint(settings)
        assert own is not None and own.name == secure.url.replace("https://", "tls://")
        report = audit_endpoint(own, AppliedProfile(("default",), profile()), timeout=5)
        found = {o.id: (o.status, o.detail) for o in report.outcomes}
        assert found["TLS-PROTOCOLS"][0] == "pass", found
        assert found["TLS-WEAK-CIPHERS"][0] == "pass", found
        assert found["TLS-KEY-SIZE"][0] == "pass", found
        assert found["TLS-HSTS"] == ("pass", 'Strict-Transport-Security "max-age=31536000"')


def test_the_listener_posture(tmp_path: Path) -> None:
    def ctx(listen: str, **env: str) -> AuditContext:
        settings = load_settings(env=env, home=tmp_path, listen=listen)
        return AuditContext(profile=profile(), settings=settings)

    assert own_tls(ctx("127.0.0.1:8470")).detail == (
        "plain HTTP on 127.0.0.1:8470, reachable from this host only"
    )
    exposed = own_tls(ctx("0.0.0.0:8470", WATCHKEEPER_PUBLIC_URL="https://wk.example.org"))
    assert exposed.status == "fail"
    assert "the hop to this listener does not" in exposed.detail
    cert, key = self_signed(tmp_path, "rsa1024")
    weak = own_tls(
        ctx("0.0.0.0:8470", WATCHKEEPER_TLS_CERT_FILE=str(cert), WATCHKEEPER_TLS_KEY_FILE=str(key))
    )
    assert weak.status == "fail"
    assert weak.detail.endswith("the key is too small for this system's TLS library")
    headers = own_headers(ctx(f"127.0.0.1:{_free_port()}"))
    assert headers.status == "skip" and "does not answer" in headers.detail


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
