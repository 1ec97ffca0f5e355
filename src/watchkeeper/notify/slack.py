"""Slack-compatible incoming webhooks: Slack, Mattermost, Rocket.Chat.

The message is a ``text`` (the title: what notifications and old clients show) and one
attachment coloured by severity (green once resolved) holding the rendered text as
``mrkdwn``; the three services accept this shape. Slack answers ``200 ok``; its errors
(``400 invalid_payload``, ``403``, ``404 no_service``, ``410 channel_is_archived``) are
permanent, ``429`` and ``5xx`` are retried.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, model_validator

from watchkeeper.notify.common import cut_with_note
from watchkeeper.notify.interface import ChannelConfig, Notification
from watchkeeper.notify.render import COLORS
from watchkeeper.notify.webhook import is_http_url, post_to_secret_url

TEXT_LIMIT = 8000
"""Slack truncates longer attachment text; cut it ourselves, with a note."""


class SlackChannelConfig(ChannelConfig):
    type: Literal["slack"] = Field(description="`slack`.")
    webhook_url: str = Field(
        description="The incoming webhook's URL (Slack, Mattermost or Rocket.Chat); a secret: "
        "write it as `${VAR}` or `!file`."
    )
    channel: str | None = Field(
        None, description="Post to this channel instead of the webhook's (where allowed)."
    )
    username: str | None = Field(None, description="Name shown as the sender (where allowed).")
    icon_emoji: str | None = Field(
        None, description="Emoji shown as the sender's icon, e.g. `:rotating_light:`."
    )

    @model_validator(mode="after")
    def _webhook_url(self) -> SlackChannelConfig:
        # Checked here, not on the field: a field's error quotes its value, and this one
        # is a secret.
        if not is_http_url(self.webhook_url):
            raise ValueError("`webhook_url` is not an http:// or https:// URL")
        return self


def escape(text: str) -> str:
    """Escape the three characters Slack's message formatting reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def color(message: Notification) -> str:
    if message.test:
        return COLORS["test"]
    if message.status == "resolved":
        return COLORS["resolved"]
    return COLORS.get(message.severity, COLORS["warning"])


def slack_payload(config: SlackChannelConfig, message: Notification) -> dict[str, Any]:
    """Return the JSON body posted to the webhook."""
    text = cut_with_note(message.text, TEXT_LIMIT)
    attachment: dict[str, Any] = {
        "fallback": message.title,
        "color": color(message),
        "title": escape(message.title),
        "text": escape(text),
        "mrkdwn_in": ["text"],
        "footer": "Watchkeeper",
    }
    if is_http_url(message.group_url):
        attachment["title_link"] = message.group_url
    payload: dict[str, Any] = {"text": escape(message.title), "attachments": [attachment]}
    for key in ("channel", "username", "icon_emoji"):
        value = getattr(config, key)
        if value:
            payload[key] = value
    return payload


class SlackChannel:
    name = "slack"
    description = "Post to a Slack, Mattermost or Rocket.Chat incoming webhook."
    config_model: ClassVar[type[ChannelConfig]] = SlackChannelConfig

    async def send(
        self, config: SlackChannelConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        await post_to_secret_url(
            http,
            config.webhook_url,
            "Slack-compatible webhook",
            config.timeout,
            json=slack_payload(config, message),
        )
