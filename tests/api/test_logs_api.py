"""The log query API on a real server: lines, metric queries, histogram, context, streams,
saved searches and history, the live tail over a real streaming response, bad queries as
400 problems naming the position, and who may call what."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.api.test_route_permissions import routes_of
from tests.helpers import LiveServer
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext

SignIn = Callable[..., httpx.Client]
S = 10**9
NOW = time.time_ns() // S * S


def line(
    ago_s: float, message: str, fields: dict[str, str] | None = None, **labels: str
) -> LogLine:
    ts = NOW - int(ago_s * S)
    return LogLine(ts, ts, make_labels(labels), message, fields or {})


def ingest(ctx: AppContext, lines: list[LogLine]) -> None:
    assert ctx.logs.queue.put("http", lines, timeout=5) == len(lines)
    ctx.logs.drain()


@pytest.fixture
def seeded(ctx: AppContext) -> AppContext:
    """Two streams over the last 50 minutes: api (info and errors) and db."""
    global NOW
    NOW = time.time_ns() // S * S  # "now" of this test: relative times follow the clock
    lines = []
    for i in range(50):
        level = "error" if i % 10 == 0 else "info"
        lines.append(
            line(
                i * 60 + 1,
                f"GET /orders/{i} status={500 if level == 'error' else 200}",
                {"status": "500" if level == "error" else "200", "user": f"u{i % 3}"},
                app="api",
                level=level,
            )
        )
    lines += [line(i * 120 + 2, f"checkpoint {i} done", app="db", level="info") for i in range(10)]
    ingest(ctx, lines)
    return ctx


def test_query_returns_lines_newest_first_with_times_and_stats(
    seeded: AppContext, sign_in: SignIn
) -> None:
    client = sign_in("vera", "viewer")
    resp = client.get("/api/v1/logs/query", params={"query": '{app="api"}', "start": "now-1h"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["resultType"] == "streams"
    lines = body["lines"]
    assert len(lines) == 50
    assert lines[0]["message"] == "GET /orders/0 status=500"
    assert [int(x["ts_ns"]) for x in lines] == sorted(
        (int(x["ts_ns"]) for x in lines), reverse=True
    )
    first = lines[0]
    assert first["labels"] == {"app": "api", "level": "error"}
    assert first["fields"]["status"] == "500"
    assert first["ts"].endswith("Z") and len(first["ts"].split(".")[1]) == 10  # 9 digits + Z
    assert body["stats"]["scanned"] >= 50 and body["stats"]["truncated"] is False

    limited = client.get(
        "/api/v1/logs/query",
        params={"query": '{app="api"} |= "status=500"', "limit": 2, "direction": "forward"},
    ).json()
    assert [x["message"] for x in limited["lines"]] == [
        "GET /orders/40 status=500",
        "GET /orders/30 status=500",
    ]
    assert limited["stats"]["truncated"] is True


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (lambda: str(NOW // S - 300), lambda: str(NOW // S)),  # epoch seconds
        (lambda: str(NOW - 300 * S), lambda: str(NOW)),  # epoch ns
        (lambda: "now-5m", lambda: "now"),
        (
            lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW // S - 300)),
            lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(NOW // S)),
        ),
    ],
    ids=["seconds", "ns", "relative", "rfc3339"],
)
def test_times_in_every_accepted_form(
    seeded: AppContext,
    sign_in: SignIn,
    start: Callable[[], str],
    end: Callable[[], str],
) -> None:
    client = sign_in("vera", "viewer")
    body = client.get(
        "/api/v1/logs/query", params={"query": '{app="api"}', "start": start(), "end": end()}
    ).json()
    assert len(body["lines"]) == 5  # minutes 0..4 (lines 1 s before each minute mark)


def test_metric_queries_instant_and_range(seeded: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    instant = client.get(
        "/api/v1/logs/query",
        params={"query": 'sum by (level) (count_over_time({app="api"}[1h]))', "end": str(NOW)},
    ).json()
    assert instant["resultType"] == "vector"
    values = {s["labels"]["level"]: s["value"][1] for s in instant["result"]}
    assert values == {"error": 5.0, "info": 45.0}

    ranged = client.get(
        "/api/v1/logs/query_range",
        params={
            "query": 'count_over_time({app="db"}[10m])',
            "start": str(NOW - 1800 * S),
            "end": str(NOW),
            "step": "10m",
        },
    ).json()
    assert ranged["resultType"] == "matrix"
    (series,) = ranged["result"]
    assert series["labels"] == {"app": "db", "level": "info"}
    # lines 2 s .. 1082 s ago: none in the windows ending 30 and 20 minutes ago
    assert series["points"] == [[(NOW - 600 * S) / S, 5.0], [NOW / S, 5.0]]


def test_histogram_counts_matching_lines_per_bucket(seeded: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    body = client.get(
        "/api/v1/logs/histogram",
        params={
            "query": '{app="api"} | status >= 500',
            "start": str(NOW - 3600 * S),
            "end": str(NOW),
            "buckets": 6,
        },
    ).json()
    assert body["width"] == 600
    assert len(body["buckets"]) == 6
    assert body["total"] == 5
    assert [c for _, c in body["buckets"]] == [0, 1, 1, 1, 1, 1]


def test_context_shows_lines_around_one_line(seeded: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    target = seeded.logs.search('{app="api"} |= "/orders/25 "', NOW - 3600 * S, NOW)[0]
    body = client.get(
        "/api/v1/logs/context",
        params={
            "stream": '{app="api", level="info"}',
            "ts": str(target.ts),
            "before": 2,
            "after": 3,
        },
    ).json()
    messages = [x["message"].split()[1] for x in body["lines"]]
    assert messages == [
        "/orders/27",
        "/orders/26",
        "/orders/25",
        "/orders/24",
        "/orders/23",
        "/orders/22",
    ]
    assert [x["match"] for x in body["lines"]] == [False, False, True, False, False, False]


def test_streams_report_usage_and_retention(seeded: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    body = client.get("/api/v1/logs/streams").json()
    by_labels = {json.dumps(s["labels"], sort_keys=True): s for s in body["streams"]}
    info = by_labels['{"app": "api", "level": "info"}']
    assert info["lines"] == 45 and info["raw_bytes"] > 0
    assert info["oldest"] < info["newest"]
    assert info["retention"] == body["default_retention"] == "30d"
    assert len(body["streams"]) == 3
    assert body["disk_bytes"] > 0


@pytest.mark.parametrize(
    ("path", "params", "field", "position"),
    [
        ("/api/v1/logs/query", {"query": '{app="api"'}, "query", 10),
        ("/api/v1/logs/query", {"query": '{app="api"} |= '}, "query", 15),
        ("/api/v1/logs/query", {}, "query", None),
        ("/api/v1/logs/query", {"query": "{}", "start": "yesterday"}, "start", None),
        ("/api/v1/logs/query", {"query": "{}", "limit": "lots"}, "limit", None),
        ("/api/v1/logs/query", {"query": "{}", "start": "now", "end": "now-1h"}, "end", None),
        ("/api/v1/logs/query", {"query": "{}", "end": "9500000000000000000"}, "end", None),
        ("/api/v1/logs/histogram", {"query": "{}", "end": "9999-12-31T00:00:00Z"}, "end", None),
        ("/api/v1/logs/context", {"stream": '{app="x"}', "ts": "9999-01-01T00:00Z"}, "ts", None),
        ("/api/v1/logs/query_range", {"query": '{app="api"}'}, "query", 0),
        ("/api/v1/logs/query_range", {"query": 'rate({a="b"}[5m])', "step": "-1"}, "step", None),
        ("/api/v1/logs/histogram", {"query": 'rate({a="b"}[5m])'}, "query", 0),
        ("/api/v1/logs/context", {"stream": "{app=}", "ts": "1"}, "stream", 5),
        ("/api/v1/logs/context", {"stream": '{app="x"}'}, "ts", None),
        ("/api/v1/logs/tail", {"query": "{app"}, "query", 4),
    ],
)
def test_bad_input_is_a_400_problem_naming_field_and_position(
    ctx: AppContext,
    sign_in: SignIn,
    path: str,
    params: dict[str, str],
    field: str,
    position: int | None,
) -> None:
    client = sign_in("vera", "viewer")
    resp = client.get(path, params=params)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["errors"][0]["field"] == field
    assert body["detail"].startswith(f"{field}: ")
    assert body.get("position") == position
    assert "Traceback" not in resp.text


def test_saved_searches_are_per_user_unless_shared(ctx: AppContext, sign_in: SignIn) -> None:
    vera = sign_in("vera", "viewer")
    olga = sign_in("olga", "operator")
    mine = vera.post(
        "/api/v1/logs/searches",
        json={"name": "api errors", "query": '{app="api"} |= "error"', "time_range": "1h"},
    )
    assert mine.status_code == 201, mine.text
    shared = vera.post(
        "/api/v1/logs/searches", json={"name": "all db", "query": '{app="db"}', "shared": True}
    ).json()
    assert [s["name"] for s in vera.get("/api/v1/logs/searches").json()["searches"]] == [
        "all db",
        "api errors",
    ]
    seen = olga.get("/api/v1/logs/searches").json()["searches"]
    assert [(s["name"], s["owner"], s["mine"]) for s in seen] == [("all db", "vera", False)]
    assert olga.delete(f"/api/v1/logs/searches/{shared['id']}").status_code == 404
    assert vera.delete(f"/api/v1/logs/searches/{mine.json()['id']}").status_code == 204
    assert [s["name"] for s in vera.get("/api/v1/logs/searches").json()["searches"]] == ["all db"]

    empty = vera.post("/api/v1/logs/searches", json={"name": " ", "query": "{}"})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "name"


def test_history_keeps_the_last_50_distinct_queries(ctx: AppContext, sign_in: SignIn) -> None:
    vera = sign_in("vera", "viewer")
    other = sign_in("olga", "viewer")
    for i in range(53):
        vera.get("/api/v1/logs/query", params={"query": f'{{app="a{i}"}}', "record": "1"})
    vera.get("/api/v1/logs/query", params={"query": '{app="a10"}', "record": "1"})
    vera.get("/api/v1/logs/query", params={"query": '{app="not recorded"}'})
    vera.get("/api/v1/logs/query", params={"query": "{bad", "record": "1"})
    queries = [q["query"] for q in vera.get("/api/v1/logs/history").json()["queries"]]
    assert len(queries) == 50
    assert queries[:2] == ['{app="a10"}', '{app="a52"}']
    assert '{app="a2"}' not in queries and "{bad" not in queries
    assert other.get("/api/v1/logs/history").json()["queries"] == []


ROUTES = [
    ("GET", "/api/v1/logs/query?query={}"),
    ("GET", '/api/v1/logs/query_range?query=rate({a="b"}[1m])'),
    ("GET", "/api/v1/logs/histogram?query={}"),
    ("GET", "/api/v1/logs/context?stream={}&ts=1"),
    ("GET", "/api/v1/logs/tail?query={}"),
    ("GET", "/api/v1/logs/streams"),
    ("GET", "/api/v1/logs/searches"),
    ("POST", "/api/v1/logs/searches"),
    ("DELETE", "/api/v1/logs/searches/1"),
    ("GET", "/api/v1/logs/history"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_callers_get_401(server: LiveServer, method: str, path: str) -> None:
    resp = httpx.request(method, server.url + path, timeout=10)
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_every_log_route_needs_only_the_viewer_role(ctx: AppContext) -> None:
    app = create_app(ctx)
    roles = {
        p: g.get("required_role") for _, p, g in routes_of(app) if p.startswith("/api/v1/logs/")
    }
    expected = {
        "/api/v1/logs/query",
        "/api/v1/logs/query_range",
        "/api/v1/logs/histogram",
        "/api/v1/logs/context",
        "/api/v1/logs/tail",
        "/api/v1/logs/streams",
        "/api/v1/logs/searches",
        "/api/v1/logs/searches/{search_id}",
        "/api/v1/logs/history",
    }
    assert expected <= set(roles)
    assert {roles[p] for p in expected} == {"viewer"}


# -- live tail -----------------------------------------------------------------------------------


def _events(resp: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
    name = ""
    for raw in resp.iter_lines():
        if raw.startswith("event: "):
            name = raw[7:]
        elif raw.startswith("data: "):
            yield name, json.loads(raw[6:])


def test_tail_streams_matching_lines_as_they_are_stored(ctx: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    with client.stream(
        "GET", "/api/v1/logs/tail", params={"query": '{app="api"} |= "boom"'}, timeout=20
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = _events(resp)
        assert next(events)[0] == "ready"
        ingest(
            ctx,
            [
                line(0, "boom one", app="api"),
                line(0, "quiet", app="api"),
                line(0, "boom elsewhere", app="db"),
                line(0, "boom two", app="api"),
            ],
        )
        name, data = next(events)
        assert name == "lines"
        got = [x["message"] for x in data["lines"]]  # type: ignore[attr-defined]
        while len(got) < 2:
            got += [x["message"] for x in next(events)[1]["lines"]]  # type: ignore[attr-defined]
        assert got == ["boom one", "boom two"]
    deadline = time.monotonic() + 10
    while ctx.logs._listeners and time.monotonic() < deadline:  # unsubscribed on disconnect
        ingest(ctx, [line(0, "boom after", app="api")])
        time.sleep(0.05)
    assert ctx.logs._listeners == []


def test_a_slow_tail_client_gets_a_dropped_count_and_never_blocks_the_writer(
    ctx: AppContext, sign_in: SignIn
) -> None:
    from watchkeeper.api import logs_tail

    client = sign_in("vera", "viewer")
    with client.stream("GET", "/api/v1/logs/tail", params={"query": "{}"}, timeout=20) as resp:
        events = _events(resp)
        assert next(events)[0] == "ready"
        total = logs_tail.CLIENT_BUFFER * 3
        # The client reads nothing while three buffers' worth of lines are stored.
        ingest(ctx, [line(0, f"line {i}", app="flood") for i in range(total)])
        stored = ctx.logs.search('{app="flood"}', NOW - S, NOW + 60 * S, limit=total + 1)
        assert len(stored) == total
        seen, dropped = 0, 0
        while seen + dropped < total:
            name, data = next(events)
            if name == "dropped":
                dropped += data["count"]  # type: ignore[operator]
            elif name == "lines":
                seen += len(data["lines"])  # type: ignore[arg-type]
        assert dropped > 0 and seen + dropped == total
