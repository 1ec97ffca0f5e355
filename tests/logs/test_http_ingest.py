"""``POST /api/v1/logs``: NDJSON and JSON arrays through the real app, and their decoding."""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.helpers import LiveServer
from tests.logs.push_support import HeldWriter, stored
from tests.metrics.ingest_support import api_token
from watchkeeper.logs.model import MAX_LINE_BYTES, LogLine
from watchkeeper.logs.receivers import ndjson
from watchkeeper.logs.receivers.common import Refused, epoch_ns, rfc3339_ns, timestamp_ns
from watchkeeper.runtime.context import AppContext

NS = 1_700_000_000_000_000_000
NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson_body(*items: Any) -> bytes:
    return b"".join(
        (item if isinstance(item, bytes) else json.dumps(item).encode()) + b"\n" for item in items
    )


@pytest.fixture
def pusher(ctx: AppContext, server: LiveServer) -> Iterator[httpx.Client]:
    token = api_token(ctx)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


# --- decoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20Z", NS),
        ("2023-11-14T22:13:20.123456789Z", NS + 123_456_789),
        ("2023-11-14t22:13:20.5z", NS + 500_000_000),
        ("2023-11-14T23:13:20+01:00", NS),
        ("2023-11-14T21:13:20.000001-01:00", NS + 1000),
        ("2023-11-14 22:13:20", NS),  # no offset: UTC
        ("2023-11-14T22:13:20,25Z", NS + 250_000_000),
    ],
)
def test_rfc3339_times_keep_nanoseconds(text: str, expected: int) -> None:
    assert rfc3339_ns(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, NS),
        (Decimal("1700000000.123456789"), NS + 123_456_789),
        (1_700_000_000_000, NS),
        (1_700_000_000_000_000, NS),
        (NS, NS),
        ("1700000000", NS),
        ("1700000000000000000", NS),
    ],
)
def test_epoch_numbers_are_told_apart_by_size(value: Any, expected: int) -> None:
    assert timestamp_ns(value) == expected


@pytest.mark.parametrize(
    "value", ["yesterday", "2023-13-01T00:00:00Z", "2023-02-30T00:00:00Z", -5, True, [1], 10**30]
)
def test_unusable_times_are_refused(value: Any) -> None:
    with pytest.raises(Refused):
        timestamp_ns(value)


def test_epoch_seconds_as_float() -> None:
    assert epoch_ns(1_700_000_000.5) == NS + 500_000_000


