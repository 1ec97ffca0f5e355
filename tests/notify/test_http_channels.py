"""How the HTTP channels (webhook, Slack-compatible, Teams) classify what the service
answers: 2xx delivered, 5xx / 429 / timeouts / refused connections retried, 4xx final."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from tests.notify.channel_support import Receiver, deliver, group
from tests.notify.loopback import Reply
from watchkeeper.notify.interface import ChannelType, DeliveryError
from watchkeeper.notify.slack import SlackChannel, SlackChannelConfig
from watchkeeper.notify.teams import TeamsChannel, TeamsChannelConfig
from watchkeeper.notify.webhook import WebhookChannel, WebhookChannelConfig

CHANNELS: dict[str, tuple[ChannelType, Any, str]] = {
    "webhook": (WebhookChannel(), WebhookChannelConfig, "url"),
    "slack": (SlackChannel(), SlackChannelConfig, "webhook_url"),
    "teams": (TeamsChannel(), TeamsChannelConfig, "webhook_url"),
}


def attempt(kind: str, url: str, **spec: Any) -> DeliveryError | None:
    plugin, model, field = CHANNELS[kind]
    config = model.model_validate({"name": "c", "type": kind, field: url, **spec})
    try:
        asyncio.run(deliver(plugin, config, group()))
    except DeliveryError as exc:
        return exc
    return None


def against(kind: str, *replies: Reply, **spec: Any) -> tuple[DeliveryError | None, Receiver]:
    async def go() -> tuple[DeliveryError | None, Receiver]:
        async with Receiver(*replies) as receiver:
            plugin, model, field = CHANNELS[kind]
            config = model.model_validate(
                {"name": "c", "type": kind, field: receiver.url("/services/T0/B0/k3y"), **spec}
            )
            try:
                await deliver(plugin, config, group())
            except DeliveryError as exc:
                return exc, receiver
            return None, receiver

    return asyncio.run(go())


@pytest.mark.parametrize("kind", CHANNELS)
@pytest.mark.parametrize("status", [200, 202, 204])
def test_2xx_is_delivered(kind: str, status: int) -> None:
    error, receiver = against(kind, Reply(status))
    assert error is None
    assert len(receiver.seen) == 1


@pytest.mark.parametrize("kind", CHANNELS)
@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (Reply(500, "internal error"), None),
        (Reply(503, "maintenance", {"Retry-After": "30"}), 30.0),
        (Reply(429, "rate_limited", {"Retry-After": "7"}), 7.0),
    ],
)
def test_5xx_and_429_are_transient_with_retry_after(
    kind: str, reply: Reply, retry_after: float | None
) -> None:
    error, _ = against(kind, reply)
    assert error is not None and not error.permanent
    assert error.retry_after == retry_after
    assert f"HTTP {reply.status}" in str(error) and reply.body in str(error)


@pytest.mark.parametrize("kind", CHANNELS)
@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_4xx_is_permanent(kind: str, status: int) -> None:
    error, _ = against(kind, Reply(status, "invalid_payload"))
    assert error is not None and error.permanent
    assert f"HTTP {status}" in str(error)


@pytest.mark.parametrize("kind", CHANNELS)
def test_a_server_that_never_answers_is_a_transient_timeout(kind: str) -> None:
    error, receiver = against(kind, Reply(hang=True), timeout="200ms")
    assert error is not None and not error.permanent
    assert "no answer within" in str(error)
    assert len(receiver.seen) == 1


@pytest.mark.parametrize("kind", CHANNELS)
def test_refused_connection_is_transient(kind: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = attempt(kind, f"http://127.0.0.1:{port}/services/T0/B0/k3y")
    assert error is not None and not error.permanent


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_a_secret_webhook_url_is_masked_in_http_logs_and_errors(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        error, receiver = against(kind, Reply(500, "boom"))
    assert receiver.seen[0].raw_path == "/services/T0/B0/k3y"
    assert "HTTP Request" in caplog.text
    assert "k3y" not in caplog.text
    assert error is not None and "k3y" not in str(error)
