"""The ntfy channel against a fake ntfy server on loopback (JSON publishing)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from tests.conftest import remember_secret
from tests.notify.loopback import Seen, alert, notification, run, send_to
from watchkeeper.notify.interface import DeliveryError, Notification
from watchkeeper.notify.ntfy import NtfyChannel, NtfyConfig

TOKEN = remember_secret("tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2")
PASSWORD = remember_secret("ntfy-passw0rd-for-ana")
BASIC = "Basic " + base64.b64encode(f"ana:{PASSWORD}".encode()).decode()


def ntfy_error(http: int, code: int, error: str) -> web.StreamResponse:
    body = {"code": code, "http": http, "error": error, "link": "https://ntfy.sh/docs/publish/"}
    return web.json_response(body, status=http)


def server(require: str | None = None) -> Any:
    """An ntfy server; with ``require``, that Authorization header is needed."""

    def publish(seen: Seen) -> web.StreamResponse:
        given = seen.headers.get("authorization")
        if require is not None and given is None:
            return ntfy_error(403, 40301, "forbidden")
        if require is not None and given != require:
            return ntfy_error(401, 40101, "unauthorized")
        body = seen.json()
        if not body.get("topic"):
            return ntfy_error(400, 40009, "invalid request: topic invalid")
        if body.get("priority", 3) not in range(1, 6):
            return ntfy_error(400, 40007, "invalid priority")
        if len(body.get("message", "").encode()) > 4096:
            return ntfy_error(413, 41301, "message too large")
        return web.json_response(
            {"id": "sPs71M8A2T", "time": 1_700_000_000, "event": "message", **body}
        )

    return publish


def config(url: str, **fields: Any) -> NtfyConfig:
    return NtfyConfig(name="nt", type="ntfy", url=url, topic="wk-alerts", **fields)


def send(message: Notification, answer: Any = None, **fields: Any) -> Seen:
    answer = answer or server()
    seen = run(send_to(lambda url: config(url, **fields), NtfyChannel(), message, answer))
    assert len(seen) == 1
    assert seen[0].method == "POST"
    return seen[0]


def failure(message: Notification, answer: Any, **fields: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(message, answer, **fields)
    assert TOKEN not in str(caught.value) and PASSWORD not in str(caught.value)
    return caught.value


def test_firing_publishes_json_to_the_server_root() -> None:
    seen = send(notification(), tags=["prod", "warning"])
    assert seen.path == "/"
    assert seen.headers["content-type"] == "application/json"
    assert "authorization" not in seen.headers
    assert seen.json() == {
        "topic": "wk-alerts",
        "title": "[FIRING:1] HighLatency (api)",
        "message": "HighLatency on api-1: p99 1.25s",
        "priority": 5,
        "tags": ["rotating_light", "prod", "warning"],
        "click": "https://wk.example.com/alerts/groups/1",
        "actions": [
            {"action": "view", "label": "Open", "url": "https://wk.example.com/alerts/groups/1"},
            {"action": "view", "label": "Runbook", "url": "https://runbooks.example.com/latency"},
            {
                "action": "view",
                "label": "Silence",
                "url": "https://wk.example.com/silences/new?fp=1",
            },
        ],
    }


def test_markdown_is_asked_for() -> None:
    assert send(notification(), markdown=True).json()["markdown"] is True


def test_resolved_has_a_lower_priority_and_a_check_mark() -> None:
    body = send(notification(alert(status="resolved"), status="resolved"), tags=["prod"]).json()
    assert body["priority"] == 2
    assert body["tags"] == ["white_check_mark", "prod"]
    assert [a["label"] for a in body["actions"]] == ["Open", "Runbook"]


@pytest.mark.parametrize(
    ("severity", "priority_map", "expected"),
    [
        ("critical", None, 5),
        ("warning", None, 4),
        ("info", None, 3),
        ("other", None, 3),
        ("warning", {"warning": "urgent"}, 5),
        ("info", {"info": "low"}, 2),
        ("critical", {"critical": 4}, 4),
    ],
)
def test_priority_map(severity: str, priority_map: Any, expected: int) -> None:
    fields = {"priority_map": priority_map} if priority_map else {}
    assert send(notification(alert(severity=severity)), **fields).json()["priority"] == expected


def test_unknown_priority_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match='"loud" is not an ntfy priority'):
        NtfyConfig(name="nt", type="ntfy", topic="t", priority_map={"critical": "loud"})  # type: ignore[dict-item]


def test_token_is_sent_as_bearer() -> None:
    seen = send(notification(), server(f"Bearer {TOKEN}"), token=TOKEN)
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"


def test_username_and_password_are_sent_as_basic() -> None:
    seen = send(notification(), server(BASIC), username="ana", password=PASSWORD)
    assert seen.headers["authorization"] == BASIC


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token": TOKEN, "username": "ana", "password": PASSWORD}, "either token or username"),
        ({"username": "ana"}, "password\n  is required with username"),
        ({"password": PASSWORD}, "username\n  is required with password"),
        ({"topic": "no spaces/slashes"}, "1-64 letters"),
    ],
)
def test_config_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NtfyConfig.model_validate({"name": "nt", "type": "ntfy", "topic": "t", **fields})


def test_numeric_password_from_yaml_is_accepted() -> None:
    parsed = NtfyConfig.model_validate(
        {"name": "nt", "type": "ntfy", "topic": "t", "username": "ana", "password": 12345678}
    )
    assert parsed.password == "12345678"


def test_long_message_is_cut_to_4096_bytes() -> None:
    body = send(notification(text="é" * 5000)).json()
    assert len(body["message"].encode()) <= 4096
    assert body["message"].endswith("é…")


def test_server_under_a_path() -> None:
    seen = run(send_to(lambda url: config(f"{url}/ntfy"), NtfyChannel(), notification(), server()))
    assert seen[0].path == "/ntfy/"


def test_missing_credentials_are_permanent() -> None:
    error = failure(notification(), server(f"Bearer {TOKEN}"))
    assert error.permanent and "HTTP 403" in str(error)


def test_wrong_credentials_are_permanent_and_not_shown() -> None:
    wrong = remember_secret("tk_wrongwrongwrongwrongwrongwrong")
    error = failure(notification(), server(f"Bearer {TOKEN}"), token=wrong)
    assert error.permanent and "HTTP 401" in str(error) and wrong not in str(error)


@pytest.mark.parametrize("status", [429, 500, 507])
def test_rate_limit_and_server_errors_are_transient(status: int) -> None:
    error = failure(notification(), lambda seen: ntfy_error(status, status * 100 + 1, "busy"))
    assert not error.permanent