def test_an_object_becomes_labels_message_and_flattened_fields() -> None:
    line = ndjson.entry(
        {
            "msg": "payment failed",
            "ts": "2023-11-14T22:13:20Z",
            "level": "WARNING",
            "host": "web-1",
            "service": "shop",
            "labels": {"app": "checkout", "env": "prod", "host": "web-2"},
            "user": {"id": 42, "geo": {"country": "NL"}, "tags": ["a", "b"]},
            "amount": Decimal("12.50"),
            "ok": False,
            "none": None,
            "message_id": "m-1",
        },
        received=5,
    )
    assert line.ts == NS and line.received == 5
    assert line.message == "payment failed"
    assert dict(line.labels) == {
        "app": "checkout",
        "env": "prod",
        "host": "web-2",  # the labels object wins over the top-level key
        "level": "warn",
        "service": "shop",
    }
    assert line.fields == {
        "user.id": "42",
        "user.geo.country": "NL",
        "user.tags": '["a","b"]',
        "amount": "12.50",
        "ok": "false",
        "message_id": "m-1",
    }


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"level": "info"}, "no message"),
        ({"message": "x", "labels": ["a"]}, "labels must be an object"),
        ({"message": "x", "labels": {"a": {"b": 1}}}, "labels.a must be a string"),
        ({"message": "x", "time": "soon"}, 'time: "soon" is not an RFC 3339 time'),
        ({"message": "x", "labels": {f"l{i}": "v" for i in range(16)}}, "16 labels"),
        ({"message": "é" * MAX_LINE_BYTES}, "the limit is 262144"),
        ("just a string", "expected a JSON object, got a string"),
    ],
)
def test_bad_objects_are_refused_with_the_reason(item: Any, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        ndjson.entry(item, received=1)


def test_message_that_is_not_a_string_is_kept_as_text() -> None:
    assert ndjson.entry({"log": {"a": [1, 2]}}, 1).message == '{"a":[1,2]}'
    assert ndjson.entry({"line": 3.25}, 1).message == "3.25"


def test_decoding_names_bad_lines_and_keeps_the_rest() -> None:
    body = ndjson_body({"message": "one"}, b"{broken", {"message": "three"}) + b"\xff\xfe\n\n"
    decoded = ndjson.decode(body, received=7)
    assert [line.message for line in decoded.lines] == ["one", "three"]
    assert [(r.line, r.reason) for r in decoded.rejections] == [
        (2, "not valid JSON: Expecting property name enclosed in double quotes at column 2"),
        (4, "not valid UTF-8 (byte 1)"),
    ]


def test_deep_nesting_is_refused_not_crashed() -> None:
    deep = b'{"message": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    decoded = ndjson.decode(deep + b"\n" + ndjson_body({"message": "ok"}), received=1)
    assert [line.message for line in decoded.lines] == ["ok"]
    assert decoded.rejections[0].line == 1


def test_a_pretty_printed_object_is_one_line() -> None:
    body = json.dumps({"message": "pretty", "level": "info"}, indent=2).encode()
    decoded = ndjson.decode(body, received=1)
    assert [line.message for line in decoded.lines] == ["pretty"] and not decoded.rejected


# --- through the real server --------------------------------------------------------------------


def test_ndjson_lines_are_stored_and_searchable(ctx: AppContext, pusher: httpx.Client) -> None:
    body = ndjson_body(
        {"message": "started", "timestamp": "2023-11-14T22:13:20Z", "app": "api", "port": 8080},
        {"msg": "request", "ts": NS + 1, "labels": {"app": "api"}, "http": {"status": 200}},
        {"log": "no time", "app": "api"},
    )
    resp = pusher.post("/api/v1/logs", content=body, headers=NDJSON)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"accepted": 3, "rejected": []}
    lines = stored(ctx, '{app="api"}')
    assert [(ln.message, ln.fields) for ln in lines] == [
        ("started", {"port": "8080"}),
        ("request", {"http.status": "200"}),
        ("no time", {}),
    ]
    assert lines[0].ts == NS and lines[1].ts == NS + 1
    assert lines[2].ts == lines[2].received + 2  # no event time: arrival + its index


def test_a_bad_line_in_the_middle_is_named_and_the_rest_kept(
    ctx: AppContext, pusher: httpx.Client
) -> None:
    body = ndjson_body(
        {"message": "first", "app": "mixed"},
        b'{"message": "cut off',
        {"message": "third", "app": "mixed", "ts": "later"},
        {"message": "fourth", "app": "mixed"},
    )
    resp = pusher.post("/api/v1/logs", content=body, headers=NDJSON)
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["accepted"] == 2
    assert [(r["line"], r["where"]) for r in result["rejected"]] == [(2, "line 2"), (3, "line 3")]
    assert "not valid JSON" in result["rejected"][0]["reason"]
    assert 'ts: "later"' in result["rejected"][1]["reason"]
    assert sorted(ln.message for ln in stored(ctx, '{app="mixed"}')) == ["first", "fourth"]


