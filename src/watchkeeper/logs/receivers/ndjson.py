"""``POST /api/v1/logs``: newline-delimited JSON objects, or a JSON array of them.

Each object is one line. The message is ``message`` (or ``msg``, ``log``, ``line``); the event
time ``timestamp`` (or ``time``, ``ts``) as RFC 3339 or an epoch number in s, ms, µs or ns;
the stream labels the ``labels`` object plus the top-level ``host``, ``service``, ``app`` and
``level`` (the ``labels`` object wins); every other key is a field, nested objects flattened to
``a.b`` and every value kept as a string. A bad object is refused and named by its line (or
array index); the others are kept.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from watchkeeper.logs.extract import level_label
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.receivers.common import (
    Decoded,
    ReceiverError,
    Refused,
    check_line,
    timestamp_ns,
)

MESSAGE_KEYS = ("message", "msg", "log", "line")
TIME_KEYS = ("timestamp", "time", "ts")
LABEL_KEYS = ("host", "service", "app", "level")
MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "text/plain",
        "",
    }
)
MAX_DEPTH = 16  # deeper objects are kept as JSON text in one field


def accepts(content_type: str) -> bool:
    """Return whether ``content_type`` is one this decoder reads (JSON, NDJSON or none)."""
    return content_type.split(";", 1)[0].strip().lower() in MEDIA_TYPES


def decode(body: bytes, received: int) -> Decoded:
    """Return the lines of an NDJSON body or a JSON array (told apart by the first
    character); raise ReceiverError when a JSON array cannot be parsed at all."""
    out = Decoded()
    text = body.lstrip()
    if text.startswith(b"["):
        for index, item in enumerate(_array(text)):
            _add(out, item, received, f"[{index}]", None)
        return out
    if text.startswith(b"{") and b"\n" in text.rstrip():
        whole = _whole_object(text)  # a pretty-printed single object
        if whole is not None:
            _add(out, whole, received, "line 1", 1)
            return out
    for number, raw in enumerate(body.split(b"\n"), 1):
        raw = raw.strip()
        if not raw:
            continue
        where = f"line {number}"
        try:
            item = _loads(raw.decode())
        except UnicodeDecodeError as exc:
            out.reject(where, f"not valid UTF-8 (byte {exc.start + 1})", number)
            continue
        except Refused as exc:
            out.reject(where, str(exc), number)
            continue
        _add(out, item, received, where, number)
    return out


def _loads(text: str | bytes) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise Refused(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise Refused("not valid JSON: nested too deeply") from None


def _array(text: bytes) -> list[Any]:
    try:
        items = json.loads(text.decode(), parse_float=Decimal)
    except UnicodeDecodeError as exc:
        raise ReceiverError(f"the body is not valid UTF-8 (byte {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        raise ReceiverError(
            f"the body is not a valid JSON array: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ReceiverError("the body is not valid JSON: nested too deeply") from None
    if not isinstance(items, list):
        raise ReceiverError("the body is not a JSON array")
    return items


def _whole_object(text: bytes) -> Any:
    try:
        item = json.loads(text.decode(), parse_float=Decimal)
    except (ValueError, RecursionError):  # not one object: read it as NDJSON
        return None
    return item if isinstance(item, dict) else None


def _add(out: Decoded, item: Any, received: int, where: str, number: int | None) -> None:
    try:
        # Lines without a time keep their order: each gets the receive time plus its index
        # in nanoseconds (the store orders lines by event time).
        out.lines.append(entry(item, received, received + len(out.lines)))
    except Refused as exc:
        out.reject(where, str(exc), number)
    except RecursionError:
        out.reject(where, "nested too deeply", number)


def entry(item: Any, received: int, default_ts: int | None = None) -> LogLine:
    """Return the line of one JSON object; raise Refused naming what is wrong with it.
    ``default_ts`` is its event time when it gives none (the receive time by default)."""
    if not isinstance(item, dict):
        raise Refused(f"expected a JSON object, got {_kind(item)}")
    message_key = next((k for k in MESSAGE_KEYS if item.get(k) is not None), None)
    if message_key is None:
        raise Refused("no message (give message, msg, log or line)")
    time_key = next((k for k in TIME_KEYS if item.get(k) is not None), None)
    ts = received if default_ts is None else default_ts
    if time_key is not None:
        try:
            ts = timestamp_ns(item[time_key])
        except Refused as exc:
            raise Refused(f"{time_key}: {exc}") from None
    labels: dict[str, str] = {}
    fields: dict[str, str] = {}
    for key, value in item.items():
        if key in (message_key, time_key, "labels"):
            continue
        if key in LABEL_KEYS and _scalar(value):
            labels[key] = _text(value)
        else:
            _flatten(key, value, fields, 0)
    given = item.get("labels")
    if given is not None:
        if not isinstance(given, dict):
            raise Refused(f"labels must be an object, got {_kind(given)}")
        for key, value in given.items():
            if value is None:
                continue
            if not _scalar(value):
                raise Refused(f"labels.{key} must be a string, number or boolean")
            labels[key] = _text(value)
    if "level" in labels:
        labels["level"] = level_label(labels["level"])
    stream = make_labels(labels)
    message = _message(item[message_key])
    check_line(stream, message, fields)
    return LogLine(ts, received, stream, message, fields)


def _message(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return _json(value)
    return _text(value)


def _flatten(key: str, value: Any, out: dict[str, str], depth: int) -> None:
    if value is None:
        return
    if isinstance(value, dict) and depth < MAX_DEPTH:
        for name, inner in value.items():
            _flatten(f"{key}.{name}", inner, out, depth + 1)
    elif isinstance(value, dict | list):
        out[key] = _json(value)
    else:
        out[key] = _text(value)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | Decimal)  # bool is an int


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_number)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"
