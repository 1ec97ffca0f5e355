"""The webhook channel against a real HTTP receiver on loopback: Alertmanager's body, the
HMAC signature, custom headers and the idempotency key."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

from tests.notify.channel_support import Receiver, deliver, firing_alert, group, resolved_alert
from watchkeeper.notify.interface import Notification
from watchkeeper.notify.webhook import WebhookChannel, WebhookChannelConfig


def config(url: str, **spec: Any) -> WebhookChannelConfig:
    return WebhookChannelConfig.model_validate(
        {"name": "hook", "type": "webhook", "url": url, **spec}
    )


def send(message: Notification, **spec: Any) -> Receiver:
    async def go() -> Receiver:
        async with Receiver() as receiver:
            await deliver(WebhookChannel(), config(receiver.url("/hook?team=ops"), **spec), message)
        return receiver

    return asyncio.run(go())


def test_body_is_alertmanager_webhook_v4_plus_watchkeeper_fields() -> None:
    receiver = send(group(firing_alert(), resolved_alert()))
    (request,) = receiver.seen
    assert request.raw_path == "/hook?team=ops"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.body)
    assert body["version"] == "4"
    assert body["receiver"] == "ops"
    assert body["status"] == "firing"
    assert body["groupKey"] == '{}:{alertname="HighErrorRate",service="api"}'
    assert body["groupLabels"] == {"alertname": "HighErrorRate", "service": "api"}
    assert body["commonLabels"]["severity"] == "critical"
    assert body["commonAnnotations"] == {"summary": "Error rate above 5% on api"}
    assert body["externalURL"] == "https://wk.example.com"
    assert body["truncatedAlerts"] == 0
    assert body["title"] == "[FIRING:1] HighErrorRate api (critical)"
    assert body["text"].startswith("FIRING: HighErrorRate")
    assert body["idempotencyKey"] == "n-7f3a9c"
    assert body["test"] is False
    firing, resolved = body["alerts"]
    assert firing == {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "severity": "critical",
            "service": "api",
            "instance": "api-1:8080",
        },
        "annotations": {
            "summary": "Error rate above 5% on api",
            "description": "5xx responses are 7.3% of all",
        },
        "startsAt": "2026-03-01T11:55:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://wk.example.com/alerts/a1b2c3d4e5f60718",
        "fingerprint": "a1b2c3d4e5f60718",
        "value": 0.0734,
        "silenceURL": "https://wk.example.com/silences/new?matcher=alertname%3DHighErrorRate",
        "runbookURL": "https://wiki.example.com/runbooks/high-errors",
    }
    assert resolved["status"] == "resolved"
    assert resolved["endsAt"] == "2026-03-01T11:58:00Z"


def test_idempotency_key_and_custom_headers_are_sent() -> None:
    receiver = send(group(), headers={"Authorization": "Bearer abc123xyz", "X-Team": "ops"})
    headers = receiver.seen[0].headers
    assert headers["idempotency-key"] == "n-7f3a9c"
    assert headers["authorization"] == "Bearer abc123xyz"
    assert headers["x-team"] == "ops"
    assert "x-watchkeeper-signature" not in headers


def test_signature_verifies_with_the_secret_over_timestamp_and_raw_body() -> None:
    secret = "s3cret-shared-with-receiver"
    receiver = send(group(), secret=secret)
    request = receiver.seen[0]
    timestamp = request.headers["x-watchkeeper-timestamp"]
    assert timestamp.isdigit()
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(request.headers["x-watchkeeper-signature"], f"sha256={expected}")
    forged = hmac.new(b"another secret", timestamp.encode() + b"." + request.body, "sha256")
    assert request.headers["x-watchkeeper-signature"] != f"sha256={forged.hexdigest()}"


def test_max_alerts_truncates_and_counts_the_rest() -> None:
    alerts = [firing_alert(fingerprint=f"{i:016x}") for i in range(5)]
    body = json.loads(send(group(*alerts), max_alerts=2).seen[0].body)
    assert [a["fingerprint"] for a in body["alerts"]] == [f"{i:016x}" for i in range(2)]
    assert body["truncatedAlerts"] == 3


def test_resolved_group_and_a_missing_value() -> None:
    message = group(resolved_alert(value=None), title="[RESOLVED] HighErrorRate api")
    body = json.loads(send(message).seen[0].body)
    assert body["status"] == "resolved"
    assert body["alerts"][0]["value"] is None
    assert body["title"] == "[RESOLVED] HighErrorRate api"
