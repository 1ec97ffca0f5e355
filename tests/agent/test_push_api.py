"""`POST /api/v1/agent/push` on a real server, fed by the real agent and by hand."""

from __future__ import annotations

import asyncio
import logging
import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.conftest import agent_config, agent_token
from tests.helpers import LiveServer
from watchkeeper.agent.run import Agent
from watchkeeper.metrics.labels import Labels, Matcher, is_stale
from watchkeeper.metrics.source import SeriesData
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Host

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def push(server: LiveServer, token: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/agent/push",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def series(ctx: AppContext, name: str, host: str = "test-host") -> dict[Labels, SeriesData]:
    """Stored samples of ``name`` for ``host``, keyed by the series' other labels."""
    found = ctx.metrics.select(
        [Matcher("__name__", "=", name), Matcher("instance", "=", host)], 0, 2**62
    )
    return {
        tuple((k, v) for k, v in s.labels if k not in ("__name__", "instance")): s for s in found
    }


def test_agent_push_stores_samples_and_records_the_host(
    ctx: AppContext, server: LiveServer, tmp_path: Path
) -> None:
    agent = Agent(agent_config(server.url, agent_token(ctx), tmp_path / "spool"))

    async def twice() -> bool:
        try:
            await agent.collect_once()
            await agent.collect_once()
            return await agent.flush()
        finally:
            await agent.close()

    assert asyncio.run(twice())
    assert len(agent.spool) == 0

    with ctx.sessions() as db:
        host = db.get(Host, "test-host")
        assert host is not None
        assert host.inventory["cpu"]["logical"] >= 1
        assert host.inventory["os"]["name"]
        assert host.agent_version
        assert host.last_seen >= host.first_seen
    cpu = series(ctx, "node_cpu_seconds_total")
    assert (("cpu", "0"), ("job", "agent"), ("mode", "idle")) in cpu
    clock = next(iter(series(ctx, "node_time_seconds").values()))
    assert len(clock.ts) == 2
    assert clock.values[1] > clock.values[0]
    counted = next(iter(series(ctx, "watchkeeper_agent_collections_total").values()))
    assert counted.values.tolist() == [1.0, 2.0]
    sizes = series(ctx, "node_filesystem_size_bytes")
    assert sizes and all(s.values[-1] > 0 for s in sizes.values())


def test_a_batch_sent_again_is_counted_as_duplicates(ctx: AppContext, server: LiveServer) -> None:
    token = agent_token(ctx)
    body: dict[str, Any] = {
        "host": "web-1",
        "agent_version": "9.9.9",
        "labels": {"instance": "web-1", "job": "agent"},
        "inventory": {"os": {"name": "Plan 9"}},
        "series": [
            {"name": "node_load1", "samples": [[NOW_MS, 0.5], [NOW_MS + 10_000, 0.75]]},
            {"name": "odd", "labels": {"kind": "x"}, "samples": [[NOW_MS, "+Inf"]]},
            {"name": "gone", "samples": [[NOW_MS, "stale"]]},
        ],
    }
    first = push(server, token, body)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 4, "duplicates": 0, "series_created": 3, "rejected": []}
    body["inventory"] = None
    again = push(server, token, body)
    assert again.json() == {"accepted": 0, "duplicates": 4, "series_created": 0, "rejected": []}

    load = next(iter(series(ctx, "node_load1", "web-1").values()))
    assert load.ts.tolist() == [NOW_MS, NOW_MS + 10_000]
    assert math.isinf(next(iter(series(ctx, "odd", "web-1").values())).values[0])
    assert is_stale(next(iter(series(ctx, "gone", "web-1").values())).values[0])
    with ctx.sessions() as db:
        host = db.get(Host, "web-1")
        assert host is not None
        assert host.inventory == {"os": {"name": "Plan 9"}}  # kept when a push has none
        assert host.agent_version == "9.9.9"


def test_series_with_bad_names_are_refused_and_the_rest_stored(
    ctx: AppContext, server: LiveServer
) -> None:
    body = {
        "host": "web-2",
        "agent_version": "1",
        "labels": {"instance": "web-2"},
        "series": [
            {"name": "good_metric", "samples": [[NOW_MS, 1]]},
            {"name": "bad-metric", "samples": [[NOW_MS, 1]]},
            {"name": "good_too", "labels": {"__secret": "x"}, "samples": [[NOW_MS, 1]]},
            {"name": "good_three", "labels": {"a b": "x"}, "samples": [[NOW_MS, 1]]},
        ],
    }
    resp = push(server, agent_token(ctx), body)
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["accepted"] == 1
    assert [r["field"] for r in result["rejected"]] == [
        "series[1].name",
        "series[2].labels.__secret",
        "series[3].labels.a b",
    ]
    assert '"bad-metric" is not a metric name' in result["rejected"][0]["message"]
    assert series(ctx, "good_metric", "web-2")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"host": "no spaces allowed"}, "host", "is not a host name"),
        (
            {"series": [{"name": "x", "samples": [[NOW_MS, "lots"]]}]},
            "series[0].samples[0][1]",
            '"lots" is not a sample value',
        ),
        (
            {"series": [{"name": "x", "samples": [[-5, 1]]}]},
            "series[0].samples[0][0]",
            "greater than or equal to 0",
        ),
        ({"series": [{"name": "x", "samples": []}]}, "series[0].samples", "at least 1 item"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
    ],
)
def test_malformed_pushes_get_a_problem_naming_the_field(
    ctx: AppContext, server: LiveServer, change: dict[str, Any], field: str, message: str
) -> None:
    body = {"host": "web-3", "agent_version": "1", "series": []} | change
    resp = push(server, agent_token(ctx), body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    errors = resp.json()["errors"]
    assert any(e["field"].endswith(field) and message in e["message"] for e in errors), errors


def test_a_push_needs_an_operator_token(ctx: AppContext, server: LiveServer) -> None:
    body = {"host": "web-4", "agent_version": "1", "series": []}
    assert push(server, agent_token(ctx, "viewer"), body).status_code == 403
    assert httpx.post(f"{server.url}/api/v1/agent/push", json=body).status_code == 401


def test_a_bad_token_is_logged_loudly_without_the_token(
    ctx: AppContext, server: LiveServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = agent_token(ctx)[:-4] + "AAAA"
    agent = Agent(agent_config(server.url, wrong, tmp_path / "spool"))

    async def once() -> bool:
        try:
            await agent.collect_once()
            return await agent.flush()
        finally:
            await agent.close()

    with caplog.at_level(logging.ERROR, logger="watchkeeper.agent"):
        assert not asyncio.run(once())  # not sent
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert server.url in message and "401" in message and "not valid" in message
    assert wrong not in message and wrong[-20:] not in message
    # Kept: a token that expired or was revoked is fixed by a person, and no batch made
    # meanwhile may be lost.
    assert agent.refused == 0
    assert len(agent.spool) == 1


def test_the_body_is_read_only_after_the_caller_is_allowed(server: LiveServer) -> None:
    """Without credentials, even a malformed body is answered 401: it was never parsed."""
    reply = httpx.post(
        f"{server.url}/api/v1/agent/push",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 401
