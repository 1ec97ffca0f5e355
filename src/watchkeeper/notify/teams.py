"""Microsoft Teams: an Adaptive Card posted to a Workflows (Power Automate) webhook.

The body is the envelope Teams Workflows' "post to a channel when a webhook request is
received" flow expects::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "content": {"type": "AdaptiveCard", "version": "1.4", ...}}]}

The card holds the title, facts (status, severity, the group's labels), the rendered text,
and buttons to the alert group and, for a single alert, its silence form. Workflows answer
``202 Accepted`` (older connectors ``200``); other codes are classified as usual.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, model_validator

from watchkeeper.notify.common import cut_with_note
from watchkeeper.notify.interface import ChannelConfig, Notification
from watchkeeper.notify.webhook import is_http_url, post_to_secret_url

TEXT_LIMIT = 12_000
"""Teams refuses cards over about 28 KB."""
MAX_FACTS = 12
CARD = "application/vnd.microsoft.card.adaptive"


class TeamsChannelConfig(ChannelConfig):
    type: Literal["teams"] = Field(description="`teams`.")
    webhook_url: str = Field(
        description="The Teams Workflows webhook URL; a secret: write it as `${VAR}` or `!file`."
    )

    @model_validator(mode="after")
    def _webhook_url(self) -> TeamsChannelConfig:
        # Checked here, not on the field: a field's error quotes its value (a secret).
        if not is_http_url(self.webhook_url):
            raise ValueError("`webhook_url` is not an http:// or https:// URL")
        return self


def _title_color(message: Notification) -> str:
    if message.test:
        return "Accent"
    if message.status == "resolved":
        return "Good"
    return {"critical": "Attention", "warning": "Warning"}.get(message.severity, "Accent")


def _facts(message: Notification) -> list[dict[str, str]]:
    firing, resolved = len(message.firing), len(message.resolved)
    status = f"firing: {firing}" if firing else "resolved"
    if firing and resolved:
        status += f", resolved: {resolved}"
    facts = [{"title": "Status", "value": status}, {"title": "Severity", "value": message.severity}]
    labels = {**message.common_labels, **message.group_labels}
    for name in sorted(labels, key=lambda k: (k != "alertname", k)):
        if name != "severity" and len(facts) < MAX_FACTS:
            facts.append({"title": name, "value": labels[name]})
    return facts


def _text_blocks(text: str) -> list[dict[str, Any]]:
    """One TextBlock per line (a single newline would be a soft break in the card's
    Markdown); the first line of each paragraph is spaced from the one before."""
    text = cut_with_note(text, TEXT_LIMIT)
    blocks: list[dict[str, Any]] = []
    gap = True
    for line in text.splitlines():
        if not line.strip():
            gap = True
            continue
        blocks.append(
            {
                "type": "TextBlock",
                "text": line,
                "wrap": True,
                "spacing": "Medium" if gap else "None",
            }
        )
        gap = False
    return blocks


def _actions(message: Notification) -> list[dict[str, str]]:
    actions = []
    if is_http_url(message.group_url):
        actions.append(
            {"type": "Action.OpenUrl", "title": "Open in Watchkeeper", "url": message.group_url}
        )
    if len(message.alerts) == 1 and is_http_url(message.alerts[0].silence_url):
        actions.append(
            {"type": "Action.OpenUrl", "title": "Silence", "url": message.alerts[0].silence_url}
        )
    return actions


def teams_payload(message: Notification) -> dict[str, Any]:
    """Return the JSON body posted to the webhook."""
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": message.title,
                "size": "Large",
                "weight": "Bolder",
                "color": _title_color(message),
                "wrap": True,
            },
            {"type": "FactSet", "facts": _facts(message)},
            *_text_blocks(message.text),
        ],
        "actions": _actions(message),
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}],
    }


class TeamsChannel:
    name = "teams"
    description = "Post an Adaptive Card to a Microsoft Teams Workflows webhook."
    config_model: ClassVar[type[ChannelConfig]] = TeamsChannelConfig

    async def send(
        self, config: TeamsChannelConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        await post_to_secret_url(
            http, config.webhook_url, "Teams webhook", config.timeout, json=teams_payload(message)
        )
