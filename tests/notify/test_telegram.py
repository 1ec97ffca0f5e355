"""The Telegram channel against a fake Bot API on loopback."""

from __future__ import annotations

import html
import logging
import re
import socket
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import ValidationError

from tests.conftest import remember_secret
from tests.notify.loopback import Seen, alert, notification, run, send_to
from watchkeeper.notify.interface import DeliveryError, Notification
from watchkeeper.notify.telegram import TelegramChannel, TelegramConfig

TOKEN = remember_secret("7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
CHAT = "-1001234567890"
_TAG = re.compile(r'</?b>|<a href="[^"<>]*">|</a>')
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot);)")


def bot_error(code: int, description: str, **parameters: Any) -> web.StreamResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def bot_api(seen: Seen) -> web.StreamResponse:
    """Answer ``sendMessage`` as the Bot API does, including its HTML parsing rules."""
    if seen.path != f"/bot{TOKEN}/sendMessage":
        return bot_error(401 if seen.path.endswith("/sendMessage") else 404, "Unauthorized")
    body = seen.json()
    if str(body.get("chat_id")) != CHAT:
        return bot_error(400, "Bad Request: chat not found")
    text = body["text"]
    if body.get("parse_mode") == "HTML":
        bare = _TAG.sub("", text)
        if "<" in bare or ">" in bare or _ENTITY.search(bare):
            return bot_error(400, "Bad Request: can't parse entities")
        text = html.unescape(bare)
    if len(text.encode("utf-16-le")) // 2 > 4096:
        return bot_error(400, "Bad Request: message is too long")
    return web.json_response(
        {"ok": True, "result": {"message_id": 42, "chat": {"id": int(CHAT)}, "text": text}}
    )


def config(url: str, **fields: Any) -> TelegramConfig:
    fields.setdefault("bot_token", TOKEN)
    return TelegramConfig(name="tg", type="telegram", chat_id=CHAT, api_url=url, **fields)


def send(message: Notification, answer: Any = bot_api, **fields: Any) -> Any:
    seen = run(send_to(lambda url: config(url, **fields), TelegramChannel(), message, answer))
    assert len(seen) == 1
    assert seen[0].method == "POST"
    return seen[0].json()


def failure(message: Notification, answer: Any = bot_api, **fields: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(message, answer, **fields)
    assert TOKEN not in str(caught.value)
    return caught.value


def test_message_is_html_with_the_title_in_bold_and_a_link() -> None:
    body = send(notification())
    assert body["chat_id"] == CHAT
    assert body["parse_mode"] == "HTML"
    assert body["text"] == (
        "<b>[FIRING:1] HighLatency (api)</b>\n\nHighLatency on api-1: p99 1.25s\n\n"
        '<a href="https://wk.example.com/alerts/groups/1">Open in Watchkeeper</a>'
    )
    assert body["disable_notification"] is False
    assert body["link_preview_options"] == {"is_disabled": True}
    assert "message_thread_id" not in body


def test_title_and_text_are_escaped() -> None:
    body = send(notification(title="<b>x</b> & y", text='a < b && c > "d" <script>'))
    assert body["text"].startswith("<b>&lt;b&gt;x&lt;/b&gt; &amp; y</b>\n\n")
    assert 'a &lt; b &amp;&amp; c &gt; "d" &lt;script&gt;' in body["text"]


def test_long_text_is_cut_to_fit_without_breaking_entities() -> None:
    text = "&<😀 x " * 3000  # escapes to 5x, the emoji counts twice in UTF-16
    body = send(notification(text=text))
    shown = html.unescape(_TAG.sub("", body["text"]))
    assert 4090 <= len(shown.encode("utf-16-le")) // 2 <= 4096
    assert "…\n\n<a href=" in body["text"]
    assert body["text"].endswith("Open in Watchkeeper</a>")


def test_long_plain_text_is_cut_to_4096() -> None:
    body = send(notification(text="x" * 10_000), parse_mode="text")
    assert "parse_mode" not in body
    assert body["text"].startswith("[FIRING:1] HighLatency (api)\n\nxxx")
    assert len(body["text"]) == 4096 and body["text"].endswith("…")


@pytest.mark.parametrize(
    ("severity", "setting", "silent"),
    [
        ("info", None, True),
        ("warning", None, False),
        ("critical", None, False),
        ("critical", True, True),
        ("info", False, False),
        ("warning", ["warning", "info"], True),
    ],
)
def test_disable_notification(severity: str, setting: Any, silent: bool) -> None:
    fields = {} if setting is None else {"disable_notification": setting}
    body = send(notification(alert(severity=severity)), **fields)
    assert body["disable_notification"] is silent


def test_forum_topic() -> None:
    assert send(notification(), message_thread_id=7)["message_thread_id"] == 7


def test_rate_limit_is_transient_with_retry_after() -> None:
    def flood(seen: Seen) -> web.StreamResponse:
        return bot_error(429, "Too Many Requests: retry after 17", retry_after=17)

    error = failure(notification(), flood)
    assert not error.permanent
    assert error.retry_after == 17.0
    assert "429" in str(error) and "retry after 17" in str(error)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (lambda seen: bot_error(400, "Bad Request: chat not found"), "chat not found"),
        (lambda seen: bot_error(403, "Forbidden: bot was blocked by the user"), "blocked"),
        (
            lambda seen: bot_error(
                400, "Bad Request: group chat was upgraded", migrate_to_chat_id=-100777
            ),
            "set chat_id to it",
        ),
    ],
)
def test_client_errors_are_permanent(answer: Any, expected: str) -> None:
    error = failure(notification(), answer)
    assert error.permanent and expected in str(error)


def test_wrong_token_is_permanent_and_not_shown() -> None:
    wrong = remember_secret("7012345678:AAwrongwrongwrongwrongwrongwrong00")
    with pytest.raises(DeliveryError) as caught:
        send(notification(), bot_token=wrong)
    assert caught.value.permanent and "401" in str(caught.value)
    assert wrong not in str(caught.value)


def test_server_error_without_json_is_transient() -> None:
    error = failure(notification(), lambda seen: web.Response(status=502, text="Bad Gateway"))
    assert not error.permanent and "502" in str(error)


def test_unreachable_api_is_transient_and_does_not_show_the_token() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            await TelegramChannel().send(config(f"http://127.0.0.1:{port}"), notification(), http)

    with pytest.raises(DeliveryError) as caught:
        run(scenario())
    assert not caught.value.permanent and TOKEN not in str(caught.value)


def test_httpx_request_log_lines_do_not_show_the_token(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="httpx"):
        send(notification())
    assert TOKEN not in caplog.text
    assert "/bot********/sendMessage" in caplog.text


def test_config_checks_the_token_without_quoting_it() -> None:
    bad = remember_secret("not-a-token-but-a-secret-anyway")
    with pytest.raises(ValidationError) as caught:
        TelegramConfig(name="tg", type="telegram", bot_token=bad, chat_id=CHAT)
    [error] = caught.value.errors()
    assert error["loc"] == ("bot_token",) and error["input"] is None
    assert error["msg"].startswith("does not look like a Telegram bot token")


def test_numeric_chat_id_from_yaml_is_accepted() -> None:
    parsed = TelegramConfig.model_validate(
        {"name": "tg", "type": "telegram", "bot_token": TOKEN, "chat_id": -1001234567890}
    )
    assert parsed.chat_id == CHAT
