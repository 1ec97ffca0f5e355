"""Opsgenie channel: the Alert API (create on firing, close by alias when the group resolves).

The alert's ``alias`` is the group key, so Opsgenie counts repeated notifications of one
group as one alert and the resolved notification closes it.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator, model_validator

from watchkeeper.notify.common import api_url, ellipsize, for_severity
from watchkeeper.notify.interface import ChannelConfig, DeliveryError, Notification, post
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Secret

Priority = Literal["P1", "P2", "P3", "P4", "P5"]
DEFAULT_PRIORITIES: dict[str, Priority] = {"critical": "P1", "warning": "P3", "info": "P5"}
MESSAGE_LIMIT = 130
DESCRIPTION_LIMIT = 15_000
ALIAS_LIMIT = 512
DETAIL_LIMIT = 8_000  # Opsgenie's limit for all details together


class Responder(PlanModel):
    """A team, user, escalation or schedule that Opsgenie notifies."""

    type: Literal["team", "user", "escalation", "schedule"] = Field(description="Kind.")
    name: str | None = Field(
        None, min_length=1, description="Its name (for a user: the e-mail address)."
    )
    id: str | None = Field(None, min_length=1, description="Its Opsgenie id, instead of name.")

    @model_validator(mode="after")
    def _one_identifier(self) -> Responder:
        if (self.name is None) == (self.id is None):
            raise ValueError("give either name or id")
        return self

    def body(self) -> dict[str, str]:
        """Return the responder as the Alert API expects it."""
        if self.id is not None:
            return {"type": self.type, "id": self.id}
        key = "username" if self.type == "user" else "name"
        return {"type": self.type, key: str(self.name)}


class OpsgenieConfig(ChannelConfig):
    type: Literal["opsgenie"] = Field(description="`opsgenie`.")
    api_key: Secret = Field(
        min_length=1,
        description="API key of an Opsgenie API integration; a secret: write it as `${VAR}` "
        "or `!file`.",
    )
    url: str = Field(
        "https://api.opsgenie.com",
        description="API server (EU accounts: `https://api.eu.opsgenie.com`).",
    )
    responders: list[Responder] = Field(
        default_factory=list, description="Teams, users, escalations or schedules to notify."
    )
    tags: list[str] = Field(
        default_factory=list, max_length=20, description="Tags set on the alert (at most 20)."
    )
    priority_map: dict[str, Priority] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES),
        description="Opsgenie priority (`P1`-`P5`) for each alert severity; merged over the "
        "default (critical P1, warning P3, info P5), anything else is P3.",
    )
    source: str = Field("Watchkeeper", min_length=1, description="The alert's `source`.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return api_url(value).rstrip("/")


def alias(message: Notification) -> str:
    """Return the group key, or its SHA-256 when it is longer than Opsgenie accepts."""
    key = message.group_key or message.key
    return key if len(key) <= ALIAS_LIMIT else hashlib.sha256(key.encode()).hexdigest()


def _details(message: Notification) -> dict[str, str]:
    details = {k: str(v) for k, v in message.common_labels.items()}
    details["firing"] = str(len(message.firing))
    if message.group_url:
        details["url"] = message.group_url
    runbooks = sorted({a.runbook_url for a in message.alerts if a.runbook_url})
    if runbooks:
        details["runbook"] = runbooks[0]
    size, kept = 0, {}
    for key, value in details.items():
        size += len(key) + len(value)
        if size > DETAIL_LIMIT:
            break
        kept[key] = value
    return kept


def create_body(config: OpsgenieConfig, message: Notification) -> dict[str, Any]:
    """Return the ``POST /v2/alerts`` body for a firing ``message``."""
    title = message.title or f"[FIRING:{len(message.firing)}] {message.group_key}"
    body: dict[str, Any] = {
        "message": ellipsize(title, MESSAGE_LIMIT),
        "alias": alias(message),
        "description": ellipsize(message.text, DESCRIPTION_LIMIT),
        "details": _details(message),
        "priority": for_severity(message.severity, config.priority_map, DEFAULT_PRIORITIES, "P3"),
        "source": config.source,
        "tags": list(config.tags),
    }
    if config.responders:
        body["responders"] = [r.body() for r in config.responders]
    return body


class OpsgenieChannel:
    name = "opsgenie"
    description = (
        "Create and close Opsgenie alerts through the Alert API (one Opsgenie alert per "
        "alert group)."
    )
    config_model: ClassVar[type[ChannelConfig]] = OpsgenieConfig

    async def send(
        self, config: OpsgenieConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        if message.status == "resolved":
            url = f"{config.url}/v2/alerts/{quote(alias(message), safe='')}/close"
            body: dict[str, Any] = {"source": config.source, "note": "All alerts resolved."}
            params = {"identifierType": "alias"}
        else:
            url, body, params = f"{config.url}/v2/alerts", create_body(config, message), {}
        headers = {"Authorization": f"GenieKey {config.api_key}"}
        try:
            await post(
                http, url, "opsgenie", config.timeout, json=body, params=params, headers=headers
            )
        except DeliveryError as exc:
            raise exc.masked(config.api_key) from None
