"""Loki push (``/loki/api/v1/push``): what Promtail, Alloy, Fluent Bit and Vector send.

Two encodings:

- ``application/x-protobuf``: a snappy block-compressed ``logproto.PushRequest``
  (streams of {labels ``{a="b"}``, entries of {timestamp, line, structuredMetadata}});
- ``application/json``: ``{"streams": [{"stream": {"a": "b"}, "values": [["<ns>", "line"],
  ["<ns>", "line", {"meta": "x"}]]}]}`` (and the older ``{"labels": "{a=\\"b\\"}",
  "entries": [{"ts": "<RFC 3339>", "line": "..."}]}`` form).

The stream labels are kept as given; structured metadata becomes fields. Lines that are not
valid UTF-8 are repaired (Go senders do not check), never refused. A stream whose labels cannot
be read is refused with all its entries; other streams are kept.
"""

from __future__ import annotations

import json
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from watchkeeper.logs.model import Labels, LogLine, make_labels
from watchkeeper.logs.receivers.common import (
    Decoded,
    ReceiverError,
    Refused,
    check_line,
    in_range,
    timestamp_ns,
)
from watchkeeper.logs.selector import QuerySyntaxError, parse_selector
from watchkeeper.metrics.payload import MAX_BODY_BYTES, PayloadTooLarge