def test_json_array_gzip_compressed(ctx: AppContext, pusher: httpx.Client) -> None:
    items = [{"message": f"event {i}", "service": "batch", "ts": NS + i} for i in range(50)]
    items.insert(10, {"message": "bad", "service": "batch", "labels": "app=x"})
    resp = pusher.post(
        "/api/v1/logs",
        content=gzip.compress(json.dumps(items).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == 50
    assert resp.json()["rejected"] == [
        {"where": "[10]", "reason": "labels must be an object, got a string"}
    ]
    assert len(stored(ctx, '{service="batch"}')) == 50


def test_no_good_line_is_a_400_problem(ctx: AppContext, pusher: httpx.Client) -> None:
    resp = pusher.post("/api/v1/logs", content=b"nope\n{}\n", headers=NDJSON)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["detail"] == "none of the 2 log lines could be stored"
    assert [e["field"] for e in problem["errors"]] == ["line 1", "line 2"]


UNREADABLE: list[tuple[bytes, dict[str, str], int, str]] = [
    (b"[{]", {"Content-Type": "application/json"}, 400, "not a valid JSON array"),
    (b"\x1f\x8b\x08garbage", {**NDJSON, "Content-Encoding": "gzip"}, 400, "not valid gzip"),
    (b"{}", {**NDJSON, "Content-Encoding": "br"}, 415, 'Content-Encoding "br"'),
    (b"a=b", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "is not JSON"),
    (
        gzip.compress(b" " * (33 << 20)),
        {**NDJSON, "Content-Encoding": "gzip"},
        413,
        "larger than 32 MB",
    ),
]


def test_unreadable_bodies_are_problems(pusher: httpx.Client) -> None:
    for content, headers, status, detail in UNREADABLE:
        resp = pusher.post("/api/v1/logs", content=content, headers=headers)
        assert resp.status_code == status, (detail, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        assert detail in resp.json()["detail"]


def test_empty_body_stores_nothing(pusher: httpx.Client) -> None:
    resp = pusher.post("/api/v1/logs", content=b"\n\n", headers=NDJSON)
    assert resp.json() == {"accepted": 0, "rejected": []}


def test_operator_token_needed(ctx: AppContext, server: LiveServer) -> None:
    body = ndjson_body({"message": "x"})
    anonymous = httpx.post(f"{server.url}/api/v1/logs", content=body, headers=NDJSON)
    assert anonymous.status_code == 401
    viewer = api_token(ctx, role="viewer")
    refused = httpx.post(
        f"{server.url}/api/v1/logs",
        content=body,
        headers={**NDJSON, "Authorization": f"Bearer {viewer}"},
    )
    assert refused.status_code == 403


def test_basic_auth_with_a_token_as_password(ctx: AppContext, server: LiveServer) -> None:
    token = api_token(ctx)
    body = ndjson_body({"message": "via basic", "app": "basic"})
    resp = httpx.post(
        f"{server.url}/api/v1/logs", content=body, headers=NDJSON, auth=("vector", token)
    )
    assert resp.status_code == 200, resp.text
    assert [ln.message for ln in stored(ctx, '{app="basic"}')] == ["via basic"]
    wrong = "wk_00000000_" + "A" * 43
    refused = httpx.post(
        f"{server.url}/api/v1/logs", content=body, headers=NDJSON, auth=("vector", wrong)
    )
    assert refused.status_code == 401
    assert "basic" not in refused.headers.get("www-authenticate", "").lower()


def test_basic_auth_is_not_taken_by_other_routes(ctx: AppContext, server: LiveServer) -> None:
    token = api_token(ctx, role="admin")
    basic = base64.b64encode(f"me:{token}".encode()).decode()
    resp = httpx.get(f"{server.url}/api/v1/tokens", headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 401


def test_full_queue_under_drop_is_429_with_retry_after(
    ctx: AppContext, pusher: httpx.Client
) -> None:
    held = HeldWriter(ctx)
    try:
        first = pusher.post("/api/v1/logs", content=ndjson_body({"message": "a"}), headers=NDJSON)
        assert first.status_code == 200
        assert held.holding.wait(10)
        queue = ctx.logs.queue
        queue.size, queue.overflow = 1000, "drop"
        filler = [LogLine(NS, NS, (("app", "filler"),), "x") for _ in range(1000)]
        assert queue.offer("test", filler) == 1000
        resp = pusher.post("/api/v1/logs", content=ndjson_body({"message": "b"}), headers=NDJSON)
        assert resp.status_code == 429
        assert resp.headers["retry-after"] == "5"
        assert "queue is full" in resp.json()["detail"]
    finally:
        held.release()


def test_full_queue_under_block_waits_then_stores(ctx: AppContext, pusher: httpx.Client) -> None:
    held = HeldWriter(ctx)
    try:
        first = pusher.post("/api/v1/logs", content=ndjson_body({"message": "a"}), headers=NDJSON)
        assert first.status_code == 200
        assert held.holding.wait(10)
        queue = ctx.logs.queue
        queue.size = 1000
        filler = [LogLine(NS, NS, (("app", "filler"),), "x") for _ in range(1000)]
        assert queue.offer("test", filler) == 1000
        answers: list[httpx.Response] = []
        body = ndjson_body({"message": "waited", "app": "blocked"})
        sender = threading.Thread(
            target=lambda: answers.append(pusher.post("/api/v1/logs", content=body, headers=NDJSON))
        )
        sender.start()
    finally:
        held.release()
    sender.join(10)
    assert answers and answers[0].status_code == 200
    assert [ln.message for ln in stored(ctx, '{app="blocked"}')] == ["waited"]
