"""The Teams channel against a loopback receiver speaking the Workflows webhook protocol
(an Adaptive Card in a message envelope, answered with ``202 Accepted``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.notify.channel_support import Receiver, deliver, firing_alert, group, resolved_alert
from tests.notify.loopback import Reply
from watchkeeper.notify.interface import Notification
from watchkeeper.notify.teams import TeamsChannel, TeamsChannelConfig


def card_of(message: Notification) -> dict[str, Any]:
    async def go() -> Receiver:
        async with Receiver(Reply(202, "")) as receiver:
            config = TeamsChannelConfig.model_validate(
                {"name": "t", "type": "teams", "webhook_url": receiver.url("/workflows/abc")}
            )
            await deliver(TeamsChannel(), config, message)
        return receiver

    (request,) = asyncio.run(go()).seen
    body = json.loads(request.body)
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    return card


def test_card_has_title_facts_text_and_links() -> None:
    card = card_of(group(text="FIRING: HighErrorRate (critical)\nValue: 73.4m\n\nAll alerts"))
    title, facts, *text = card["body"]
    assert title["text"] == "[FIRING:1] HighErrorRate api (critical)"
    assert title["color"] == "Attention"
    assert {f["title"]: f["value"] for f in facts["facts"]} == {
        "Status": "firing: 1",
        "Severity": "critical",
        "alertname": "HighErrorRate",
        "service": "api",
    }
    assert [(b["text"], b["spacing"]) for b in text] == [
        ("FIRING: HighErrorRate (critical)", "Medium"),
        ("Value: 73.4m", "None"),
        ("All alerts", "Medium"),
    ]
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open in Watchkeeper",
            "url": "https://wk.example.com/alerts/groups/9",
        },
        {
            "type": "Action.OpenUrl",
            "title": "Silence",
            "url": "https://wk.example.com/silences/new?matcher=alertname%3DHighErrorRate",
        },
    ]


def test_resolved_and_mixed_groups() -> None:
    resolved = card_of(group(resolved_alert(), title="[RESOLVED] HighErrorRate api"))
    assert resolved["body"][0]["color"] == "Good"
    assert resolved["body"][1]["facts"][0] == {"title": "Status", "value": "resolved"}
    mixed = card_of(group(firing_alert(), resolved_alert()))
    assert mixed["body"][1]["facts"][0] == {"title": "Status", "value": "firing: 1, resolved: 1"}
    assert [a["title"] for a in mixed["actions"]] == ["Open in Watchkeeper"]
