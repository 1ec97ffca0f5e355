"""The notification channel plugin interface and the message every channel receives.

A channel is one module with one class, registered under the plan's ``type:`` name in the
``watchkeeper.channels`` entry-point group. The delivery worker (``notify/worker.py``) renders
the title and text from the channel's templates, then calls ``send``; the channel turns the
``Notification`` into its service's request. Failures are a :class:`DeliveryError` saying
whether a retry can help; the worker owns retries, back-off, rate limits and the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal, Protocol

import httpx
from pydantic import Field

from watchkeeper.alerts.templating import Template
from watchkeeper.logging_setup import MASK
from watchkeeper.plan.base import PlanModel, PlanObject
from watchkeeper.plan.types import Duration
from watchkeeper.plugins import Registry

Status = Literal["firing", "resolved"]


class MessageTemplate(PlanModel):
    """Templates of one channel's messages (Jinja2, with the variables listed in the
    operations guide); unset parts use the built-in defaults."""

    title: Template | None = Field(None, description="One line: subject, headline or summary.")
    text: Template | None = Field(None, description="The body, as plain text or Markdown.")


class ChannelConfig(PlanObject):
    """Fields common to every notification channel."""

    type: str = Field(description="Channel type (see the list of channel types).")
    send_resolved: bool = Field(True, description="Also notify when the alerts resolve.")
    rate_limit: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="At most this many messages per minute; more wait their turn "
        "(they are delayed, never dropped).",
    )
    timeout: Duration = Field(timedelta(seconds=10), description="Give up on one attempt after.")
    template: MessageTemplate = Field(
        default_factory=MessageTemplate, description="Message templates for this channel."
    )


@dataclass(frozen=True)
class AlertItem:
    """One alert in a notification."""

    fingerprint: str
    status: Status
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    value: float | None = None
    rule: str = ""
    runbook_url: str = ""
    runbook: str = ""  # inline Markdown
    url: str = ""  # the alert's page in Watchkeeper
    silence_url: str = ""  # a prefilled "new silence" form for this alert

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def name(self) -> str:
        return self.labels.get("alertname", self.rule)


@dataclass(frozen=True)
class Notification:
    """What one channel is asked to deliver: an alert group at one moment.

    ``key`` is the idempotency key (also sent to services that deduplicate, such as
    PagerDuty's ``dedup_key`` uses ``group_key``); ``title`` and ``text`` are rendered from
    the channel's templates before ``send`` is called.
    """

    id: int
    key: str
    channel: str
    status: Status
    group_key: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    alerts: list[AlertItem]
    external_url: str = ""
    group_url: str = ""
    title: str = ""
    text: str = ""
    html: str = ""
    test: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def firing(self) -> list[AlertItem]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[AlertItem]:
        return [a for a in self.alerts if a.status == "resolved"]

    @property
    def severity(self) -> str:
        """The highest severity among the firing alerts (or all alerts when none fire)."""
        order = {"critical": 0, "warning": 1, "info": 2}
        pool = self.firing or self.alerts
        found = sorted((a.severity for a in pool if a.severity), key=lambda s: order.get(s, 3))
        return found[0] if found else "warning"


class DeliveryError(Exception):
    """A delivery attempt failed. ``permanent``: retrying cannot help (a 4xx, a bad address);
    ``retry_after``: seconds the service asked us to wait (429 / 503 Retry-After)."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after

    def masked(self, *secrets: str) -> DeliveryError:
        """Return this error with each of ``secrets`` in its text replaced by the mask."""
        text = str(self)
        for secret in secrets:
            if secret:
                text = text.replace(secret, MASK)
        return DeliveryError(text, permanent=self.permanent, retry_after=self.retry_after)


class ChannelType(Protocol):
    """A channel plugin: describes itself and its configuration, and delivers messages."""

    name: str
    description: str
    config_model: ClassVar[type[ChannelConfig]]

    async def send(self, config: Any, message: Notification, http: httpx.AsyncClient) -> None:
        """Deliver ``message``; return when the service accepted it, raise DeliveryError
        otherwise. ``http`` is a shared client; use ``config.timeout`` per request."""
        ...


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    moment = now or datetime.now(when.tzinfo)
    return max(0.0, (when - moment).total_seconds())


def raise_for_response(response: httpx.Response, service: str) -> None:
    """Raise DeliveryError for a response that is not 2xx: 408, 425, 429 and 5xx are
    transient (with Retry-After when given), other codes permanent."""
    code = response.status_code
    if 200 <= code < 300:
        return
    body = response.text[:300].strip().replace("\n", " ")
    message = f"{service} answered HTTP {code}" + (f": {body}" if body else "")
    transient = code in (408, 425, 429) or code >= 500
    raise DeliveryError(
        message,
        permanent=not transient,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


async def post(
    http: httpx.AsyncClient, url: str, service: str, timeout: timedelta, **kwargs: Any
) -> httpx.Response:
    """POST and classify the outcome: connection problems and timeouts are transient."""
    try:
        response = await http.post(url, timeout=timeout.total_seconds(), **kwargs)
    except httpx.TimeoutException:
        raise DeliveryError(f"{service}: no answer within {timeout}") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{service}: {type(exc).__name__}: {exc}") from None
    raise_for_response(response, service)
    return response


registry: Registry[ChannelType] = Registry("watchkeeper.channels")  # type: ignore[type-var]


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def to_payload(message: Notification) -> dict[str, Any]:
    """The JSON the outbox stores for ``message`` (everything but id, key and channel)."""
    return {
        "status": message.status,
        "group_key": message.group_key,
        "group_labels": message.group_labels,
        "common_labels": message.common_labels,
        "common_annotations": message.common_annotations,
        "external_url": message.external_url,
        "group_url": message.group_url,
        "test": message.test,
        "extra": message.extra,
        "alerts": [
            {
                "fingerprint": a.fingerprint,
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "starts_at": _time(a.starts_at),
                "ends_at": _time(a.ends_at),
                "value": a.value,
                "rule": a.rule,
                "runbook_url": a.runbook_url,
                "runbook": a.runbook,
                "url": a.url,
                "silence_url": a.silence_url,
            }
            for a in message.alerts
        ],
    }


def from_payload(id: int, key: str, channel: str, data: dict[str, Any]) -> Notification:
    """The inverse of :func:`to_payload`."""
    alerts = [
        AlertItem(
            fingerprint=a["fingerprint"],
            status=a["status"],
            labels=dict(a.get("labels") or {}),
            annotations=dict(a.get("annotations") or {}),
            starts_at=_parse_time(a.get("starts_at")) or datetime.fromtimestamp(0).astimezone(),
            ends_at=_parse_time(a.get("ends_at")),
            value=a.get("value"),
            rule=a.get("rule", ""),
            runbook_url=a.get("runbook_url", ""),
            runbook=a.get("runbook", ""),
            url=a.get("url", ""),
            silence_url=a.get("silence_url", ""),
        )
        for a in data.get("alerts", [])
    ]
    return Notification(
        id=id,
        key=key,
        channel=channel,
        status=data.get("status", "firing"),
        group_key=data.get("group_key", ""),
        group_labels=dict(data.get("group_labels") or {}),
        common_labels=dict(data.get("common_labels") or {}),
        common_annotations=dict(data.get("common_annotations") or {}),
        alerts=alerts,
        external_url=data.get("external_url", ""),
        group_url=data.get("group_url", ""),
        test=bool(data.get("test", False)),
        extra=dict(data.get("extra") or {}),
    )
