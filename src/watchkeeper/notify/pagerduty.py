"""PagerDuty channel: Events API v2 (trigger on firing, resolve when the group resolves).

The group key is PagerDuty's ``dedup_key``, so every notification of one alert group updates
the same PagerDuty alert and the resolved notification closes it.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, field_validator

from watchkeeper.notify.common import api_url, ellipsize, for_severity
from watchkeeper.notify.interface import (
    AlertItem,
    ChannelConfig,
    DeliveryError,
    Notification,
    post,
)
from watchkeeper.plan.types import Secret

PdSeverity = Literal["critical", "error", "warning", "info"]
DEFAULT_SEVERITIES: dict[str, PdSeverity] = {
    "critical": "critical",
    "warning": "warning",
    "info": "info",
}
SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255
MAX_ALERTS = 50  # an event is at most 512 KB; the group's page has the rest


class PagerDutyConfig(ChannelConfig):
    type: Literal["pagerduty"] = Field(description="`pagerduty`.")
    routing_key: Secret = Field(
        min_length=1,
        description="Integration key of an Events API v2 integration (32 characters); a "
        "secret: write it as `${VAR}` or `!file`.",
    )
    url: str = Field(
        "https://events.pagerduty.com/v2/enqueue",
        description="Events API endpoint (EU accounts: "
        "`https://events.eu.pagerduty.com/v2/enqueue`).",
    )
    severity_map: dict[str, PdSeverity] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITIES),
        description="PagerDuty severity (`critical`, `error`, `warning`, `info`) for each "
        "alert severity; merged over the default critical/warning/info mapping, anything "
        "else is `error`.",
    )
    source: str = Field(
        "Watchkeeper",
        min_length=1,
        description="The event's `source` (the affected system, shown in PagerDuty).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return api_url(value)


def dedup_key(message: Notification) -> str:
    """Return the group key, or its SHA-256 when it is longer than PagerDuty accepts."""
    key = message.group_key or message.key
    if len(key) <= DEDUP_KEY_LIMIT:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _alert(alert: AlertItem) -> dict[str, Any]:
    details: dict[str, Any] = {
        "name": alert.name,
        "status": alert.status,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "value": alert.value,
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "url": alert.url,
        "runbook_url": alert.runbook_url,
    }
    return {k: v for k, v in details.items() if v not in (None, "", {})}


def _links(message: Notification) -> list[dict[str, str]]:
    links = [{"href": message.group_url, "text": "Alert group in Watchkeeper"}]
    seen: set[str] = set()
    for alert in message.alerts:
        if alert.runbook_url and alert.runbook_url not in seen and len(seen) < 5:
            seen.add(alert.runbook_url)
            links.append({"href": alert.runbook_url, "text": f"Runbook: {alert.name}"})
    return [link for link in links if link["href"]]


def event(config: PagerDutyConfig, message: Notification) -> dict[str, Any]:
    """Return the Events API v2 body for ``message``."""
    key = dedup_key(message)
    if message.status == "resolved":
        return {"routing_key": config.routing_key, "event_action": "resolve", "dedup_key": key}
    firing = message.firing
    summary = message.title or f"[FIRING:{len(firing)}] {message.group_key}"
    details: dict[str, Any] = {
        "firing": len(firing),
        "resolved": len(message.resolved),
        "group_labels": message.group_labels,
        "common_labels": message.common_labels,
        "common_annotations": message.common_annotations,
        "alerts": [_alert(a) for a in message.alerts[:MAX_ALERTS]],
        "text": message.text,
    }
    if len(message.alerts) > MAX_ALERTS:
        details["alerts_not_shown"] = len(message.alerts) - MAX_ALERTS
    payload: dict[str, Any] = {
        "summary": ellipsize(summary, SUMMARY_LIMIT),
        "severity": for_severity(
            message.severity, config.severity_map, DEFAULT_SEVERITIES, "error"
        ),
        "source": config.source,
        "custom_details": details,
    }
    if firing:
        payload["timestamp"] = min(a.starts_at for a in firing).isoformat()
    body: dict[str, Any] = {
        "routing_key": config.routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": payload,
        "client": "Watchkeeper",
        "links": _links(message),
    }
    client_url = message.external_url or message.group_url
    if client_url:
        body["client_url"] = client_url
    return body


class PagerDutyChannel:
    name = "pagerduty"
    description = (
        "Trigger and resolve PagerDuty alerts through the Events API v2 (one PagerDuty "
        "alert per alert group)."
    )
    config_model: ClassVar[type[ChannelConfig]] = PagerDutyConfig

    async def send(
        self, config: PagerDutyConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        try:
            await post(http, config.url, "pagerduty", config.timeout, json=event(config, message))
        except DeliveryError as exc:
            raise exc.masked(config.routing_key) from None
