"""Forwarding stored lines to Loki, Elasticsearch/OpenSearch and OTLP receivers: real HTTP
servers on loopback speaking each protocol (tests.notify.loopback), fed through Forwarding
the way the store's writer feeds it."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.conftest import remember_secret
from tests.notify.loopback import Answer, Loopback, Seen, run
from watchkeeper.logs.config import Forwarder
from watchkeeper.logs.forward import Forwarding
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.runtime.context import AppContext
from watchkeeper.telemetry import REGISTRY

T0 = 1_740_830_400_000_000_000  # 2025-03-01T12:00:00Z in ns
TOKEN = remember_secret("fw-bearer-6c1d0e9a4b7f2358")
PASSWORD = remember_secret("fw-es-password-91b2c3d4")
API_KEY = remember_secret("fw-api-key-0a9b8c7d6e5f")


def line(i: int, message: str | None = None, **labels: str) -> LogLine:
    return LogLine(
        ts=T0 + i * 1000 + 7,
        received=T0 + i * 1000 + 500,
        labels=make_labels(labels or {"app": "api", "host": "web-1"}),
        message=message if message is not None else f"line {i}",
        fields={"n": str(i)},
    )


def forwarder(name: str, kind: str, url: str, **fields: Any) -> Forwarder:
    fields.setdefault("flush_interval", "20ms")
    return Forwarder.model_validate({"name": name, "type": kind, "url": url, **fields})


def counted(name: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "watchkeeper_log_forwarded_lines_total", {"forwarder": name, "outcome": outcome}
    )
    return value or 0.0


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` every 10 ms; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running(forwarders: list[Forwarder], **options: Any) -> Any:
    """A started Forwarding with fast retries; stopped (flushing) on exit."""
    options.setdefault("retry_initial", 0.01)
    options.setdefault("retry_max", 0.05)
    service = Forwarding(**options)
    assert service.configure(forwarders) == []
    task = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        await service.stop()
        await task


# --- what each protocol's server makes of a request -------------------------------------


def loki_lines(seen: list[Seen]) -> list[tuple[dict[str, str], str, str]]:
    """(stream labels, ts, message) of every pushed value, in request order."""
    out = []
    for request in seen:
        assert request.path == "/loki/api/v1/push"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["content-encoding"] == "gzip"
        for stream in request.json()["streams"]:
            out += [(stream["stream"], ts, msg) for ts, msg in stream["values"]]
    return out


def bulk_docs(request: Seen) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The (action, document) pairs of one ``_bulk`` request."""
    assert request.path.endswith("/_bulk")
    assert request.headers["content-type"] == "application/x-ndjson"
    rows = request.body.decode().split("\n")
    assert rows[-1] == ""  # the body ends with a newline, as _bulk requires
    rows = rows[:-1]
    return [(json.loads(a), json.loads(d)) for a, d in zip(rows[::2], rows[1::2], strict=True)]


def bulk_answer(statuses: list[int]) -> web.Response:
    items = []
    for status in statuses:
        item: dict[str, Any] = {"_index": "wk", "status": status}
        if status >= 300:
            kind = "es_rejected_execution_exception" if status == 429 else "document_parsing"
            item["error"] = {"type": kind, "reason": f"refused with {status}"}
        items.append({"create": item})
    errors = any(s >= 300 for s in statuses)
    return web.json_response({"took": 3, "errors": errors, "items": items})


def failing(times: int, then: Answer, status: int = 503) -> Answer:
    """Answer ``status`` (Retry-After: 0) to the first ``times`` requests, then ``then``."""
    calls = {"n": 0}

    def answer(seen: Seen) -> web.StreamResponse | Awaitable[web.StreamResponse]:
        calls["n"] += 1
        if calls["n"] <= times:
            return web.Response(status=status, text="busy", headers={"Retry-After": "0"})
        return then(seen)

    return answer


def loki_ok(seen: Seen) -> web.StreamResponse:
    return web.Response(status=204)


def bulk_ok(seen: Seen) -> web.StreamResponse:
    return bulk_answer([201] * len(bulk_docs(seen)))


def otlp_ok(seen: Seen) -> web.StreamResponse:
    return web.json_response({})


# --- each protocol -------------------------------------------------------------------------


