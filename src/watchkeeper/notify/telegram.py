"""Telegram channel: a bot posts the message to a chat with the Bot API's ``sendMessage``.

The bot token is part of every Bot API URL, so error texts are never built from the URL,
anything quoted from an exception has the token masked, and so do the request lines the
``httpx`` logger writes (a filter installed when the channel type is loaded).
"""

from __future__ import annotations

import html
import logging
import re
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from watchkeeper.logging_setup import MASK
from watchkeeper.notify.common import api_url, headline
from watchkeeper.notify.interface import (
    ChannelConfig,
    DeliveryError,
    Notification,
    retry_after_seconds,
)
from watchkeeper.plan.types import Secret

TEXT_LIMIT = 4096  # characters (UTF-16 code units) after entity parsing
LINK_TEXT = "Open in Watchkeeper"
_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
_TOKEN_IN_URL = re.compile(r"/bot[0-9]+:[A-Za-z0-9_-]+")


def _as_text(value: object) -> object:
    # YAML reads a chat id as a number.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class TelegramConfig(ChannelConfig):
    type: Literal["telegram"] = Field(description="`telegram`.")
    bot_token: Secret = Field(
        min_length=1,
        description="The bot's token from @BotFather (`123456:ABC-…`); a secret: write it "
        "as `${VAR}` or `!file`.",
    )
    chat_id: Annotated[str, BeforeValidator(_as_text)] = Field(
        min_length=1,
        description="Chat to post to: a numeric id (groups are negative) or `@channelname`.",
    )
    message_thread_id: int | None = Field(
        None, description="Topic of a forum supergroup to post in."
    )
    api_url: str = Field(
        "https://api.telegram.org", description="Bot API server (for a local Bot API server)."
    )
    parse_mode: Literal["HTML", "text"] = Field(
        "HTML",
        description="`HTML`: bold title and a link to the alert group (the text is escaped); "
        "`text`: plain text.",
    )
    disable_notification: bool | list[str] = Field(
        default_factory=lambda: ["info"],
        description="Send without sound: `true`, `false`, or a list of alert severities "
        "(default: `[info]`).",
    )

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return api_url(value).rstrip("/")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        if _TOKEN.match(value):
            return value
        # Input None: the plan loader quotes an error's input, and this one is a secret.
        problem = PydanticCustomError(
            "bot_token",
            "does not look like a Telegram bot token (digits, a colon, then letters, "
            "digits, _ or -)",
        )
        raise ValidationError.from_exception_data(
            "bot_token", [InitErrorDetails(type=problem, loc=(), input=None)]
        )


class _MaskTokens(logging.Filter):
    """Mask bot tokens in the request lines the ``httpx`` logger writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "/bot" in text:
            record.msg, record.args = _TOKEN_IN_URL.sub(f"/bot{MASK}", text), None
        return True


def install_log_filter() -> None:
    """Have the ``httpx`` logger mask Bot API tokens (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskTokens) for f in logger.filters):
        logger.addFilter(_MaskTokens())


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, budget: int, escape: bool) -> tuple[str, int]:
    """Return ``text`` cut to ``budget`` characters as Telegram counts them (UTF-16 code
    units, after entity parsing), then escaped for HTML when ``escape``; and its length.
    Cutting before escaping never splits an entity."""
    size = _units(text)
    if size > budget:
        out, size = [], 1
        for ch in text:
            if size + _units(ch) > budget:
                break
            out.append(ch)
            size += _units(ch)
        text = "".join(out) + "…"
    return (html.escape(text, quote=False) if escape else text), size


def render(config: TelegramConfig, message: Notification) -> str:
    """Return the message text: title, body and link, within Telegram's 4096 characters."""
    rich = config.parse_mode == "HTML"
    title, used = _fit(headline(message), 512, rich)
    head, tail = (f"<b>{title}</b>", "") if rich else (title, "")
    if rich and message.group_url and len(message.group_url) < 2048:
        tail = f'\n\n<a href="{html.escape(message.group_url)}">{LINK_TEXT}</a>'
        used += 2 + len(LINK_TEXT)
    if not message.text:
        return head + tail
    body, _ = _fit(message.text, TEXT_LIMIT - used - 2, rich)
    return f"{head}\n\n{body}{tail}"


def _silent(config: TelegramConfig, message: Notification) -> bool:
    quiet = config.disable_notification
    return quiet if isinstance(quiet, bool) else message.severity in quiet


def _error(response: httpx.Response, token: str) -> DeliveryError:
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    code = answer.get("error_code") or response.status_code
    reason = str(answer.get("description") or response.reason_phrase or "error")
    reason = reason.replace(token, MASK)[:300]
    parameters = answer.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    retry_after = parameters.get("retry_after")
    if not isinstance(retry_after, int | float) or isinstance(retry_after, bool):
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
    migrated = parameters.get("migrate_to_chat_id")
    if migrated is not None:
        reason += f" (the group is now chat {migrated}: set chat_id to it)"
    transient = code in (408, 425, 429) or (isinstance(code, int) and code >= 500)
    return DeliveryError(
        f"telegram answered {code}: {reason}",
        permanent=not transient,
        retry_after=float(retry_after) if retry_after is not None else None,
    )


class TelegramChannel:
    name = "telegram"
    description = "Post to a Telegram chat, group or channel through a bot (Bot API)."
    config_model: ClassVar[type[ChannelConfig]] = TelegramConfig

    def __init__(self) -> None:
        install_log_filter()

    async def send(
        self, config: TelegramConfig, message: Notification, http: httpx.AsyncClient
    ) -> None:
        body: dict[str, Any] = {
            "chat_id": config.chat_id,
            "text": render(config, message),
            "disable_notification": _silent(config, message),
            "link_preview_options": {"is_disabled": True},
        }
        if config.parse_mode == "HTML":
            body["parse_mode"] = "HTML"
        if config.message_thread_id is not None:
            body["message_thread_id"] = config.message_thread_id
        url = f"{config.api_url}/bot{config.bot_token}/sendMessage"
        try:
            response = await http.post(url, json=body, timeout=config.timeout.total_seconds())
        except httpx.TimeoutException:
            raise DeliveryError(f"telegram: no answer within {config.timeout}") from None
        except httpx.HTTPError as exc:
            # The exception's text may quote the URL, and with it the token.
            reason = str(exc).replace(config.bot_token, MASK)
            raise DeliveryError(f"telegram: {type(exc).__name__}: {reason}") from None
        if not 200 <= response.status_code < 300:
            raise _error(response, config.bot_token)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise _error(response, config.bot_token)
