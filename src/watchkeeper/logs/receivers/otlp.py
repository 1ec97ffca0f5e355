"""OTLP/HTTP logs: read an ``ExportLogsServiceRequest`` (protobuf or JSON) into log lines.

- labels: the resource's ``service.name`` -> ``service``, ``host.name`` -> ``host``, and
  ``level`` from the record's severity text (normalised: ``WARNING`` -> ``warn``) or, without
  one, its severity number (1-4 trace ... 21-24 critical);
- message: the body; a string as it is, a map or array as JSON text;
- fields: the resource's other attributes, then the record's attributes (``exception.type``,
  ``exception.message``, ``exception.stacktrace`` among them), ``trace_id``/``span_id`` in hex,
  ``scope.name`` and ``event.name`` when set;
- time: ``time_unix_nano``, else ``observed_time_unix_nano``, else the receive time.

Refused records (over the size limit, time out of range) are counted in the response's
``partial_success``, as the OTLP specification asks; the others are kept.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from watchkeeper.logs.extract import level_label
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.receivers.common import (
    Decoded,
    ReceiverError,
    Refused,
    check_line,
    in_range,
)
from watchkeeper.metrics.otlp import Encoding, any_value_text, encoding_of

__all__ = ["Encoding", "decode", "decode_request", "encode_response", "encoding_of", "translate"]

SERVICE_NAME, HOST_NAME = "service.name", "host.name"
_RESOURCE_LABELS = {SERVICE_NAME: "service", HOST_NAME: "host"}
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_SEVERITIES = ((4, "trace"), (8, "debug"), (12, "info"), (16, "warn"), (20, "error"))


def decode_request(body: bytes, encoding: Encoding) -> ExportLogsServiceRequest:
    """Return the request in ``body``; raise ReceiverError when it is not a valid
    ExportLogsServiceRequest in that encoding (unknown JSON fields are ignored, as the OTLP
    specification asks)."""
    request = ExportLogsServiceRequest()
    try:
        if encoding == "json":
            data = json.loads(body.decode())
            _hex_ids_to_base64(data)
            json_format.ParseDict(data, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, ValueError, RecursionError) as exc:
        raise ReceiverError(
            f"the body is not a valid OTLP ExportLogsServiceRequest ({encoding}): {exc}"
        ) from None
    return request


def _hex_ids_to_base64(data: Any) -> None:
    """OTLP/JSON writes trace and span ids in hex, where protobuf's JSON mapping (which
    json_format reads) wants base64: translate them in place."""
    if not isinstance(data, dict):
        return
    for resource_logs in _list(data, "resourceLogs", "resource_logs"):
        for scope_logs in _list(resource_logs, "scopeLogs", "scope_logs"):
            for record in _list(scope_logs, "logRecords", "log_records"):
                for key in ("traceId", "trace_id", "spanId", "span_id"):
                    value = record.get(key)
                    if isinstance(value, str) and _HEX.fullmatch(value):
                        record[key] = base64.b64encode(bytes.fromhex(value)).decode()


def _list(data: Any, *keys: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        return []
    for key in keys:
        value = data.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def decode(body: bytes, encoding: Encoding, received: int) -> Decoded:
    """Return the lines of an OTLP logs body; raise ReceiverError when it cannot be read."""
    return translate(decode_request(body, encoding), received)


def translate(request: ExportLogsServiceRequest, received: int) -> Decoded:
    """Return a line for every log record of ``request`` that can be stored."""
    out = Decoded()
    for r, resource_logs in enumerate(request.resource_logs):
        labels: dict[str, str] = {}
        resource_fields: dict[str, str] = {}
        for kv in resource_logs.resource.attributes:
            label = _RESOURCE_LABELS.get(kv.key)
            if label:
                labels[label] = any_value_text(kv.value)
            else:
                resource_fields[kv.key] = any_value_text(kv.value)
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope = dict(resource_fields)
            if scope_logs.scope.name:
                scope["scope.name"] = scope_logs.scope.name
            for i, record in enumerate(scope_logs.log_records):
                try:
                    out.lines.append(_line(record, labels, scope, received))
                except Refused as exc:
                    where = f"resource_logs[{r}].scope_logs[{s}].log_records[{i}]"
                    out.reject(where, str(exc))
    return out


def _line(
    record: LogRecord, labels: dict[str, str], scope: dict[str, str], received: int
) -> LogLine:
    stream = dict(labels)
    level = _level(record)
    if level:
        stream["level"] = level
    fields = dict(scope)
    fields.update(_attributes(record.attributes))
    if record.trace_id:
        fields["trace_id"] = record.trace_id.hex()
    if record.span_id:
        fields["span_id"] = record.span_id.hex()
    if record.event_name:
        fields["event.name"] = record.event_name
    ts = record.time_unix_nano or record.observed_time_unix_nano
    ts = in_range(ts) if ts else received
    message = _body(record.body)
    line_labels = make_labels(stream)
    check_line(line_labels, message, fields)
    return LogLine(ts, received, line_labels, message, fields)


def _level(record: LogRecord) -> str:
    if record.severity_text:
        return level_label(record.severity_text)
    number = record.severity_number
    if number <= 0:
        return ""
    return next((name for top, name in _SEVERITIES if number <= top), "critical")


def _attributes(attributes: Iterable[KeyValue]) -> dict[str, str]:
    return {kv.key: any_value_text(kv.value) for kv in attributes}


def _body(body: AnyValue) -> str:
    if body.WhichOneof("value") == "string_value":
        return body.string_value
    return any_value_text(body)


def encode_response(result: Decoded, encoding: Encoding) -> bytes:
    """Return the ExportLogsServiceResponse for ``result``: ``partial_success`` is set only
    when records were refused (an empty one means full success)."""
    response = ExportLogsServiceResponse()
    if result.rejected:
        response.partial_success.rejected_log_records = result.rejected
        response.partial_success.error_message = result.summary()
    if encoding == "json":
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()
