"""Small pieces several channel modules share: API URL checks, severity maps, fallback
titles and cutting text to a service's limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic_core import PydanticCustomError

from watchkeeper.notify.interface import Notification

T = TypeVar("T")
CUT_NOTE = "\n... (cut: see Watchkeeper for the rest)"


def api_url(value: str) -> str:
    """Return ``value`` when it is an http:// or https:// URL; raise a pydantic ``url`` error
    quoting it otherwise. For the address of a service's API, which is not a secret."""
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise PydanticCustomError(
            "url", '"{value}" is not an http:// or https:// URL', {"value": value}
        )
    return value


def for_severity(
    severity: str, configured: Mapping[str, T], defaults: Mapping[str, T], otherwise: T
) -> T:
    """Return what the channel's map gives ``severity``: ``configured`` merged over
    ``defaults``, and ``otherwise`` for a severity neither names."""
    return {**defaults, **configured}.get(severity, otherwise)


def headline(message: Notification) -> str:
    """Return the rendered title, or ``[FIRING] <group key>`` (``[RESOLVED] …``) when the
    template rendered nothing."""
    return message.title or f"[{message.status.upper()}] {message.group_key}"


def ellipsize(text: str, limit: int) -> str:
    """Return ``text``, or its first ``limit - 1`` characters and "…" when it is longer than
    ``limit``."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cut_with_note(text: str, limit: int) -> str:
    """Return ``text``, or its first ``limit`` characters and a note that the rest is in
    Watchkeeper when it is longer."""
    return text if len(text) <= limit else text[:limit].rstrip() + CUT_NOTE
