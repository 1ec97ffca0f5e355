"""The PagerDuty channel against a fake Events API v2 on loopback."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import ValidationError

from tests.conftest import remember_secret
from tests.notify.loopback import Seen, alert, notification, run, send_to
from watchkeeper.notify.interface import DeliveryError, Notification
from watchkeeper.notify.pagerduty import PagerDutyChannel, PagerDutyConfig

KEY = remember_secret("R0UT1NGKEY0123456789abcdefabcdef")
OTHER_KEY = remember_secret("0THERKEY0123456789abcdefabcdef00")


def events_api(seen: Seen) -> web.StreamResponse:
    """Answer as PagerDuty's Events API v2 does."""
    body = seen.json()
    action = body.get("event_action")
    payload = body.get("payload") or {}
    if body.get("routing_key") != KEY:
        errors = ["Invalid routing key"]
    elif action not in ("trigger", "acknowledge", "resolve"):
        errors = ["'event_action' is invalid"]
    elif action == "trigger" and not all(payload.get(k) for k in ("summary", "source")):
        errors = ["'payload' is invalid or missing"]
    elif action == "trigger" and payload["severity"] not in (
        "critical",
        "error",
        "warning",
        "info",
    ):
        errors = ["'payload.severity' is invalid"]
    else:
        dedup = body.get("dedup_key") or "generated-0001"
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup}, status=202
        )
    return web.json_response(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status=400,
    )


def config(url: str, **fields: Any) -> PagerDutyConfig:
    fields.setdefault("routing_key", KEY)
    return PagerDutyConfig(name="pd", type="pagerduty", url=f"{url}/v2/enqueue", **fields)


def send(message: Notification, answer: Any = events_api, **fields: Any) -> Seen:
    seen = run(send_to(lambda url: config(url, **fields), PagerDutyChannel(), message, answer))
    assert len(seen) == 1
    return seen[0]


def failure(message: Notification, answer: Any = events_api, **fields: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(message, answer, **fields)
    return caught.value


def test_firing_triggers_with_the_group_key_as_dedup_key() -> None:
    seen = send(notification(alert(instance="api-1"), alert("DiskFull", instance="db-1")))
    assert seen.method == "POST" and seen.path == "/v2/enqueue"
    assert seen.headers["content-type"] == "application/json"
    body = seen.json()
    assert body["routing_key"] == KEY
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == 'route-1:{alertname="HighLatency"}'
    payload = body["payload"]
    assert payload["summary"] == "[FIRING:1] HighLatency (api)"
    assert payload["severity"] == "critical"
    assert payload["source"] == "Watchkeeper"
    assert payload["timestamp"] == "2025-03-01T12:00:00+00:00"
    details = payload["custom_details"]
    assert details["firing"] == 2 and details["resolved"] == 0
    assert details["text"] == "HighLatency on api-1: p99 1.25s"
    first = details["alerts"][0]
    assert first["labels"] == {
        "alertname": "HighLatency",
        "severity": "critical",
        "instance": "api-1",
    }
    assert first["annotations"] == {"summary": "HighLatency is firing"}
    assert first["value"] == 1.25
    assert [a["name"] for a in details["alerts"]] == ["HighLatency", "DiskFull"]
    assert body["links"][0] == {
        "href": "https://wk.example.com/alerts/groups/1",
        "text": "Alert group in Watchkeeper",
    }
    assert {"href": "https://runbooks.example.com/latency", "text": "Runbook: HighLatency"} in (
        body["links"]
    )
    assert body["client"] == "Watchkeeper"
    assert body["client_url"] == "https://wk.example.com"


def test_resolved_group_resolves_the_same_dedup_key() -> None:
    message = notification(alert(status="resolved"), status="resolved")
    body = send(message).json()
    assert body == {
        "routing_key": KEY,
        "event_action": "resolve",
        "dedup_key": 'route-1:{alertname="HighLatency"}',
    }


def test_long_group_key_is_hashed_the_same_way_for_trigger_and_resolve() -> None:
    key = "route:" + "x" * 300
    trigger = send(notification(group_key=key)).json()["dedup_key"]
    resolve = send(notification(group_key=key, status="resolved")).json()["dedup_key"]
    assert trigger == resolve and len(trigger) == 64


def test_summary_is_cut_to_1024_characters() -> None:
    summary = send(notification(title="T" * 5000)).json()["payload"]["summary"]
    assert len(summary) == 1024 and summary.endswith("…")


@pytest.mark.parametrize(
    ("severity", "severity_map", "expected"),
    [
        ("critical", None, "critical"),
        ("warning", None, "warning"),
        ("info", None, "info"),
        ("page", None, "error"),
        ("warning", {"warning": "error"}, "error"),
        ("critical", {"warning": "error"}, "critical"),
    ],
)
def test_severity_map(severity: str, severity_map: dict[str, str] | None, expected: str) -> None:
    fields = {"severity_map": severity_map} if severity_map else {}
    body = send(notification(alert(severity=severity)), **fields).json()
    assert body["payload"]["severity"] == expected


def test_source_is_configurable() -> None:
    assert send(notification(), source="db-1.example.com").json()["payload"]["source"] == (
        "db-1.example.com"
    )


def test_invalid_event_is_permanent_without_the_key() -> None:
    error = failure(notification(), routing_key=OTHER_KEY)
    assert error.permanent
    assert "HTTP 400" in str(error) and "Invalid routing key" in str(error)
    assert OTHER_KEY not in str(error)


def test_a_key_echoed_by_the_server_is_masked() -> None:
    def echo(seen: Seen) -> web.StreamResponse:
        return web.Response(status=400, text=seen.body.decode())

    error = failure(notification(), echo)
    assert error.permanent and KEY not in str(error) and "********" in str(error)


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(429, {"Retry-After": "30"}, 30.0), (429, {}, None), (500, {}, None), (503, {}, None)],
)
def test_rate_limit_and_server_errors_are_transient(
    status: int, headers: dict[str, str], retry_after: float | None
) -> None:
    error = failure(notification(), lambda seen: web.Response(status=status, headers=headers))
    assert not error.permanent
    assert error.retry_after == retry_after
    assert f"HTTP {status}" in str(error)


def test_unreachable_server_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            await PagerDutyChannel().send(config(f"http://127.0.0.1:{port}"), notification(), http)

    with pytest.raises(DeliveryError) as caught:
        run(scenario())
    assert not caught.value.permanent
    assert KEY not in str(caught.value)


def test_config_needs_a_routing_key_and_an_http_url() -> None:
    with pytest.raises(ValidationError) as caught:
        PagerDutyConfig.model_validate({"name": "pd", "type": "pagerduty", "url": "ftp://x/y"})
    fields = {e["loc"][0] for e in caught.value.errors()}
    assert fields == {"routing_key", "url"}
    with pytest.raises(ValidationError):
        PagerDutyConfig(name="pd", type="pagerduty", routing_key=KEY, severity_map={"x": "loud"})  # type: ignore[dict-item]
