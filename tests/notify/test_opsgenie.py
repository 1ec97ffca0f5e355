"""The Opsgenie channel against a fake Alert API on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from tests.conftest import remember_secret
from tests.notify.loopback import Seen, alert, notification, run, send_to
from watchkeeper.notify.interface import DeliveryError, Notification
from watchkeeper.notify.opsgenie import OpsgenieChannel, OpsgenieConfig

API_KEY = remember_secret("eb243592-faa2-4ba2-a551-1afdf565c889")


def alert_api(seen: Seen) -> web.StreamResponse:
    """Answer as Opsgenie's Alert API does (requests are processed asynchronously: 202)."""
    if seen.headers.get("authorization") != f"GenieKey {API_KEY}":
        return web.json_response(
            {"message": "Could not authenticate", "took": 0.001, "requestId": "r-1"}, status=401
        )
    return web.json_response(
        {"result": "Request will be processed", "took": 0.012, "requestId": "r-3"}, status=202
    )


def config(url: str, **fields: Any) -> OpsgenieConfig:
    fields.setdefault("api_key", API_KEY)
    return OpsgenieConfig(name="og", type="opsgenie", url=url, **fields)


def send(message: Notification, answer: Any = alert_api, **fields: Any) -> Seen:
    seen = run(send_to(lambda url: config(url, **fields), OpsgenieChannel(), message, answer))
    assert len(seen) == 1
    return seen[0]


def failure(message: Notification, answer: Any = alert_api, **fields: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(message, answer, **fields)
    return caught.value


def test_firing_creates_an_alert_with_the_group_key_as_alias() -> None:
    seen = send(
        notification(alert(instance="api-1")),
        tags=["prod", "api"],
        responders=[
            {"type": "team", "name": "SRE"},
            {"type": "user", "name": "ana@example.com"},
            {"type": "schedule", "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c"},
        ],
    )
    assert seen.method == "POST" and seen.path == "/v2/alerts"
    assert seen.headers["authorization"] == f"GenieKey {API_KEY}"
    body = seen.json()
    assert body["alias"] == 'route-1:{alertname="HighLatency"}'
    assert body["message"] == "[FIRING:1] HighLatency (api)"
    assert body["description"] == "HighLatency on api-1: p99 1.25s"
    assert body["priority"] == "P1"
    assert body["source"] == "Watchkeeper"
    assert body["tags"] == ["prod", "api"]
    assert body["responders"] == [
        {"type": "team", "name": "SRE"},
        {"type": "user", "username": "ana@example.com"},
        {"type": "schedule", "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c"},
    ]
    assert body["details"] == {
        "alertname": "HighLatency",
        "severity": "critical",
        "firing": "1",
        "url": "https://wk.example.com/alerts/groups/1",
        "runbook": "https://runbooks.example.com/latency",
    }


def test_resolved_closes_the_alert_by_alias() -> None:
    seen = send(notification(alert(status="resolved"), status="resolved"))
    assert seen.method == "POST"
    assert seen.path == '/v2/alerts/route-1:{alertname="HighLatency"}/close'
    assert "%22HighLatency%22" in seen.raw_path  # the alias is escaped in the path
    assert seen.query == {"identifierType": "alias"}
    assert seen.headers["authorization"] == f"GenieKey {API_KEY}"
    assert seen.json() == {"source": "Watchkeeper", "note": "All alerts resolved."}


def test_message_is_cut_to_130_characters() -> None:
    body = send(notification(title="M" * 500, text="D" * 20_000)).json()
    assert len(body["message"]) == 130 and body["message"].endswith("…")
    assert len(body["description"]) == 15_000


@pytest.mark.parametrize(
    ("severity", "priority_map", "expected"),
    [
        ("critical", None, "P1"),
        ("warning", None, "P3"),
        ("info", None, "P5"),
        ("other", None, "P3"),
        ("warning", {"warning": "P2"}, "P2"),
    ],
)
def test_priority_map(severity: str, priority_map: dict[str, str] | None, expected: str) -> None:
    fields = {"priority_map": priority_map} if priority_map else {}
    assert send(notification(alert(severity=severity)), **fields).json()["priority"] == expected


def test_eu_endpoint_is_a_url_setting() -> None:
    assert (
        OpsgenieConfig(
            name="og", type="opsgenie", api_key=API_KEY, url="https://api.eu.opsgenie.com/"
        ).url
        == "https://api.eu.opsgenie.com"
    )


def test_bad_key_is_permanent_and_not_shown() -> None:
    wrong = remember_secret("00000000-1111-2222-3333-444444444444")
    error = failure(notification(), api_key=wrong)
    assert error.permanent and "HTTP 401" in str(error) and "Could not authenticate" in str(error)
    assert wrong not in str(error) and API_KEY not in str(error)


def test_unprocessable_request_is_permanent() -> None:
    def unprocessable(seen: Seen) -> web.StreamResponse:
        return web.json_response(
            {"message": "Request body is not processable.", "took": 0.0, "requestId": "r-4"},
            status=422,
        )

    error = failure(notification(), unprocessable)
    assert error.permanent and "HTTP 422" in str(error)


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(429, {"Retry-After": "12"}, 12.0), (500, {}, None), (503, {"Retry-After": "1"}, 1.0)],
)
def test_rate_limit_and_server_errors_are_transient(
    status: int, headers: dict[str, str], retry_after: float | None
) -> None:
    def busy(seen: Seen) -> web.StreamResponse:
        return web.json_response(
            {"message": "Too many requests", "took": 0.0}, status=status, headers=headers
        )

    error = failure(notification(), busy)
    assert not error.permanent and error.retry_after == retry_after


def test_responder_needs_a_name_or_an_id() -> None:
    with pytest.raises(ValidationError, match="give either name or id"):
        OpsgenieConfig.model_validate(
            {"name": "og", "type": "opsgenie", "api_key": API_KEY, "responders": [{"type": "team"}]}
        )
