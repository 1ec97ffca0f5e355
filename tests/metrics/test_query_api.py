"""Prometheus's query API over the store: the shapes Grafana reads, and its errors."""

from __future__ import annotations

import httpx

from tests.helpers import LiveServer
from tests.metrics.ingest_support import api_token
from watchkeeper.metrics.labels import make_labels
from watchkeeper.runtime.context import AppContext

T0 = 1_700_000_000  # seconds


def seed(ctx: AppContext) -> None:
    """Two counters growing by 1 per second, at 15 s, for 10 minutes; one gauge."""
    batch = []
    for job, rate in (("api", 1.0), ("web", 2.0)):
        labels = make_labels({"__name__": "http_requests_total", "job": job, "instance": "h1"})
        batch.append((labels, [((T0 + s) * 1000, rate * s) for s in range(0, 601, 15)]))
    gauge = make_labels({"__name__": "temperature", "room": "b"})
    batch.append((gauge, [((T0 + s) * 1000, 20.5) for s in range(0, 601, 15)]))
    ctx.metrics.write(batch)


def test_instant_query_in_prometheus_format(ctx: AppContext, admin: httpx.Client) -> None:
    seed(ctx)
    body = admin.get(
        "/api/v1/query",
        params={"query": "sum by (job) (rate(http_requests_total[5m]))", "time": T0 + 600},
    ).json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "vector"
    values = {s["metric"]["job"]: s["value"] for s in body["data"]["result"]}
    assert {job: v[0] for job, v in values.items()} == {"api": T0 + 600, "web": T0 + 600}
    # Values are strings, as Prometheus sends them (extrapolation leaves rounding noise).
    assert {job: round(float(v[1]), 9) for job, v in values.items()} == {"api": 1, "web": 2}
    scalar = admin.get("/api/v1/query", params={"query": "1 + 1", "time": T0}).json()
    assert scalar["data"] == {"resultType": "scalar", "result": [T0, "2"]}


def test_range_query_with_rfc3339_times_and_duration_step(
    ctx: AppContext, admin: httpx.Client
) -> None:
    seed(ctx)
    body = admin.get(
        "/api/v1/query_range",
        params={
            "query": "temperature",
            "start": "2023-11-14T22:13:20Z",  # T0
            "end": "2023-11-14T22:18:20Z",  # T0 + 300 s
            "step": "1m",
        },
    ).json()
    [series] = body["data"]["result"]
    assert body["data"]["resultType"] == "matrix"
    assert series["metric"] == {"__name__": "temperature", "room": "b"}
    assert series["values"] == [[T0 + 60 * i, "20.5"] for i in range(6)]


def test_grafana_style_post_with_a_bearer_token(ctx: AppContext, server: LiveServer) -> None:
    seed(ctx)
    token = api_token(ctx, role="viewer", account="grafana")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        reply = c.post(
            "/api/v1/query_range",
            data={"query": "http_requests_total", "start": T0, "end": T0 + 60, "step": 15},
        )
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["data"]["result"]) == 2
        names = c.get("/api/v1/label/__name__/values").json()["data"]
        assert names == ["http_requests_total", "temperature"]
        labels = c.post("/api/v1/labels", data={"match[]": "temperature"}).json()["data"]
        assert labels == ["__name__", "room"]
        found = c.get(
            "/api/v1/series", params={"match[]": 'http_requests_total{job="web"}'}
        ).json()["data"]
        assert found == [{"__name__": "http_requests_total", "instance": "h1", "job": "web"}]
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/api/v1/query", params={"query": "1"}).status_code == 401


def test_bad_queries_answer_400_with_the_position(ctx: AppContext, admin: httpx.Client) -> None:
    reply = admin.get("/api/v1/query", params={"query": "sum(rate(x[5m])"})
    assert reply.status_code == 400
    body = reply.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert isinstance(body["position"], int) and body["error"].startswith("1:")
    cases = [
        ({}, 'invalid parameter "query"'),
        ({"query": "up", "time": "yesterday"}, 'invalid parameter "time"'),
    ]
    for params, message in cases:
        reply = admin.get("/api/v1/query", params=params)
        assert reply.status_code == 400 and message in reply.json()["error"], params
    ranged = [
        ({"query": "up", "start": 10, "end": 0, "step": 1}, 'invalid parameter "end"'),
        ({"query": "up", "start": 0, "end": 10, "step": "0"}, "zero or negative"),
        ({"query": "up", "start": 0, "end": 10, "step": "soon"}, 'invalid parameter "step"'),
        ({"query": "up", "start": 0, "end": 86_400, "step": 1}, "11,000 points"),
    ]
    for params, message in ranged:
        reply = admin.get("/api/v1/query_range", params=params)
        assert reply.status_code == 400 and message in reply.json()["error"], params
    series = admin.get("/api/v1/series", params={"match[]": "rate(x[5m])"})
    assert series.status_code == 400 and "not a series selector" in series.json()["error"]


def test_out_of_range_and_pathological_queries_are_4xx_not_500(
    ctx: AppContext, admin: httpx.Client
) -> None:
    seed(ctx)
    cases = [
        ("/api/v1/query", {"query": "up", "time": "1e300"}, 400),
        ("/api/v1/query_range", {"query": "up", "start": 0, "end": 60, "step": "inf"}, 400),
        ("/api/v1/query_range", {"query": "up", "start": 0, "end": 60, "step": "9" * 400}, 400),
        ("/api/v1/query", {"query": "(" * 5000 + "up" + ")" * 5000}, 400),
        ("/api/v1/query", {"query": "-" * 5000 + "1"}, 400),
        ("/api/v1/query", {"query": "topk(1e300, temperature)", "time": T0 + 60}, 422),
        ("/api/v1/query", {"query": "max_over_time(temperature[100y:1ms])", "time": T0}, 422),
    ]
    for path, params, status in cases:
        reply = admin.get(path, params=params)
        assert reply.status_code == status, (params, reply.text[:200])
        assert reply.json()["status"] == "error"
