"""Shared by the webhook, Slack, Teams and e-mail channel tests: a sample alert group, a
recording HTTP receiver with canned replies and an SMTP server (aiosmtpd), both real servers
on loopback."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import httpx
import trustme
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.helpers import AsyncioServer
from tests.notify.loopback import Loopback, Reply, Seen
from watchkeeper.notify.interface import AlertItem, ChannelType, Notification

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def firing_alert(**changes: Any) -> AlertItem:
    values: dict[str, Any] = {
        "fingerprint": "a1b2c3d4e5f60718",
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "severity": "critical",
            "service": "api",
            "instance": "api-1:8080",
        },
        "annotations": {
            "summary": "Error rate above 5% on api",
            "description": "5xx responses are 7.3% of all",
        },
        "starts_at": NOW - timedelta(minutes=5),
        "value": 0.0734,
        "rule": "high-errors",
        "runbook_url": "https://wiki.example.com/runbooks/high-errors",
        "runbook": "1. Check the last deploy\n2. Roll back with `watchkeeper deploy rollback`",
        "url": "https://wk.example.com/alerts/a1b2c3d4e5f60718",
        "silence_url": "https://wk.example.com/silences/new?matcher=alertname%3DHighErrorRate",
    }
    values.update(changes)
    return AlertItem(**values)


def resolved_alert(**changes: Any) -> AlertItem:
    values: dict[str, Any] = {
        "fingerprint": "0f1e2d3c4b5a6978",
        "status": "resolved",
        "labels": {
            "alertname": "HighErrorRate",
            "severity": "critical",
            "service": "api",
            "instance": "api-2:8080",
        },
        "annotations": {"summary": "Error rate above 5% on api"},
        "starts_at": NOW - timedelta(hours=1),
        "ends_at": NOW - timedelta(minutes=2),
        "value": 0.051,
        "url": "https://wk.example.com/alerts/0f1e2d3c4b5a6978",
    }
    values.update(changes)
    return AlertItem(**values)


def group(*alerts: AlertItem, **changes: Any) -> Notification:
    """An alert group of ``alerts`` (one firing alert by default), titled and texted."""
    items = list(alerts) or [firing_alert()]
    status = "firing" if any(a.status == "firing" for a in items) else "resolved"
    values: dict[str, Any] = {
        "id": 7,
        "key": "n-7f3a9c",
        "channel": "ops",
        "status": status,
        "group_key": '{}:{alertname="HighErrorRate",service="api"}',
        "group_labels": {"alertname": "HighErrorRate", "service": "api"},
        "common_labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "api"},
        "common_annotations": {"summary": "Error rate above 5% on api"},
        "alerts": items,
        "external_url": "https://wk.example.com",
        "group_url": "https://wk.example.com/alerts/groups/9",
        "title": "[FIRING:1] HighErrorRate api (critical)",
        "text": "FIRING: HighErrorRate (critical)\nValue: 73.4m",
        "html": "<p>FIRING: HighErrorRate</p>",
    }
    values.update(changes)
    return Notification(**values)


async def deliver(plugin: ChannelType, config: Any, message: Notification) -> None:
    async with httpx.AsyncClient() as http:
        await plugin.send(config, message, http)


# --- HTTP ---------------------------------------------------------------------------------


class Receiver(Loopback):
    """A :class:`Loopback` that answers with ``replies`` in turn (then ``200 ok``)."""

    def __init__(self, *replies: Reply) -> None:
        super().__init__(self._next)
        self.replies = list(replies)

    async def _next(self, seen: Seen) -> web.Response:
        return await self.reply(self.replies.pop(0) if self.replies else Reply())


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


class Tls:
    """A private CA (trustme) and a certificate for 127.0.0.1 / localhost."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.server.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        data = session.auth_data
        login = data.login.decode() if isinstance(data, LoginPassword) else None
        self.server.mails.append(
            Mail(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                message,
                session.ssl is not None,
                login,
            )
        )
        return "250 Message accepted for delivery"


class SmtpServer(AsyncioServer):
    """aiosmtpd on a free loopback port, in the test's event loop.

    ``starttls``: offer STARTTLS with this context (and require it when ``require_starttls``);
    ``implicit_tls``: speak TLS from the first byte; ``users``: accept AUTH (after STARTTLS)
    for these logins; ``refuse``: recipient -> SMTP reply to refuse it with."""

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
        refuse: dict[str, str] | None = None,
    ) -> None:
        self.mails: list[Mail] = []
        self.refuse = refuse or {}
        self.users = users
        self._starttls = starttls
        self._require_starttls = require_starttls
        self._implicit_tls = implicit_tls

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            self.users is not None
            and isinstance(data, LoginPassword)
            and self.users.get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _protocol(self) -> SMTP:
        authenticator: Callable[..., AuthResult] | None = (
            self._authenticate if self.users is not None else None
        )
        return SMTP(
            _Handler(self),
            hostname="mail.test",
            tls_context=self._starttls,
            require_starttls=self._require_starttls,
            authenticator=authenticator,
        )

    async def listen(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(self._protocol, "127.0.0.1", 0, ssl=self._implicit_tls)
