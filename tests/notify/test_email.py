"""The e-mail channel against a real SMTP server (aiosmtpd) on loopback: plain, STARTTLS,
implicit TLS, AUTH, and how SMTP replies decide retries."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import remember_secret
from tests.notify.channel_support import Mail, SmtpServer, Tls, deliver, group
from watchkeeper.notify.email import EmailChannel, EmailChannelConfig, message_id
from watchkeeper.notify.interface import DeliveryError, Notification

PASSWORD = remember_secret("smtp-pa55word-for-tests")


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return Tls(tmp_path)


def config(port: int, **spec: Any) -> EmailChannelConfig:
    return EmailChannelConfig.model_validate(
        {
            "name": "mail",
            "type": "email",
            "to": ["Ops <ops@example.com>", "oncall@example.com"],
            "from": "Watchkeeper <wk@example.com>",
            "host": "127.0.0.1",
            "port": port,
            "timeout": "5s",
            **spec,
        }
    )


def send(server: SmtpServer, message: Notification | None = None, **spec: Any) -> list[Mail]:
    async def go() -> list[Mail]:
        async with server:
            await deliver(EmailChannel(), config(server.port, **spec), message or group())
        return server.mails

    return asyncio.run(go())


def failure(server: SmtpServer, **spec: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        send(server, **spec)
    return info.value


def test_plain_smtp_delivers_text_and_html_alternatives() -> None:
    (mail,) = send(SmtpServer(), security="none")
    assert mail.sender == "wk@example.com"
    assert mail.recipients == ["ops@example.com", "oncall@example.com"]
    assert not mail.tls
    msg = mail.message
    assert msg["Subject"] == "[FIRING:1] HighErrorRate api (critical)"
    assert msg["To"] == "Ops <ops@example.com>, oncall@example.com"
    assert msg["X-Watchkeeper-Key"] == "n-7f3a9c"
    assert msg["Message-ID"] == message_id("n-7f3a9c", "wk@example.com")
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().startswith("FIRING: HighErrorRate")
    assert "<p>FIRING: HighErrorRate</p>" in html.get_content()


def test_a_resend_has_the_same_message_id_and_the_group_threads() -> None:
    server = SmtpServer()

    async def go() -> None:
        async with server:
            channel, cfg = EmailChannel(), config(server.port, security="none")
            await deliver(channel, cfg, group())
            await deliver(channel, cfg, group())
            await deliver(channel, cfg, group(key="n-other"))

    asyncio.run(go())
    first, again, other = (m.message for m in server.mails)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["References"] == other["References"]


def test_starttls_required_by_the_server(tls: Tls) -> None:
    server = SmtpServer(starttls=tls.server_context(), require_starttls=True)
    (mail,) = send(server, security="starttls", ca_file=str(tls.ca_file))
    assert mail.tls
    assert mail.message["Subject"] == "[FIRING:1] HighErrorRate api (critical)"


def test_implicit_tls(tls: Tls) -> None:
    server = SmtpServer(implicit_tls=tls.server_context())
    (mail,) = send(server, security="tls", ca_file=str(tls.ca_file))
    assert mail.message.get_body(("html",)) is not None


def test_auth_with_username_and_password(tls: Tls) -> None:
    server = SmtpServer(starttls=tls.server_context(), users={"alerts": PASSWORD})
    (mail,) = send(server, ca_file=str(tls.ca_file), username="alerts", password=PASSWORD)
    assert mail.login == "alerts"


def test_rejected_credentials_are_permanent(tls: Tls) -> None:
    server = SmtpServer(starttls=tls.server_context(), users={"alerts": PASSWORD})
    error = failure(server, ca_file=str(tls.ca_file), username="alerts", password="wrong-pass")
    assert error.permanent
    assert "535" in str(error)
    assert PASSWORD not in str(error) and "wrong-pass" not in str(error)


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_untrusted_certificate_is_refused_unless_verification_is_off(
    tls: Tls, security: str
) -> None:
    def server() -> SmtpServer:
        if security == "tls":
            return SmtpServer(implicit_tls=tls.server_context())
        return SmtpServer(starttls=tls.server_context(), require_starttls=True)

    error = failure(server(), security=security)
    assert not error.permanent
    assert "certificate" in str(error) and "unable to get local issuer" in str(error)
    assert len(send(server(), security=security, insecure_skip_verify=True)) == 1


def test_starttls_asked_of_a_server_without_it_is_permanent() -> None:
    error = failure(SmtpServer(), security="starttls")
    assert error.permanent
    assert "STARTTLS" in str(error)


def test_missing_ca_file_is_permanent(tmp_path: Path) -> None:
    error = failure(SmtpServer(), ca_file=str(tmp_path / "nope.pem"))
    assert error.permanent
    assert "nope.pem" in str(error)


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        ("550 5.1.1 <ops@example.com>: Recipient address rejected: unknown user", True),
        ("451 4.3.0 Try again later", False),
    ],
)
def test_recipient_refusals(reply: str, permanent: bool) -> None:
    refuse = {"ops@example.com": reply, "oncall@example.com": reply}
    error = failure(SmtpServer(refuse=refuse), security="none")
    assert error.permanent is permanent
    assert reply[:3] in str(error) and "ops@example.com" in str(error)


def test_one_refused_recipient_of_two_still_delivers(caplog: pytest.LogCaptureFixture) -> None:
    server = SmtpServer(refuse={"oncall@example.com": "550 5.1.1 unknown user"})
    (mail,) = send(server, security="none")
    assert mail.recipients == ["ops@example.com"]
    assert "oncall@example.com (550)" in caplog.text


def test_nothing_listening_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DeliveryError) as info:
        asyncio.run(deliver(EmailChannel(), config(port, security="none"), group()))
    assert not info.value.permanent
    assert f"127.0.0.1:{port}" in str(info.value)
