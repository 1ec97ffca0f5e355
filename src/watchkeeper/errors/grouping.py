"""Group events into issues: the fingerprint, and the title and culprit an issue shows.

The fingerprint is, in this order of preference (docs/errors.md explains it to users):

1. the SDK's ``fingerprint`` when the event has one; ``{{ default }}`` in it stands for the
   default grouping below (so ``["{{ default }}"]`` alone is the default), and
   ``{{ transaction }}``, ``{{ type }}``, ``{{ level }}``, ``{{ logger }}`` for those values;
2. the exceptions: for each exception of the chain its type, then its stack's in-app frames
   (all frames when none is in-app), each as module (or file name) and function, never line
   numbers, so that the same bug from two releases lands in one issue;
3. the message, normalised: numbers, hex ids, UUIDs, e-mail and IP addresses and quoted
   values replaced by placeholders (the log template, ``logentry.message``, when sent).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_MARK = re.compile(r"^\{\{\s*default\s*\}\}$")
_VARIABLE = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")
_HEX = "[0-9a-fA-F]"
_NORMALISERS = (
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\""), "<value>"),
    (
        re.compile(rf"\b{_HEX}{{8}}-?{_HEX}{{4}}-?{_HEX}{{4}}-?{_HEX}{{4}}-?{_HEX}{{12}}\b"),
        "<uuid>",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    # 0x-prefixed, or 8+ hex digits with both a digit and a letter (not a plain word)
    (re.compile(rf"\b0x{_HEX}+\b|\b(?={_HEX}*\d)(?={_HEX}*[a-fA-F]){_HEX}{{8,}}\b"), "<hex>"),
    (re.compile(r"\d+(?:[.,:]\d+)*"), "<num>"),
)
_BUNDLE_HASH = re.compile(r"[.-][0-9a-f]{6,}(?=\.)", re.IGNORECASE)
TITLE_MAX = 255
NO_TITLE = "<unlabeled event>"


@dataclass(frozen=True)
class Grouping:
    """What an event contributes to its issue."""

    fingerprint: str  # 32 hex digits
    kind: str  # sdk | exception | message
    title: str
    culprit: str


def normalise_message(text: str) -> str:
    """Return ``text`` with its variable parts replaced by placeholders."""
    for pattern, placeholder in _NORMALISERS:
        text = pattern.sub(placeholder, text)
    return " ".join(text.split())


def exceptions_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the event's exceptions (oldest first, the raised one last)."""
    raw = event.get("exception")
    if isinstance(raw, dict):
        raw = raw.get("values")
    if not isinstance(raw, list):
        return []
    return [e for e in raw if isinstance(e, dict)]


def frames_of(exc: dict[str, Any]) -> list[dict[str, Any]]:
    stack = exc.get("stacktrace")
    frames = stack.get("frames") if isinstance(stack, dict) else None
    if not isinstance(frames, list):
        return []
    return [f for f in frames if isinstance(f, dict)]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _where(frame: dict[str, Any]) -> str:
    module = _str(frame.get("module"))
    if module:
        return module
    name = _str(frame.get("filename")) or _str(frame.get("abs_path"))
    name = name.split("?", 1)[0].split("#", 1)[0].replace("\\", "/").rsplit("/", 1)[-1]
    return _BUNDLE_HASH.sub("", name)


def _grouped_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    in_app = [f for f in frames if f.get("in_app") is True]
    return in_app or frames


def message_of(event: dict[str, Any]) -> tuple[str, str]:
    """Return ``(template, formatted)``: the message's template (for grouping) and its text
    as shown; empty strings when the event has no message."""
    entry = event.get("logentry")
    if not isinstance(entry, dict):
        entry = event.get("message") if isinstance(event.get("message"), dict) else None
    if isinstance(entry, dict):
        template = _str(entry.get("message"))
        formatted = _str(entry.get("formatted")) or template
        if template and entry.get("params") and not _str(entry.get("formatted")):
            params = entry["params"]
            try:
                formatted = template % tuple(params) if isinstance(params, list) else template
            except (TypeError, ValueError):
                formatted = template
        return template or formatted, formatted
    text = _str(event.get("message"))
    return text, text


def _exception_parts(excs: list[dict[str, Any]]) -> list[str]:
    parts: list[str] = []
    for exc in excs:
        parts.append("type:" + (_str(exc.get("type")) or _str(exc.get("module")) or "Error"))
        frames = _grouped_frames(frames_of(exc))
        for frame in frames:
            where, function = _where(frame), _str(frame.get("function"))
            if where or function:
                parts.append(f"frame:{where}:{function}")
        if not frames:
            parts.append("value:" + normalise_message(_str(exc.get("value"))))
    return parts


def _default(event: dict[str, Any]) -> tuple[str, list[str]]:
    excs = [e for e in exceptions_of(event) if e.get("type") or e.get("value") or frames_of(e)]
    if excs:
        return "exception", _exception_parts(excs)
    template, _ = message_of(event)
    if template:
        return "message", ["message:" + normalise_message(template)]
    return "message", ["message:" + NO_TITLE]


def _variable(event: dict[str, Any], name: str) -> str:
    if name == "type":
        excs = exceptions_of(event)
        return _str(excs[-1].get("type")) if excs else ""
    if name in ("transaction", "level", "logger"):
        return _str(event.get(name))
    return "{{ " + name + " }}"


def _hash(kind: str, parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join([kind, *parts]).encode()).hexdigest()[:32]


def fingerprint(event: dict[str, Any]) -> tuple[str, str]:
    """Return ``(fingerprint, kind)`` of ``event``."""
    given = event.get("fingerprint")
    kind, parts = _default(event)
    if not isinstance(given, list) or not given:
        return _hash(kind, parts), kind
    items = [str(v) for v in given if v is not None]
    if len(items) == 1 and DEFAULT_MARK.match(items[0]):
        return _hash(kind, parts), kind
    expanded: list[str] = []
    for item in items:
        if DEFAULT_MARK.match(item):
            expanded.extend(parts)
            continue
        match = _VARIABLE.match(item)
        expanded.append(_variable(event, match.group(1)) if match else item)
    return _hash("sdk", expanded), "sdk"


def title_of(event: dict[str, Any]) -> str:
    excs = exceptions_of(event)
    if excs:
        last = excs[-1]
        kind = _str(last.get("type")) or "Error"
        value = _str(last.get("value")).strip().split("\n", 1)[0]
        return (f"{kind}: {value}" if value else kind)[:TITLE_MAX]
    _, formatted = message_of(event)
    line = formatted.strip().split("\n", 1)[0]
    return (line or NO_TITLE)[:TITLE_MAX]


def culprit_of(event: dict[str, Any]) -> str:
    given = _str(event.get("culprit"))
    if given:
        return given[:TITLE_MAX]
    excs = exceptions_of(event)
    if excs:
        frames = _grouped_frames(frames_of(excs[-1]))
        if frames:
            top = frames[-1]
            where, function = _where(top), _str(top.get("function"))
            text = f"{where} in {function}" if where and function else where or function
            if text:
                return text[:TITLE_MAX]
    return (_str(event.get("transaction")) or _str(event.get("logger")))[:TITLE_MAX]


def group(event: dict[str, Any]) -> Grouping:
    """Return the fingerprint, grouping kind, title and culprit of ``event``."""
    key, kind = fingerprint(event)
    return Grouping(key, kind, title_of(event), culprit_of(event))
