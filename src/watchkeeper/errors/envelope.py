"""Sentry envelopes: a header line, then items, each a header line and a payload.

The payload is ``length`` bytes when the item header says so (then an optional newline),
else everything up to the next newline. Every problem names the item and the line it is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchkeeper.errors.events import loads
from watchkeeper.errors.protocol import ProtocolError

MAX_ITEMS = 1000
"""Items one envelope may hold (SDKs send a handful)."""


@dataclass(frozen=True)
class Item:
    type: str
    headers: dict[str, Any]
    payload: bytes


@dataclass(frozen=True)
class Envelope:
    headers: dict[str, Any]
    items: list[Item]


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _json_object(raw: bytes, what: str, data: bytes, pos: int) -> dict[str, Any]:
    try:
        value = loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"line {_line_of(data, pos)}: {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"line {_line_of(data, pos)}: {what} is not a JSON object")
    return value


def parse_envelope(data: bytes) -> Envelope:
    """Return the envelope in ``data``; raise ProtocolError (400) naming the first problem."""
    if not data.strip():
        raise ProtocolError("the envelope is empty (it needs at least a header line)")
    end = data.find(b"\n")
    end = len(data) if end < 0 else end
    headers = _json_object(data[:end], "the envelope header", data, 0)
    items: list[Item] = []
    pos = end + 1
    size = len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        end = size if end < 0 else end
        if end == pos or not data[pos:end].strip():  # a blank line between items
            pos = end + 1
            continue
        number = len(items) + 1
        what = f"the header of item {number}"
        item_headers = _json_object(data[pos:end], what, data, pos)
        kind = item_headers.get("type")
        if not isinstance(kind, str) or not kind:
            raise ProtocolError(
                f'line {_line_of(data, pos)}: {what} has no "type" (a non-empty string)'
            )
        start = end + 1
        length = item_headers.get("length")
        if length is None:
            stop = data.find(b"\n", start)
            stop = size if stop < 0 else stop
            payload, pos = data[start:stop], stop + 1
        else:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise ProtocolError(
                    f'line {_line_of(data, pos)}: {what} has a "length" that is not a '
                    "non-negative integer"
                )
            if start + length > size:
                raise ProtocolError(
                    f"line {_line_of(data, pos)}: item {number} ({kind}) declares a length of "
                    f"{length} bytes but only {max(0, size - start)} follow"
                )
            payload = data[start : start + length]
            pos = start + length
            if data[pos : pos + 1] == b"\n":  # the newline after a payload is optional
                pos += 1
        items.append(Item(kind, item_headers, payload))
        if len(items) > MAX_ITEMS:
            raise ProtocolError(f"the envelope has more than {MAX_ITEMS} items")
    return Envelope(headers, items)
