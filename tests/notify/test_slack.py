"""The Slack-compatible channel against a loopback receiver speaking the incoming-webhook
protocol (Slack answers ``200 ok``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.notify.channel_support import Receiver, deliver, firing_alert, group, resolved_alert
from watchkeeper.notify.interface import Notification
from watchkeeper.notify.render import COLORS
from watchkeeper.notify.slack import SlackChannel, SlackChannelConfig


def posted(message: Notification, **spec: Any) -> dict[str, Any]:
    async def go() -> Receiver:
        async with Receiver() as receiver:
            config = SlackChannelConfig.model_validate(
                {
                    "name": "chat",
                    "type": "slack",
                    "webhook_url": receiver.url("/hooks/xyz"),
                    **spec,
                }
            )
            await deliver(SlackChannel(), config, message)
        return receiver

    receiver = asyncio.run(go())
    (request,) = receiver.seen
    assert request.headers["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(request.body)
    return body


def test_payload_has_fallback_text_and_a_coloured_mrkdwn_attachment() -> None:
    body = posted(group())
    assert body["text"] == "[FIRING:1] HighErrorRate api (critical)"
    (attachment,) = body["attachments"]
    assert attachment["color"] == COLORS["critical"]
    assert attachment["fallback"] == body["text"]
    assert attachment["title_link"] == "https://wk.example.com/alerts/groups/9"
    assert attachment["text"].startswith("FIRING: HighErrorRate")
    assert attachment["mrkdwn_in"] == ["text"]
    assert "channel" not in body and "username" not in body


WARNING = {"alertname": "DiskFilling", "severity": "warning", "instance": "db-1"}


@pytest.mark.parametrize(
    ("message", "color"),
    [
        (group(firing_alert(labels=WARNING)), COLORS["warning"]),
        (group(firing_alert(labels={"alertname": "NoSeverity"})), COLORS["warning"]),
        (group(firing_alert(labels={**WARNING, "severity": "info"})), COLORS["info"]),
        (group(resolved_alert()), COLORS["resolved"]),
        (group(test=True), COLORS["test"]),
    ],
)
def test_colour_follows_severity_and_resolution(message: Notification, color: str) -> None:
    assert posted(message)["attachments"][0]["color"] == color


def test_channel_username_and_icon_are_passed_on() -> None:
    body = posted(group(), channel="#ops", username="Watchkeeper", icon_emoji=":rotating_light:")
    assert (body["channel"], body["username"], body["icon_emoji"]) == (
        "#ops",
        "Watchkeeper",
        ":rotating_light:",
    )


def test_control_characters_of_slack_formatting_are_escaped() -> None:
    body = posted(group(text="value <script> & <!channel>", title="a <b> & c"))
    assert body["attachments"][0]["text"] == "value &lt;script&gt; &amp; &lt;!channel&gt;"
    assert body["text"] == "a &lt;b&gt; &amp; c"
