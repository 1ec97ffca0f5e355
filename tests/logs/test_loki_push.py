"""Loki push (``/loki/api/v1/push``): snappy protobuf and JSON, as Promtail/Alloy send them.

The protobuf bodies are encoded by hand here (a few lines of the wire format), independently
of the message classes the receiver builds at run time.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import cramjam
import httpx
import pytest

from tests.helpers import LiveServer
from tests.logs.push_support import stored
from tests.metrics.ingest_support import api_token
from watchkeeper.logs.receivers import loki
from watchkeeper.logs.receivers.common import Refused
from watchkeeper.runtime.context import AppContext

NS = 1_700_000_000_000_000_000
PATH = "/loki/api/v1/push"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


# --- the protobuf wire format, by hand ---------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def entry(ts: int, line: bytes, metadata: dict[str, str] | None = None) -> bytes:
    stamp = field(1, ts // 1_000_000_000) + field(2, ts % 1_000_000_000)
    pairs = b"".join(
        field(3, field(1, name.encode()) + field(2, value.encode()))
        for name, value in (metadata or {}).items()
    )
    return field(1, stamp) + field(2, line) + pairs


def stream(labels: str, *entries: bytes) -> bytes:
    return field(1, field(1, labels.encode()) + b"".join(field(2, e) for e in entries))


def push_request(*streams: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(b"".join(streams)))


@pytest.fixture
def token(ctx: AppContext) -> str:
    return api_token(ctx)


@pytest.fixture
def pusher(server: LiveServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


# --- decoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ('{app="api", host="web-1"}', (("app", "api"), ("host", "web-1"))),
        ('{job="varlogs",filename="/var/log/a \\"b\\".log"}', None),
        ("{}", ()),
    ],
)
def test_stream_labels(text: str, labels: tuple[tuple[str, str], ...] | None) -> None:
    parsed = loki.stream_labels(text)
    if labels is not None:
        assert parsed == labels
    else:
        assert dict(parsed)["filename"] == '/var/log/a "b".log'


@pytest.mark.parametrize("text", ['{app=~"a.*"}', '{app="x"', "app=x", '{app="x"} extra'])
def test_bad_stream_labels_are_refused(text: str) -> None:
    with pytest.raises(Refused, match="labels"):
        loki.stream_labels(text)


def test_protobuf_lines_keep_labels_times_and_metadata() -> None:
    body = push_request(
        stream(
            '{app="api", env="prod"}',
            entry(NS, b"GET /pay 200", {"trace_id": "abc"}),
            entry(NS + 1, b"bad bytes \xff\xfe end"),
        )
    )
    decoded = loki.decode(body, "protobuf", received=1)
    first, second = decoded.lines
    assert first.labels == (("app", "api"), ("env", "prod"))
    assert (first.ts, first.message, first.fields) == (NS, "GET /pay 200", {"trace_id": "abc"})
    assert second.message == "bad bytes \ufffd\ufffd end"  # repaired, not refused
    assert not decoded.rejected


# --- through the real server --------------------------------------------------------------------


def test_protobuf_push_is_stored_and_searchable(ctx: AppContext, pusher: httpx.Client) -> None:
    body = push_request(
        stream('{job="promtail", host="web-1"}', entry(NS, b"first"), entry(NS + 5, b"second")),
        stream('{job="promtail", host="web-2"}', entry(NS + 2, b"other", {"pod": "p-1"})),
    )
    resp = pusher.post(PATH, content=body, headers=PROTOBUF)
    assert resp.status_code == 204, resp.text
    lines = stored(ctx, '{job="promtail"}')
    assert [(ln.ts, ln.label("host"), ln.message) for ln in lines] == [
        (NS, "web-1", "first"),
        (NS + 2, "web-2", "other"),
        (NS + 5, "web-1", "second"),
    ]
    assert lines[1].fields == {"pod": "p-1"}


def test_json_push_with_structured_metadata_gzip(ctx: AppContext, pusher: httpx.Client) -> None:
    body = {
        "streams": [
            {
                "stream": {"app": "json-push", "level": "info"},
                "values": [
                    [str(NS), "plain line"],
                    [str(NS + 1), "with metadata", {"user": "u-7", "trace_id": "t-1"}],
                ],
            }
        ]
    }
    resp = pusher.post(
        PATH,
        content=gzip.compress(json.dumps(body).encode()),
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert resp.status_code == 204, resp.text
    lines = stored(ctx, '{app="json-push"}')
    assert [(ln.message, ln.fields) for ln in lines] == [
        ("plain line", {}),
        ("with metadata", {"user": "u-7", "trace_id": "t-1"}),
    ]
    assert lines[0].labels == (("app", "json-push"), ("level", "info"))


def test_bad_stream_is_named_and_the_others_stored(ctx: AppContext, pusher: httpx.Client) -> None:
    body = push_request(
        stream('{app="kept"}', entry(NS, b"kept line")),
        stream('{app=~"nope"}', entry(NS, b"lost 1"), entry(NS, b"lost 2")),
    )
    resp = pusher.post(PATH, content=body, headers=PROTOBUF)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["detail"] == "2 entries refused; 1 entries of the request were stored"
    assert problem["errors"][0]["field"] == "streams[1]"
    assert [ln.message for ln in stored(ctx, '{app="kept"}')] == ["kept line"]


def test_bad_json_entries_are_named(ctx: AppContext, pusher: httpx.Client) -> None:
    body = {
        "streams": [
            {"stream": {"app": "partial"}, "values": [[str(NS), "good"], ["soon", "bad time"]]}
        ]
    }
    resp = pusher.post(PATH, json=body)
    assert resp.status_code == 400
    assert resp.json()["errors"] == [
        {
            "field": "streams[0].values[1]",
            "message": "the time 'soon' is not a string of unix nanoseconds",
        }
    ]
    assert [ln.message for ln in stored(ctx, '{app="partial"}')] == ["good"]


UNREADABLE: list[tuple[bytes, dict[str, str], int, str]] = [
    (b"\x05not snappy", PROTOBUF, 400, "not snappy-compressed"),
    (
        bytes(cramjam.snappy.compress_raw(stream('{a="b"}', entry(NS, b"x"))[:-3])),
        PROTOBUF,
        400,
        "not a valid Loki PushRequest",
    ),
    (b"{not json", JSON, 400, "not valid JSON"),
    (b'{"streams": {}}', JSON, 400, 'expected {"streams": [...]}'),
    (b"x", {"Content-Type": "text/plain"}, 415, "is not a Loki push"),
    (b"x", {**PROTOBUF, "Content-Encoding": "deflate"}, 415, 'Content-Encoding "deflate"'),
    (
        b"\xff\xff\xff\xff\x0f",  # a snappy header announcing 4 GB
        PROTOBUF,
        413,
        "larger than 32 MB",
    ),
]


def test_unreadable_bodies_are_problems(pusher: httpx.Client) -> None:
    for content, headers, status, detail in UNREADABLE:
        resp = pusher.post(PATH, content=content, headers=headers)
        assert resp.status_code == status, (detail, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        assert detail in resp.json()["detail"]


def test_promtail_basic_auth_and_bearer(ctx: AppContext, server: LiveServer, token: str) -> None:
    body = push_request(stream('{app="auth"}', entry(NS, b"basic")))
    url = f"{server.url}{PATH}"
    assert httpx.post(url, content=body, headers=PROTOBUF).status_code == 401
    basic = httpx.post(url, content=body, headers=PROTOBUF, auth=("promtail", token))
    assert basic.status_code == 204, basic.text
    bearer = httpx.post(
        url,
        content=push_request(stream('{app="auth"}', entry(NS + 1, b"bearer"))),
        headers={**PROTOBUF, "Authorization": f"Bearer {token}"},
    )
    assert bearer.status_code == 204, bearer.text
    viewer = api_token(ctx, role="viewer")
    refused = httpx.post(url, content=body, headers=PROTOBUF, auth=("promtail", viewer))
    assert refused.status_code == 403
    assert [ln.message for ln in stored(ctx, '{app="auth"}')] == ["basic", "bearer"]
