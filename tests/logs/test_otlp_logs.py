"""OTLP/HTTP logs (``/api/v1/otlp/v1/logs``): protobuf and JSON through the real app."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber

from tests.helpers import LiveServer
from tests.logs.push_support import stored
from tests.metrics.ingest_support import api_token
from watchkeeper.logs.model import MAX_LINE_BYTES
from watchkeeper.logs.receivers import otlp
from watchkeeper.runtime.context import AppContext

NS = 1_700_000_000_000_000_000
PATH = "/api/v1/otlp/v1/logs"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
TRACE = bytes(range(16))
SPAN = bytes(range(8))


def kv(key: str, value: str | int) -> KeyValue:
    any_value = (
        AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    )
    return KeyValue(key=key, value=any_value)


def request_of(*records: LogRecord, service: str = "checkout") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(
        [kv("service.name", service), kv("host.name", "web-1"), kv("service.version", "1.4.2")]
    )
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "shop.payments"
    scope_logs.log_records.extend(records)
    return request


def failure_record() -> LogRecord:
    return LogRecord(
        time_unix_nano=NS,
        severity_text="ERROR",
        severity_number=SeverityNumber.SEVERITY_NUMBER_ERROR,
        body=AnyValue(string_value="payment failed"),
        attributes=[
            kv("exception.type", "CardDeclined"),
            kv("exception.message", "insufficient funds"),
            kv("exception.stacktrace", 'Traceback:\n  File "pay.py", line 3'),
            kv("order", 1234),
        ],
        trace_id=TRACE,
        span_id=SPAN,
    )


@pytest.fixture
def pusher(ctx: AppContext, server: LiveServer) -> Iterator[httpx.Client]:
    token = api_token(ctx)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


# --- translation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text", "level"),
    [
        (1, "", "trace"),
        (5, "", "debug"),
        (9, "", "info"),
        (13, "", "warn"),
        (17, "", "error"),
        (21, "", "critical"),
        (0, "", None),
        (9, "Warning", "warn"),  # the text wins when there is one
        (0, "FATAL", "critical"),
        (0, "notice", "info"),
        (0, "Custom", "custom"),
    ],
)
def test_levels_from_severity(number: int, text: str, level: str | None) -> None:
    record = LogRecord(severity_text=text, body=AnyValue(string_value="x"))
    record.severity_number = number  # type: ignore[assignment]
    [line] = otlp.translate(request_of(record), received=1).lines
    assert dict(line.labels).get("level") == level


def test_a_record_becomes_labels_message_and_fields() -> None:
    [line] = otlp.translate(request_of(failure_record()), received=1).lines
    assert line.ts == NS
    assert dict(line.labels) == {"service": "checkout", "host": "web-1", "level": "error"}
    assert line.message == "payment failed"
    assert line.fields == {
        "service.version": "1.4.2",
        "scope.name": "shop.payments",
        "exception.type": "CardDeclined",
        "exception.message": "insufficient funds",
        "exception.stacktrace": 'Traceback:\n  File "pay.py", line 3',
        "order": "1234",
        "trace_id": TRACE.hex(),
        "span_id": SPAN.hex(),
    }


def test_bodies_that_are_not_strings_are_json_and_times_fall_back() -> None:
    body = AnyValue(kvlist_value=KeyValueList(values=[kv("event", "login"), kv("attempt", 2)]))
    observed = LogRecord(observed_time_unix_nano=NS + 5, body=body)
    untimed = LogRecord(body=AnyValue(int_value=7))
    first, second = otlp.translate(request_of(observed, untimed), received=42).lines
    assert first.message == '{"event":"login","attempt":2}' and first.ts == NS + 5
    assert second.message == "7" and second.ts == 42


# --- through the real server --------------------------------------------------------------------


def test_protobuf_records_are_stored_and_searchable(ctx: AppContext, pusher: httpx.Client) -> None:
    info = LogRecord(
        time_unix_nano=NS - 1,
        severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
        body=AnyValue(string_value="order placed"),
    )
    resp = pusher.post(
        PATH, content=request_of(info, failure_record()).SerializeToString(), headers=PROTOBUF
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/x-protobuf"
    answer = ExportLogsServiceResponse.FromString(resp.content)
    assert not answer.HasField("partial_success")
    lines = stored(ctx, '{service="checkout"}')
    assert [(ln.message, ln.label("level")) for ln in lines] == [
        ("order placed", "info"),
        ("payment failed", "error"),
    ]
    assert lines[1].fields["exception.type"] == "CardDeclined"
    assert lines[1].fields["trace_id"] == TRACE.hex()
    errors = stored(ctx, '{service="checkout", level="error"}')
    assert [ln.message for ln in errors] == ["payment failed"]


def otlp_json(trace_id: str) -> dict[str, Any]:
    """A request as the OTLP/JSON exporters write it: camelCase, ids in hex, 64-bit ints
    as strings, enums as numbers."""
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "api.http"},
                        "logRecords": [
                            {
                                "timeUnixNano": str(NS),
                                "severityNumber": 13,
                                "body": {"stringValue": "slow request"},
                                "attributes": [
                                    {"key": "http.route", "value": {"stringValue": "/pay"}},
                                    {"key": "ms", "value": {"intValue": "1500"}},
                                ],
                                "traceId": trace_id,
                                "spanId": "0102030405060708",
                                "unknownField": "ignored",
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_json_gzip_records_with_hex_ids(ctx: AppContext, pusher: httpx.Client) -> None:
    trace_id = "5b8efff798038103d269b633813fc60c"
    resp = pusher.post(
        PATH,
        content=gzip.compress(json.dumps(otlp_json(trace_id)).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {}
    [line] = stored(ctx, '{service="api"}')
    assert line.label("level") == "warn" and line.message == "slow request"
    assert line.fields == {
        "scope.name": "api.http",
        "http.route": "/pay",
        "ms": "1500",
        "trace_id": trace_id,
        "span_id": "0102030405060708",
    }


def test_oversized_records_are_counted_in_partial_success(
    ctx: AppContext, pusher: httpx.Client
) -> None:
    huge = LogRecord(time_unix_nano=NS, body=AnyValue(string_value="x" * (MAX_LINE_BYTES + 1)))
    fine = LogRecord(time_unix_nano=NS, body=AnyValue(string_value="fits"))
    resp = pusher.post(
        PATH, content=request_of(huge, fine, service="big").SerializeToString(), headers=PROTOBUF
    )
    assert resp.status_code == 200, resp.text
    partial = ExportLogsServiceResponse.FromString(resp.content).partial_success
    assert partial.rejected_log_records == 1
    assert "the limit is 262144" in partial.error_message
    assert [ln.message for ln in stored(ctx, '{service="big"}')] == ["fits"]


UNREADABLE: list[tuple[bytes, dict[str, str], int, str]] = [
    (
        request_of(failure_record()).SerializeToString()[:-7],
        PROTOBUF,
        400,
        "not a valid OTLP ExportLogsServiceRequest (protobuf)",
    ),
    (
        b'{"resourceLogs": [',
        {"Content-Type": "application/json"},
        400,
        "not a valid OTLP ExportLogsServiceRequest (json)",
    ),
    (
        b'{"resourceLogs": 5}',
        {"Content-Type": "application/json"},
        400,
        "not a valid OTLP ExportLogsServiceRequest (json)",
    ),
    (b"x", {"Content-Type": "text/plain"}, 415, "is not OTLP"),
    (b"x", {**PROTOBUF, "Content-Encoding": "zstd"}, 415, 'Content-Encoding "zstd"'),
]


def test_unreadable_bodies_are_problems(pusher: httpx.Client) -> None:
    for content, headers, status, detail in UNREADABLE:
        resp = pusher.post(PATH, content=content, headers=headers)
        assert resp.status_code == status, (detail, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        assert detail in resp.json()["detail"]


def test_operator_token_needed(ctx: AppContext, server: LiveServer) -> None:
    body = request_of(failure_record()).SerializeToString()
    assert httpx.post(f"{server.url}{PATH}", content=body, headers=PROTOBUF).status_code == 401
    viewer = {"Authorization": f"Bearer {api_token(ctx, role='viewer')}"}
    resp = httpx.post(f"{server.url}{PATH}", content=body, headers={**PROTOBUF, **viewer})
    assert resp.status_code == 403
