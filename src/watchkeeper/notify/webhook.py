"""Webhook channel: POST the alert group as JSON, in Alertmanager's webhook format.

Receivers written for Alertmanager (``version: "4"``) read it unchanged; Watchkeeper adds
``title``, ``text``, ``idempotencyKey`` and ``test`` at the top and ``value``,
``silenceURL``, ``runbookURL`` in each alert::

    {
      "version": "4",
      "receiver": "<channel name>",
      "status": "firing" | "resolved",
      "alerts": [
        {
          "status": "firing" | "resolved",
          "labels": {"alertname": "HighErrorRate", "severity": "critical", ...},
          "annotations": {"summary": "...", ...},
          "startsAt": "2024-05-01T10:00:00Z",
          "endsAt": "0001-01-01T00:00:00Z",      (RFC 3339; this value while firing)
          "generatorURL": "<the alert's page in Watchkeeper>",
          "fingerprint": "<hex>",
          "value": 0.073,                         (or null)
          "silenceURL": "<a prefilled silence form>",
          "runbookURL": "<runbook link, or empty>"
        }
      ],
      "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
      "externalURL": "<Watchkeeper's address>",
      "groupKey": "<the group's key>",
      "truncatedAlerts": 0,                       (alerts left out by max_alerts)
      "title": "[FIRING:1] HighErrorRate api (critical)",
      "text": "<the rendered message text>",
      "idempotencyKey": "<the notification's key>",
      "test": false
    }

Headers: ``Content-Type: application/json``, ``Idempotency-Key: <key>`` (the same on every
retry of one notification: a receiver that saw it may ignore the repeat), the channel's
custom ``headers``, and with a ``secret``:

* ``X-Watchkeeper-Timestamp``: Unix time of the attempt, in seconds;
* ``X-Watchkeeper-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the secret,
  of the timestamp, a ``.``, and the raw request body.

A receiver recomputes the HMAC over the bytes it received, compares it in constant time and
refuses timestamps more than a few minutes old, so a captured request cannot be replayed::

    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest("sha256=" + expected, signature) and abs(time() - int(timestamp)) < 300
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from watchkeeper.logging_setup import SECRET_URLS
from watchkeeper.notify.interface import (
    AlertItem,
    ChannelConfig,
    DeliveryError,
    Notification,
    post,
)
from watchkeeper.plan.types import Secret

ZERO_TIME = "0001-01-01T00:00:00Z"
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "idempotency-key",
        "x-watchkeeper-signature",
        "x-watchkeeper-timestamp",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def is_http_url(value: str) -> bool:
    """Return True when ``value`` is an absolute http:// or https:// URL httpx can send to."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _http_url(value: str) -> str:
    if not is_http_url(value):
        raise PydanticCustomError(
            "url", '"{value}" is not an http:// or https:// URL', {"value": value}
        )
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An absolute http:// or https:// URL (kept as written)."""


async def post_to_secret_url(
    http: httpx.AsyncClient, url: str, service: str, timeout: timedelta, **kwargs: Any
) -> httpx.Response:
    """:func:`post` to a URL that is itself a secret: masked in httpx's log lines and in the
    error raised."""
    SECRET_URLS.add(url)  # kept: the channel posts to it again
    try:
        return await post(http, url, service, timeout, **kwargs)
    except DeliveryError as exc:
        masked = SECRET_URLS.mask(str(exc))
        if masked == str(exc):
            raise
        raise DeliveryError(masked, permanent=exc.permanent, retry_after=exc.retry_after) from None


class WebhookChannelConfig(ChannelConfig):
    type: Literal["webhook"] = Field(description="`webhook`.")
    url: HttpUrl = Field(description="http:// or https:// URL the JSON body is POSTed to.")
    secret: Secret | None = Field(
        None,
        description="Sign each request with HMAC-SHA256 (headers `X-Watchkeeper-Timestamp` "
        'and `X-Watchkeeper-Signature: sha256=<hex>` over `timestamp + "." + body`); a '
        "secret: write it as `${VAR}` or `!file`.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (e.g. `Authorization`)."
    )
    max_alerts: int = Field(
        0,
        ge=0,
        description="Send at most this many alerts per request (0: all); the number left "
        "out is in `truncatedAlerts`.",
    )

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.fullmatch(name):
                raise PydanticCustomError(
                    "header", '"{name}" is not a valid header name', {"name": name}
                )
            if name.lower() in RESERVED_HEADERS:
                raise PydanticCustomError(
                    "header", '"{name}" is set by Watchkeeper', {"name": name}
                )
            if not text.isascii() or any(ord(c) < 32 and c != "\t" for c in text):
                raise PydanticCustomError(
                    "header",
                    'the value of "{name}" must be ASCII text on one line',
                    {"name": name},
                )
        return value


def rfc3339(value: datetime | None) -> str:
    """Return ``value`` in UTC as RFC 3339 (``...Z``); Go's zero time for None."""
    if value is None:
        return ZERO_TIME
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _alert(alert: AlertItem) -> dict[str, Any]:
    value = alert.value if alert.value is not None and alert.value == alert.value else None
    return {
        "status": alert.status,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at if alert.status == "resolved" else None),
        "generatorURL": alert.url,
        "fingerprint": alert.fingerprint,
        "value": value,
        "silenceURL": alert.silence_url,
        "runbookURL": alert.runbook_url,
    }


def webhook_body(message: Notification, max_alerts: int = 0) -> dict[str, Any]:
    """Return the JSON body for ``message`` (see the module docstring)."""
    alerts = message.alerts[:max_alerts] if max_alerts else message.alerts
    return {
        "version": "4",
        "receiver": message.channel,
        "status": message.status,
        "alerts": [_alert(a) for a in alerts],
        "groupLabels": message.group_labels,
        "commonLabels": message.common_labels,
        "commonAnnotations": message.common_annotations,
        "externalURL": message.external_url,
        "groupKey": message.group_key,
        "truncatedAlerts": len(message.alerts) - len(alerts),
        "title": message.title,
        "text": message.text,
        "idempotencyKey": message.key,
        "test": message.test,
        **({"incident": message.extra["incident"]} if message.extra.get("incident") else {}),
        **({"recipient": message.extra["recipient"]} if message.extra.get("recipient") else {}),
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Watchkeeper-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookChannel:
    name = "webhook"
    description = (
        "POST the alert group as JSON in Alertmanager's webhook format, optionally signed "
        "with HMAC-SHA256."
    )
    config_model: ClassVar[type[ChannelConfig]] = WebhookChannelConfig

    async def send(
        self, config: WebhookChannelConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        body = json.dumps(
            webhook_body(message, config.max_alerts), ensure_ascii=False, separators=(",", ":")
        ).encode()
        headers = httpx.Headers(config.headers)
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = message.key
        if config.secret:
            timestamp = str(int(time.time()))
            headers["X-Watchkeeper-Timestamp"] = timestamp
            headers["X-Watchkeeper-Signature"] = signature(config.secret, timestamp, body)
        service = f"webhook {httpx.URL(config.url).host}"
        await post(http, config.url, service, config.timeout, content=body, headers=headers)