def test_loki_gets_matching_lines_grouped_by_stream_in_order() -> None:
    lines = [line(i, app=("api", "web", "db")[i % 3], host="h1") for i in range(30)]

    async def main() -> list[Seen]:
        async with Loopback(loki_ok) as server:
            config = forwarder(
                "loki-order",
                "loki",
                server.url(),
                match='{app=~"api|web"}',
                batch_lines=7,
                bearer_token=TOKEN,
            )
            async with running([config]) as service:
                for start in range(0, 30, 4):  # in several stored batches
                    service.offer(lines[start : start + 4])
                await until(lambda: len(loki_lines(server.seen)) == 20)
            return server.seen

    seen = run(main())
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)
    got = loki_lines(seen)
    for app in ("api", "web"):
        expected = [(str(x.ts), x.message) for x in lines if x.label("app") == app]
        assert [(ts, msg) for labels, ts, msg in got if labels["app"] == app] == expected
    assert {labels["app"] for labels, _, _ in got} == {"api", "web"}
    assert all(labels == {"app": labels["app"], "host": "h1"} for labels, _, _ in got)
    assert counted("loki-order", "sent") == 20


def test_loki_stream_without_labels_gets_a_job_label() -> None:
    bare = LogLine(ts=T0, received=T0, labels=(), message="no labels")

    async def main() -> list[Seen]:
        async with Loopback(loki_ok) as server:
            async with running([forwarder("loki-bare", "loki", server.url())]) as service:
                service.offer([bare])
                await until(lambda: len(server.seen) == 1)
            return server.seen

    assert loki_lines(run(main())) == [({"job": "watchkeeper"}, str(T0), "no labels")]


