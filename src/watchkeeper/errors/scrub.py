"""Remove secrets from an event before it is stored.

Three rules, applied to every part of the event but its identifiers and SDK metadata
(request data, headers, cookies, query strings, extra, contexts, tags, breadcrumbs,
exception messages, stack frames' variables and source lines):

- a value whose key names a secret (password, secret, token, API key, cookie,
  authorization, session id, CSRF, credentials, card fields, and the project's
  ``scrub_fields``) is replaced whole, whatever it holds;
- inside text, ``key=value`` / ``key: value`` / ``"key": "value"`` pairs with such a key,
  ``Bearer``/``Basic`` credentials and the password of ``scheme://user:password@host``
  lose their value;
- card numbers (13 to 19 digits, optionally grouped by spaces or dashes, starting with 2-6
  and passing the Luhn check) are replaced, in text and in numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FILTERED = "[Filtered]"
_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "authorization",
    "credential",
    "cookie",
    "sessionid",
    "csrf",
    "xsrf",
    "creditcard",
    "cardnumber",
    "ccnumber",
    "cvv",
    "cvc",
)
_KEY_EXACT = frozenset({"auth", "pwd", "pass", "session", "card", "pan", "pin", "dsn"})
_TEXT_KEYS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "privatekey",
    "private_key",
    "private-key",
    "authorization",
    "credential",
    "cookie",
    "sessionid",
    "session_id",
    "session-id",
    "csrf",
    "xsrf",
    "pwd",
)
_STEMS = (
    "pass",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "cookie",
    "session",
    "csrf",
    "xsrf",
    "pwd",
)
"""Substrings a ``key=value`` secret needs (a quick first test)."""
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12}")
_CARD = re.compile(r"(?<![\w.])[2-6](?:[ -]?\d){12,18}(?![\w.])")
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic|digest)\s+[A-Za-z0-9._~+/=-]{6,}")
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+@")
SKIPPED_TOP_KEYS = frozenset(
    {
        "event_id",
        "timestamp",
        "start_timestamp",
        "received",
        "level",
        "platform",
        "sdk",
        "release",
        "dist",
        "environment",
        "fingerprint",
        "debug_meta",
        "type",
        "logger",
        "server_name",
    }
)
_MAX_KEY_CACHE = 4096
_MAX_TEXT_CACHE = 50_000
_MAX_CACHED_TEXT = 1024
PLAIN_KEYS = frozenset(
    {"module", "function", "lineno", "colno", "in_app", "package", "platform", "symbol"}
    | {"instruction_addr", "symbol_addr", "image_addr", "raw_function", "level", "category"}
)
"""Keys whose values are identifiers or numbers (stack frames, breadcrumbs), never secrets:
left as they are, which saves most of the work on a deep stack."""


def normalise_key(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "").replace(" ", "").replace(".", "")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if i % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_in(match: re.Match[str]) -> str:
    digits = match.group(0).replace(" ", "").replace("-", "")
    return FILTERED if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def is_card_number(value: int) -> bool:
    text = str(value)
    return 13 <= len(text) <= 19 and text[0] in "23456" and luhn_valid(text)


class Scrubber:
    """Scrubs events for one project: the built-in rules plus its ``scrub_fields``."""

    def __init__(self, extra_fields: Iterable[str] = ()) -> None:
        self._extra = tuple(sorted({normalise_key(f) for f in extra_fields if f.strip()}))
        extra = [f.strip().lower() for f in extra_fields if f.strip()]
        self._words = (*_TEXT_KEYS, *extra)
        words = "|".join(re.escape(w) for w in self._words)
        # The key starts at a token's start (the look-behind) and is matched lazily up to
        # a secret word: no backtracking over long tokens.
        self._stems = (*_STEMS, *extra)
        self._pair = re.compile(
            r"(?i)(?<![\w.-])(?P<key>[\w.-]*?(?:" + words + r")[\w.-]*)"
            r"(?P<sep>[\"']?\s*[=:]\s*)"
            r"(?P<val>(?:bearer|basic|digest)\s+[^\s&,;\"']+|\"(?:[^\"\\]|\\.)*\"|'[^']*'|"
            r"[^\s&,;\"'}\]]+)"
        )
        self._keys: dict[str, bool] = {}
        # Scrubbed texts by text: an error that floods in sends the same file names, source
        # lines and messages again and again.
        self._texts: dict[str, str] = {}

    def sensitive(self, key: str) -> bool:
        """Return True when a value stored under ``key`` is a secret."""
        known = self._keys.get(key)
        if known is not None:
            return known
        norm = normalise_key(key)
        found = (
            norm in _KEY_EXACT
            or any(part in norm for part in _KEY_PARTS)
            or any(part in norm for part in self._extra)
        )
        if len(self._keys) < _MAX_KEY_CACHE:
            self._keys[key] = found
        return found

    def text(self, value: str) -> str:
        """Return ``value`` with the secrets inside it replaced."""
        if len(value) < 6:
            return value
        known = self._texts.get(value)
        if known is not None:
            return known
        clean = self._text(value)
        if len(value) <= _MAX_CACHED_TEXT:
            if len(self._texts) >= _MAX_TEXT_CACHE:
                self._texts.clear()
            self._texts[value] = clean
        return clean

    def _text(self, value: str) -> str:
        # Cheap tests first (substring tests beat any regex alternation here): every rule
        # but the card numbers' needs a separator or a space, then one of a few words.
        separated = "=" in value or ":" in value
        if separated or " " in value:
            low = value.lower()
            if separated:
                for stem in self._stems:
                    if stem in low:
                        value = self._pair.sub(_masked_pair, value)
                        break
                if "://" in value and "@" in value:
                    value = _URL_PASSWORD.sub(r"\1" + FILTERED + "@", value)
            if " " in value and ("bearer" in low or "basic" in low or "digest" in low):
                value = _CREDENTIAL.sub(r"\1 " + FILTERED, value)
        if len(value) >= 13 and _DIGIT_RUN.search(value):
            value = _CARD.sub(_card_in, value)
        return value

    def value(self, value: Any) -> Any:
        """Return ``value`` (any JSON value) scrubbed."""
        # The hot loop of the ingest: the caches are read inline, not through calls.
        kind = type(value)
        if kind is str:
            return self.text(value)
        texts = self._texts
        if kind is dict:
            out: dict[str, Any] = {}
            keys = self._keys
            for key, item in value.items():
                if key in PLAIN_KEYS:  # stack frames' names and numbers: nothing to hide
                    out[key] = item
                    continue
                secret = keys.get(key)
                if secret is None:
                    secret = self.sensitive(key)
                if secret and item is not None and item != "":
                    out[key] = FILTERED
                elif type(item) is str:
                    known = texts.get(item)
                    out[key] = known if known is not None else self.text(item)
                else:
                    out[key] = self.value(item)
            return out
        if kind is list:
            items: list[Any] = []
            for item in value:
                if type(item) is str:
                    known = texts.get(item)
                    items.append(known if known is not None else self.text(item))
                else:
                    items.append(self._list_item(item))
            return items
        if kind is int and is_card_number(value):
            return FILTERED
        return value

    def _list_item(self, item: Any) -> Any:
        # Headers, cookies and query strings may come as [name, value] pairs.
        if (
            type(item) is list
            and len(item) == 2
            and type(item[0]) is str
            and item[1] not in (None, "")
            and self.sensitive(item[0])
        ):
            return [item[0], FILTERED]
        return self.value(item)

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Return ``event`` scrubbed (its identifiers and SDK metadata left as they are)."""
        return {
            key: value if key in SKIPPED_TOP_KEYS else self.value(value)
            for key, value in event.items()
        }


def _masked_pair(match: re.Match[str]) -> str:
    value = match.group("val")
    quote = value[0] if value[:1] in ('"', "'") else ""
    return f"{match.group('key')}{match.group('sep')}{quote}{FILTERED}{quote}"
