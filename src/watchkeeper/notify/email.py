"""E-mail over SMTP (STARTTLS, implicit TLS or plain), as text and HTML alternatives.

The subject is the rendered title; the body a ``multipart/alternative`` of the text and the
HTML version. ``Message-ID`` is derived from the notification's key, so a message sent again
after a lost acknowledgement is recognisable as the same one, and every message of an alert
group carries the same ``References`` header, so mail clients thread firing and resolved
messages together. ``X-Watchkeeper-Key`` holds the key itself.

SMTP replies decide retries: 4xx (e.g. ``451 try again later``), timeouts and connection
problems are transient; 5xx (``550`` unknown recipient, ``535`` authentication failed,
``552`` too big) and a server lacking STARTTLS or AUTH are permanent.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Annotated, Any, ClassVar, Literal

import aiosmtplib
import httpx
from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from watchkeeper.notify.interface import ChannelConfig, DeliveryError, Notification
from watchkeeper.plan.types import Secret

log = logging.getLogger(__name__)

PORTS = {"starttls": 587, "tls": 465, "none": 587}


def _address(value: str) -> str:
    _, addr = parseaddr(value)
    local, _, domain = addr.rpartition("@")
    if not local or not domain or any(c in value for c in "\r\n") or "," in addr:
        raise PydanticCustomError("email", '"{value}" is not an e-mail address', {"value": value})
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Address = Annotated[str, AfterValidator(_address)]
"""``ops@example.com`` or ``Ops team <ops@example.com>``."""


class EmailChannelConfig(ChannelConfig):
    type: Literal["email"] = Field(description="`email`.")
    to: Annotated[list[Address], BeforeValidator(_one_or_many)] = Field(
        min_length=1, description="Recipients (`ops@example.com` or `Ops <ops@example.com>`)."
    )
    from_: Address = Field(alias="from", description="Sender address.")
    host: str = Field("localhost", min_length=1, description="SMTP server host name.")
    port: int | None = Field(
        None, ge=1, le=65535, description="SMTP port (default 587; 465 with `security: tls`)."
    )
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="`starttls` (upgrade the connection; required), `tls` (TLS from the "
        "start, usually port 465) or `none` (plain text, for a local relay).",
    )
    username: str | None = Field(None, description="User name for SMTP AUTH.")
    password: Secret | None = Field(
        None, description="Password for SMTP AUTH; a secret: write it as `${VAR}` or `!file`."
    )
    ca_file: str | None = Field(
        None, description="PEM file of a private CA to trust (besides the system's)."
    )
    insecure_skip_verify: bool = Field(
        False, description="Do not verify the server's TLS certificate (testing only)."
    )

    @model_validator(mode="after")
    def _credentials(self) -> EmailChannelConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both `username` and `password`, or neither")
        return self

    @property
    def smtp_port(self) -> int:
        return self.port or PORTS[self.security]


def _id_domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2].strip("[]")
    return domain or "watchkeeper.invalid"


def message_id(key: str, sender: str) -> str:
    """Return the ``Message-ID`` of the notification with ``key``: the same on every attempt."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"<{digest}.watchkeeper@{_id_domain(sender)}>"


def recipients(config: EmailChannelConfig, message: Notification) -> list[str]:
    """The channel's ``to``, or the paged person's own address when the page carries one."""
    own = str(message.extra.get("recipient") or "")
    return [own] if own else list(config.to)


def build_email(config: EmailChannelConfig, message: Notification) -> EmailMessage:
    """Return the e-mail for ``message`` (see the module docstring)."""
    mail = EmailMessage()
    mail["Subject"] = " ".join(message.title.split()) or "Watchkeeper notification"
    mail["From"] = config.from_
    mail["To"] = ", ".join(recipients(config, message))
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = message_id(message.key, config.from_)
    if message.group_key:
        mail["References"] = message_id(f"group:{message.group_key}", config.from_)
    mail["X-Watchkeeper-Key"] = message.key
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text or message.title or "(no text)")
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


def _tls_context(config: EmailChannelConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.ca_file:
        try:
            context.load_verify_locations(cafile=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DeliveryError(
                f"cannot read ca_file {config.ca_file}: {reason}", permanent=True
            ) from None
    if config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _refused(exc: aiosmtplib.SMTPRecipientsRefused, where: str) -> DeliveryError:
    replies = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
    permanent = all(r.code >= 500 for r in exc.recipients)
    return DeliveryError(f"{where} refused the recipients ({replies})", permanent=permanent)


def translate(exc: Exception, where: str) -> DeliveryError:
    """Return the DeliveryError for an SMTP failure at ``where`` (host:port)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return _refused(exc, where)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{where} answered {exc.code} {exc.message}".rstrip()
        return DeliveryError(text, permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return DeliveryError(f"{where}: no answer in time")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return DeliveryError(f"{where}: {exc}")
    if isinstance(exc, aiosmtplib.SMTPException):
        # The server lacks what the configuration asks for (STARTTLS, AUTH, SMTPUTF8).
        return DeliveryError(f"{where}: {exc}", permanent=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(f"{where}: TLS certificate not trusted: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"{where}: TLS error: {exc.reason or exc}")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return DeliveryError(f"{where}: {reason or type(exc).__name__}")


class EmailChannel:
    name = "email"
    description = "Send an e-mail (text and HTML) over SMTP, with STARTTLS or TLS."
    config_model: ClassVar[type[ChannelConfig]] = EmailChannelConfig

    async def send(
        self, config: EmailChannelConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        mail = build_email(config, message)
        where = f"SMTP server {config.host}:{config.smtp_port}"
        secure = config.security != "none"
        try:
            refused, _ = await aiosmtplib.send(
                mail,
                sender=parseaddr(config.from_)[1],
                recipients=[addr for _, addr in getaddresses(recipients(config, message))],
                hostname=config.host,
                port=config.smtp_port,
                username=config.username,
                password=config.password,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                tls_context=_tls_context(config) if secure else None,
                timeout=config.timeout.total_seconds(),
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise translate(exc, where) from None
        if refused:
            # Delivered to the others; sending again would repeat it for them.
            log.warning(
                "e-mail %s: %s refused %s",
                message.key,
                where,
                ", ".join(f"{addr} ({reply.code})" for addr, reply in refused.items()),
            )
