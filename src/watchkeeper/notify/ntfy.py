"""ntfy channel: publish to a topic on an ntfy server (ntfy.sh or self-hosted) as JSON."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from watchkeeper.notify.common import api_url, for_severity, headline
from watchkeeper.notify.interface import ChannelConfig, DeliveryError, Notification, post
from watchkeeper.plan.types import Secret

PRIORITY_NAMES = {"min": 1, "low": 2, "default": 3, "high": 4, "urgent": 5, "max": 5}
DEFAULT_PRIORITIES = {"critical": 5, "warning": 4, "info": 3}
SEVERITY_TAGS = {"critical": "rotating_light", "warning": "warning", "info": "information_source"}
MESSAGE_LIMIT = 4096  # bytes: ntfy's default message-size-limit
_TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")


def _priority(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in PRIORITY_NAMES:
        return PRIORITY_NAMES[value.strip().lower()]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    raise PydanticCustomError(
        "priority",
        '"{value}" is not an ntfy priority (1-5, min, low, default, high, urgent)',
        {"value": value},
    )


Priority = Annotated[int, BeforeValidator(_priority)]


class NtfyConfig(ChannelConfig):
    type: Literal["ntfy"] = Field(description="`ntfy`.")
    url: str = Field("https://ntfy.sh", description="The ntfy server.")
    topic: str = Field(description="Topic to publish to (letters, digits, `-` and `_`).")
    token: Secret | None = Field(
        None,
        description="Access token, sent as `Authorization: Bearer …`; a secret: write it as "
        "`${VAR}` or `!file`.",
    )
    username: str | None = Field(None, min_length=1, description="User for basic auth.")
    password: Secret | None = Field(
        None, description="Password for basic auth; a secret: write it as `${VAR}` or `!file`."
    )
    priority_map: dict[str, Priority] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES),
        description="ntfy priority (1-5 or `min`, `low`, `default`, `high`, `urgent`) for "
        "each alert severity; merged over the default (critical 5, warning 4, info 3), "
        "anything else is 3.",
    )
    resolved_priority: Priority = Field(2, description="Priority of resolved notifications.")
    tags: list[str] = Field(
        default_factory=list,
        description="Tags (ntfy shows those that are emoji short codes as emoji).",
    )
    markdown: bool = Field(False, description="Have ntfy render the text as Markdown.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = api_url(value)
        return value if value.endswith("/") else value + "/"

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not _TOPIC.match(value):
            raise ValueError("must be 1-64 letters, digits, - or _")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> NtfyConfig:
        # Reported on the field with input None: the plan loader quotes an error's input.
        problem = None
        if self.token is not None and (self.username is not None or self.password is not None):
            problem = ("token", "give either token or username and password, not both")
        elif self.username is not None and self.password is None:
            problem = ("password", "is required with username")
        elif self.username is None and self.password is not None:
            problem = ("username", "is required with password")
        if problem is not None:
            error = PydanticCustomError("auth", problem[1])
            raise ValidationError.from_exception_data(
                "ntfy", [InitErrorDetails(type=error, loc=(problem[0],), input=None)]
            )
        return self

    def headers(self) -> dict[str, str]:
        """Return the ``Authorization`` header, if any."""
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username is not None and self.password is not None:
            pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.password) if s]


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def _actions(message: Notification) -> list[dict[str, Any]]:
    actions = []
    if message.group_url:
        actions.append({"action": "view", "label": "Open", "url": message.group_url})
    runbook = next((a.runbook_url for a in message.alerts if a.runbook_url), "")
    if runbook:
        actions.append({"action": "view", "label": "Runbook", "url": runbook})
    silence = next((a.silence_url for a in message.firing if a.silence_url), "")
    if silence:
        actions.append({"action": "view", "label": "Silence", "url": silence})
    return actions[:3]


def publication(config: NtfyConfig, message: Notification) -> dict[str, Any]:
    """Return the JSON body that publishes ``message`` to the configured topic."""
    if message.status == "resolved":
        priority, tags = config.resolved_priority, ["white_check_mark"]
    else:
        priority = for_severity(message.severity, config.priority_map, DEFAULT_PRIORITIES, 3)
        tags = [SEVERITY_TAGS[message.severity]] if message.severity in SEVERITY_TAGS else []
    body: dict[str, Any] = {
        "topic": config.topic,
        "title": headline(message),
        "message": _cut_bytes(message.text or message.title, MESSAGE_LIMIT),
        "priority": priority,
        "tags": tags + [t for t in config.tags if t not in tags],
    }
    if config.markdown:
        body["markdown"] = True
    if message.group_url:
        body["click"] = message.group_url
    actions = _actions(message)
    if actions:
        body["actions"] = actions
    return body


class NtfyChannel:
    name = "ntfy"
    description = "Publish to an ntfy topic (ntfy.sh or a self-hosted server) for phone push."
    config_model: ClassVar[type[ChannelConfig]] = NtfyConfig

    async def send(
        self, config: NtfyConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        try:
            await post(
                http,
                config.url,
                "ntfy",
                config.timeout,
                json=publication(config, message),
                headers=config.headers(),
            )
        except DeliveryError as exc:
            raise exc.masked(*config.secrets()) from None