_F = descriptor_pb2.FieldDescriptorProto
# logproto's messages, with every string declared as bytes: upb would refuse the whole body
# over one line that is not UTF-8, and Go senders do not check.
_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    "PushRequest": [("streams", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Stream")],
    "Stream": [
        ("labels", 1, _F.TYPE_BYTES, _F.LABEL_OPTIONAL, ""),
        ("entries", 2, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "Entry"),
    ],
    "Entry": [
        ("timestamp", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, "Timestamp"),
        ("line", 2, _F.TYPE_BYTES, _F.LABEL_OPTIONAL, ""),
        ("structured_metadata", 3, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, "LabelPair"),
    ],
    "Timestamp": [
        ("seconds", 1, _F.TYPE_INT64, _F.LABEL_OPTIONAL, ""),
        ("nanos", 2, _F.TYPE_INT32, _F.LABEL_OPTIONAL, ""),
    ],
    "LabelPair": [
        ("name", 1, _F.TYPE_BYTES, _F.LABEL_OPTIONAL, ""),
        ("value", 2, _F.TYPE_BYTES, _F.LABEL_OPTIONAL, ""),
    ],
}
_PACKAGE = "watchkeeper.loki"


def _message_classes() -> dict[str, type[Message]]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="watchkeeper/loki_push.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            message.field.add(
                name=field_name,
                number=number,
                type=kind,
                label=label,
                type_name=f".{_PACKAGE}.{type_name}" if type_name else None,
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


PUSH_CLASSES = _message_classes()
PushRequest = PUSH_CLASSES["PushRequest"]


def encoding_of(content_type: str) -> str | None:
    """Return "protobuf" or "json" for a Loki push Content-Type, None for other types (no
    Content-Type at all is protobuf, as Promtail sends it)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf", ""):
        return "protobuf"
    if media == "application/json":
        return "json"
    return None


def decode(body: bytes, encoding: str, received: int) -> Decoded:
    """Return the lines of a push body; raise ReceiverError when it cannot be read at all,
    PayloadTooLarge when it decompresses past the body limit."""
    if encoding == "json":
        return _decode_json(body, received)
    return _decode_protobuf(snappy_block(body), received)


def snappy_block(body: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return ``body`` decompressed from the snappy block format; raise PayloadTooLarge when
    its header announces more than ``limit`` bytes, ReceiverError when it is not snappy."""
    try:
        size = cramjam.snappy.decompress_raw_len(body)
        if size > limit:
            raise PayloadTooLarge(
                f"the request body is larger than {limit >> 20} MB decompressed; send "
                "smaller batches"
            )
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise ReceiverError(
            f"the body is not snappy-compressed (block format): {exc}; Loki's protobuf push "
            "is a snappy block-compressed PushRequest"
        ) from None


def stream_labels(text: str) -> Labels:
    """Return the labels of a stream's ``{a="b", c="d"}``; raise Refused when it cannot be
    read or uses another operator than ``=``."""
    try:
        matchers = parse_selector(text)
    except QuerySyntaxError as exc:
        raise Refused(f"labels {text[:100]!r}: {exc}") from None
    if any(m.op != "=" for m in matchers):
        raise Refused(f'labels {text[:100]!r}: only name="value" pairs are allowed')
    return make_labels({m.name: m.value for m in matchers})


def _decode_protobuf(raw: bytes, received: int) -> Decoded:
    request = PushRequest()
    try:
        request.ParseFromString(raw)
    except (DecodeError, RecursionError) as exc:
        raise ReceiverError(f"the body is not a valid Loki PushRequest (protobuf): {exc}") from None
    out = Decoded()
    for s, stream in enumerate(request.streams):  # type: ignore[attr-defined]
        try:
            labels = stream_labels(_text(stream.labels))
        except Refused as exc:
            out.reject(f"streams[{s}]", str(exc), count=max(len(stream.entries), 1))
            continue
        for e, entry in enumerate(stream.entries):
            stamp = entry.timestamp
            fields = {_text(p.name): _text(p.value) for p in entry.structured_metadata}
            try:
                ts = stamp.seconds * 1_000_000_000 + stamp.nanos
                ts = in_range(ts) if ts else received
                out.lines.append(_line(labels, ts, received, _text(entry.line), fields))
            except Refused as exc:
                out.reject(f"streams[{s}].entries[{e}]", str(exc))
    return out


def _decode_json(body: bytes, received: int) -> Decoded:
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:
        raise ReceiverError(f"the body is not valid JSON: {exc}") from None
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(streams, list):
        raise ReceiverError('the body is not a Loki push request: expected {"streams": [...]}')
    out = Decoded()
    for s, stream in enumerate(streams):
        where = f"streams[{s}]"
        try:
            labels, entries = _json_stream(stream)
        except Refused as exc:
            out.reject(where, str(exc), count=_entry_count(stream))
            continue
        key = "values" if "values" in stream else "entries"
        for e, value in enumerate(entries):
            try:
                ts, line, fields = _json_entry(value, key)
                out.lines.append(_line(labels, ts or received, received, line, fields))
            except Refused as exc:
                out.reject(f"{where}.{key}[{e}]", str(exc))
    return out


def _entry_count(stream: Any) -> int:
    if not isinstance(stream, dict):
        return 1
    entries = stream.get("values", stream.get("entries"))
    return max(len(entries), 1) if isinstance(entries, list) else 1


def _json_stream(stream: Any) -> tuple[Labels, list[Any]]:
    if not isinstance(stream, dict):
        raise Refused("a stream must be an object")
    if "stream" in stream or "values" in stream:
        given = stream.get("stream") or {}
        if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
            raise Refused('"stream" must be an object of string label values')
        labels = make_labels(given)
        entries = stream.get("values") or []
    else:
        text = stream.get("labels")
        if not isinstance(text, str):
            raise Refused('a stream needs "stream" and "values" (or "labels" and "entries")')
        labels = stream_labels(text)
        entries = stream.get("entries") or []
    if not isinstance(entries, list):
        raise Refused("the entries of a stream must be an array")
    return labels, entries


def _json_entry(value: Any, key: str) -> tuple[int, str, dict[str, str]]:
    if key == "entries":  # the older form: {"ts": "<RFC 3339>", "line": "..."}
        if not isinstance(value, dict) or not isinstance(value.get("line"), str):
            raise Refused('an entry must be {"ts": ..., "line": "..."}')
        return timestamp_ns(value.get("ts") or 0) if value.get("ts") else 0, value["line"], {}
    if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[1], str):
        raise Refused('an entry must be ["<unix ns>", "line"] or ["<unix ns>", "line", {...}]')
    stamp = value[0]
    if isinstance(stamp, bool) or not isinstance(stamp, str | int) or not str(stamp).isdigit():
        raise Refused(f"the time {str(stamp)[:40]!r} is not a string of unix nanoseconds")
    metadata = value[2] if len(value) == 3 else {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise Refused("structured metadata must be an object of string values")
    return in_range(int(stamp)), value[1], metadata


def _line(labels: Labels, ts: int, received: int, line: str, fields: dict[str, str]) -> LogLine:
    check_line(labels, line, fields)
    return LogLine(ts, received, labels, line, fields)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