def test_elasticsearch_documents_carry_timestamp_message_labels_and_fields() -> None:
    lines = [line(i, f'message "{i}" ünïcode') for i in range(5)]

    async def main() -> list[Seen]:
        async with Loopback(bulk_ok) as server:
            config = forwarder(
                "es-docs",
                "elasticsearch",
                server.url("/base/"),
                index="wk-logs",
                username="writer",
                password=PASSWORD,
            )
            async with running([config]) as service:
                service.offer(lines)
                await until(lambda: len(server.seen) == 1)
            return server.seen

    (request,) = run(main())
    basic = base64.b64encode(f"writer:{PASSWORD}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    assert request.raw_path == "/base/_bulk"
    docs = bulk_docs(request)
    assert [a for a, _ in docs] == [{"create": {"_index": "wk-logs"}}] * 5
    assert docs[0][1] == {
        "@timestamp": "2025-03-01T12:00:00.000000007Z",
        "message": 'message "0" ünïcode',
        "labels": {"app": "api", "host": "web-1"},
        "fields": {"n": "0"},
    }
    assert [d["message"] for _, d in docs] == [x.message for x in lines]
    assert docs[4][1]["@timestamp"] == "2025-03-01T12:00:00.000004007Z"


def test_otlp_request_is_a_valid_export_with_resource_per_stream() -> None:
    lines = [
        line(0, "started", host="web-1", service="shop", level="info"),
        line(1, "slow query", host="db-1", app="pg", level="warning"),
        line(2, "failed", host="web-1", service="shop", level="error"),
        LogLine(
            ts=T0 + 3,
            received=T0 + 4,
            labels=make_labels({"host": "web-1", "service": "shop", "level": "error"}),
            message="traced",
            fields={"trace_id": "5B8EFFF798038103D269B633813FC60C", "user": "ana"},
        ),
    ]

    async def main() -> list[Seen]:
        async with Loopback(otlp_ok) as server:
            config = forwarder("otlp-export", "otlp", server.url(), headers={"X-Api-Key": API_KEY})
            async with running([config]) as service:
                service.offer(lines)
                await until(lambda: len(server.seen) == 1)
            return server.seen

    (request,) = run(main())
    assert request.path == "/v1/logs"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["content-encoding"] == "gzip"
    export = json_format.Parse(request.body, ExportLogsServiceRequest())  # strict: no unknowns
    streams = {}
    for resource_logs in export.resource_logs:
        attrs = {a.key: a.value.string_value for a in resource_logs.resource.attributes}
        (scope,) = resource_logs.scope_logs
        assert scope.scope.name == "watchkeeper"
        streams[(attrs["host.name"], attrs["service.name"])] = (attrs, list(scope.log_records))
    assert set(streams) == {("web-1", "shop"), ("db-1", "pg")}
    assert streams["db-1", "pg"][0] == {"service.name": "pg", "host.name": "db-1", "app": "pg"}
    records = streams["web-1", "shop"][1]
    assert [r.body.string_value for r in records] == ["started", "failed", "traced"]
    assert [r.severity_number for r in records] == [9, 17, 17]
    assert records[0].time_unix_nano == T0 + 7
    assert records[0].observed_time_unix_nano == T0 + 500
    assert {a.key: a.value.string_value for a in records[0].attributes} == {"n": "0"}
    # OTLP/JSON writes trace ids in hex (not base64 as plain protobuf JSON would)
    raw = json.loads(request.body)["resourceLogs"]
    traced = next(r for rl in raw for r in rl["scopeLogs"][0]["logRecords"] if "traceId" in r)
    assert traced["traceId"] == "5b8efff798038103d269b633813fc60c"
    assert {a.key: a.value.string_value for a in records[2].attributes} == {"user": "ana"}
    (warning,) = streams["db-1", "pg"][1]
    assert (warning.severity_number, warning.severity_text) == (13, "warning")


def test_otlp_partial_success_counts_rejected_lines_as_dropped() -> None:
    def partial(seen: Seen) -> web.StreamResponse:
        body = {"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "too old"}}
        return web.json_response(body)

    async def main() -> None:
        async with Loopback(partial) as server:
            async with running([forwarder("otlp-partial", "otlp", server.url())]) as service:
                service.offer([line(i) for i in range(5)])
                await until(lambda: len(server.seen) == 1)

    run(main())
    assert (counted("otlp-partial", "sent"), counted("otlp-partial", "dropped")) == (3, 2)


# --- failures ------------------------------------------------------------------------------

PROTOCOLS: list[tuple[str, Answer, Callable[[list[Seen]], list[str]]]] = [
    ("loki", loki_ok, lambda seen: [msg for _, _, msg in loki_lines(seen)]),
    (
        "elasticsearch",
        bulk_ok,
        lambda seen: [d["message"] for r in seen for _, d in bulk_docs(r)],
    ),
    (
        "otlp",
        otlp_ok,
        lambda seen: [
            rec.body.string_value
            for r in seen
            for rl in json_format.Parse(r.body, ExportLogsServiceRequest()).resource_logs
            for sl in rl.scope_logs
            for rec in sl.log_records
        ],
    ),
]


@pytest.mark.parametrize(("kind", "ok", "messages"), PROTOCOLS, ids=[p[0] for p in PROTOCOLS])
def test_lines_arrive_once_after_the_target_failed_twice(
    kind: str, ok: Answer, messages: Callable[[list[Seen]], list[str]]
) -> None:
    name = f"retry-{kind}"
    lines = [line(i) for i in range(12)]

    async def main() -> list[Seen]:
        async with Loopback(failing(2, ok)) as server:
            async with running([forwarder(name, kind, server.url(), batch_lines=5)]) as service:
                service.offer(lines)
                await until(lambda: counted(name, "sent") == 12)
            return server.seen

    seen = run(main())
    accepted = seen[2:]  # the first two requests were answered 503
    assert messages(accepted) == [x.message for x in lines]
    assert messages(seen[:1]) == messages(seen[1:2]) == [f"line {i}" for i in range(5)]
    assert counted(name, "failed") == 10  # the first batch, twice
    assert counted(name, "dropped") == 0


def test_bulk_items_refused_for_good_are_dropped_and_the_rest_delivered() -> None:
    stored: list[str] = []
    throttled: set[str] = set()

    def bulk(seen: Seen) -> web.StreamResponse:
        statuses = []
        for _, doc in bulk_docs(seen):
            message = doc["message"]
            if "bad" in message:
                statuses.append(400)
            elif message == "line 3" and message not in throttled:
                throttled.add(message)  # refused once with 429: sent again
                statuses.append(429)
            else:
                stored.append(message)
                statuses.append(201)
        return bulk_answer(statuses)

    lines = [line(i, "bad line" if i in (1, 5) else None) for i in range(8)]

    async def main() -> None:
        async with Loopback(bulk) as server:
            config = forwarder("es-items", "elasticsearch", server.url())
            async with running([config]) as service:
                service.offer(lines)
                await until(lambda: len(stored) == 6)
            assert len(server.seen) == 2

    run(main())
    assert sorted(stored) == sorted(x.message for x in lines if x.message != "bad line")
    assert stored.count("line 3") == 1
    assert counted("es-items", "dropped") == 2
    assert counted("es-items", "sent") == 6


def test_a_batch_answered_413_is_split_until_it_fits() -> None:
    def small_only(seen: Seen) -> web.StreamResponse:
        docs = bulk_docs(seen)
        if len(docs) > 2:
            return web.Response(status=413, text="Request Entity Too Large")
        return bulk_answer([201] * len(docs))

    async def main() -> list[Seen]:
        async with Loopback(small_only) as server:
            config = forwarder("es-split", "elasticsearch", server.url(), batch_lines=10)
            async with running([config]) as service:
                service.offer([line(i) for i in range(7)])
                await until(lambda: counted("es-split", "sent") == 7)
            return server.seen

    seen = run(main())
    delivered = [d["message"] for r in seen if len(bulk_docs(r)) <= 2 for _, d in bulk_docs(r)]
    assert delivered == [f"line {i}" for i in range(7)]


def test_a_refused_batch_is_dropped_and_counted_and_later_ones_go_on() -> None:
    def loki(seen: Seen) -> web.StreamResponse:
        if any("too old" in msg for _, _, msg in loki_lines([seen])):
            return web.Response(status=400, text="entry too far behind")
        return web.Response(status=204)

    async def main() -> list[Seen]:
        async with Loopback(loki) as server:
            config = forwarder("loki-400", "loki", server.url(), batch_lines=2)
            async with running([config]) as service:
                service.offer([line(0, "too old"), line(1), line(2), line(3)])
                await until(lambda: len(server.seen) == 2)
            return server.seen

    seen = run(main())
    assert [msg for _, _, msg in loki_lines(seen[1:])] == ["line 2", "line 3"]
    assert (counted("loki-400", "dropped"), counted("loki-400", "sent")) == (2, 2)


def test_buffer_overflow_while_the_target_is_down_drops_the_oldest() -> None:
    up = {"now": False}

    def loki(seen: Seen) -> web.StreamResponse:
        return web.Response(status=204 if up["now"] else 503)

    first = [line(i) for i in range(100)]
    later = [line(i) for i in range(100, 1600)]

    async def main() -> list[Seen]:
        async with Loopback(loki) as server:
            config = forwarder(
                "loki-full",
                "loki",
                server.url(),
                batch_lines=100,
                buffer_lines=1000,
                flush_interval="1h",
            )
            async with running([config]) as service:
                service.offer(first)  # one full batch: taken and retried while down
                await until(lambda: len(server.seen) >= 2)
                for start in range(0, 1500, 250):
                    service.offer(later[start : start + 250])
                assert service.buffered("loki-full") == 1000
                assert counted("loki-full", "dropped") == 500
                up["now"] = True
                await until(lambda: counted("loki-full", "sent") == 1100)
            return server.seen

    seen = run(main())
    delivered = [msg for _, _, msg in loki_lines(seen)]
    # every request before the target came back carried the first batch
    expected = [x.message for x in first] + [x.message for x in later[500:]]
    assert delivered[-1100:] == expected
    assert counted("loki-full", "dropped") == 500


def test_stop_sends_what_is_buffered() -> None:
    async def main() -> list[Seen]:
        async with Loopback(loki_ok) as server:
            config = forwarder("loki-stop", "loki", server.url(), flush_interval="1h")
            async with running([config]) as service:
                service.offer([line(i) for i in range(10)])
            return server.seen

    assert [msg for _, _, msg in loki_lines(run(main()))] == [f"line {i}" for i in range(10)]


def test_stop_gives_up_on_a_target_that_is_away_and_counts_the_lines() -> None:
    async def main() -> None:
        async with Loopback(lambda seen: web.Response(status=503)) as server:
            config = forwarder("loki-away", "loki", server.url(), flush_interval="1h")
            async with running([config], stop_timeout=0.2) as service:
                service.offer([line(i) for i in range(10)])

    run(main())
    assert counted("loki-away", "dropped") == 10
    assert counted("loki-away", "sent") == 0


# --- configuration -------------------------------------------------------------------------


def test_configure_keeps_unchanged_forwarders_and_hands_buffers_on() -> None:
    service = Forwarding()
    url = "http://127.0.0.1:9"
    keep = forwarder("cfg-keep", "loki", url, match='{app="api"}')
    change = forwarder("cfg-change", "loki", url)
    gone = forwarder("cfg-gone", "otlp", url)
    assert service.configure([keep, change, gone]) == []
    service.offer([line(0), line(1, app="web")])
    assert [service.buffered(n) for n in service.names] == [1, 2, 2]

    changed = forwarder("cfg-change", "elasticsearch", "http://127.0.0.1:10")
    # the plan loader refuses such a selector; a stored section from elsewhere may hold one
    bad = forwarder("cfg-bad", "loki", url).model_copy(update={"match": "{app=api}"})
    problems = service.configure([keep, changed, bad])
    assert len(problems) == 1
    assert problems[0].startswith("logs.forward cfg-bad: match: expected a quoted string")
    assert service.names == ["cfg-keep", "cfg-change"]
    assert [service.buffered(n) for n in service.names] == [1, 2]
    assert counted("cfg-gone", "dropped") == 2

    bad_url = forwarder("cfg-url", "loki", "loki:3100")
    assert service.configure([bad_url]) == [
        "logs.forward cfg-url: url: `url` must start with http:// or https:// and name a host"
    ]


# --- secrets -------------------------------------------------------------------------------


def test_credentials_are_sent_but_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url_password = remember_secret("fw-url-password-77aa66bb")
    answers = iter([401, 403, 500, 400])
    done = ("sent", "dropped")

    def strict(seen: Seen) -> web.StreamResponse:
        status = next(answers, 204)
        # a target that echoes what it got, as some error pages do
        return web.Response(status=status, text=json.dumps(seen.headers))

    async def main() -> list[Seen]:
        async with Loopback(strict) as server:
            configs = [
                forwarder(
                    "secret-headers",
                    "loki",
                    server.url(),
                    bearer_token=TOKEN,
                    headers={"X-Api-Key": API_KEY},
                ),
                forwarder(
                    "secret-url",
                    "loki",
                    f"http://ana:{url_password}@127.0.0.1:{server.port}",
                    flush_interval="10ms",
                ),
            ]
            async with running(configs) as service:
                service.offer([line(i) for i in range(3)])
                await until(lambda: sum(counted(c.name, o) for c in configs for o in done) == 6)
            return server.seen

    seen = run(main())
    basic = base64.b64encode(f"ana:{url_password}".encode()).decode()
    assert {r.headers["authorization"] for r in seen} == {f"Bearer {TOKEN}", f"Basic {basic}"}
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "log forwarder secret-" in text
    for secret in (TOKEN, API_KEY, url_password, basic):
        assert secret not in text


# --- from the store's writer thread --------------------------------------------------------


def test_stored_lines_are_forwarded_from_the_writer_thread(ctx: AppContext) -> None:
    """The log system's writer offers each stored batch (from its own thread); the lines it
    stored reach the target, in order."""
    name = "e2e-loki"
    before = counted(name, "sent")
    lines = [line(i, app="e2e", host="h1") for i in range(300)]

    async def main() -> list[Seen]:
        async with Loopback(loki_ok) as server:
            config = forwarder(name, "loki", server.url(), match='{app="e2e"}', batch_lines=64)
            async with running([config]) as service:
                unsubscribe = ctx.logs.subscribe(service.offer)
                try:
                    for start in range(0, 300, 50):
                        await ctx.logs.queue.submit("http", lines[start : start + 50])
                    await until(lambda: counted(name, "sent") - before == 300)
                finally:
                    unsubscribe()
            return server.seen

    seen = run(main())
    assert [msg for _, _, msg in loki_lines(seen)] == [x.message for x in lines]
    stored = ctx.logs.search('{app="e2e"}', T0 - 1, T0 + 10**12, limit=1000)
    assert len(stored) == 300
