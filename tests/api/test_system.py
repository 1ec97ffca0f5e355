"""Liveness, readiness and /metrics."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.helpers import LiveServer
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine


def test_healthz_and_readyz(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["store"] == "ok"


def _app_on(url: str, tmp_path: object) -> FastAPI:
    settings = load_settings(env={}, home=str(tmp_path), database_url=url)
    return create_app(AppContext.create(settings, env={}))


def test_readyz_is_503_when_the_store_is_gone(tmp_path: object) -> None:
    with LiveServer(_app_on("postgresql://nobody@127.0.0.1:1/none", tmp_path)) as live:
        resp = httpx.get(f"{live.url}/readyz", timeout=15)
        assert httpx.get(f"{live.url}/healthz").status_code == 200
    assert resp.status_code == 503
    assert resp.json()["store"] == "unreachable"
    assert "password" not in resp.text


def test_readyz_is_503_before_migrations(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    make_engine(url).dispose()
    with LiveServer(_app_on(url, tmp_path)) as live:
        resp = httpx.get(f"{live.url}/readyz")
    assert resp.status_code == 503
    assert "db upgrade" in resp.json()["detail"]


def test_metrics_are_prometheus_text(server: LiveServer) -> None:
    httpx.get(f"{server.url}/healthz")
    resp = httpx.get(f"{server.url}/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    body = resp.text
    assert 'watchkeeper_http_requests_total{method="GET",route="/healthz",status="200"}' in body
    for name in (
        "watchkeeper_http_request_duration_seconds_bucket",
        "watchkeeper_store_errors_total",
        "watchkeeper_scheduler_lag_seconds",
        "watchkeeper_build_info",
    ):
        assert name in body


def test_unmatched_urls_share_one_metrics_series(server: LiveServer) -> None:
    for i in range(3):
        httpx.get(f"{server.url}/api/v1/no/such/{i}")
    body = httpx.get(f"{server.url}/metrics").text
    assert "/api/v1/no/such/" not in body


def test_openapi_is_served(server: LiveServer) -> None:
    spec = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "Watchkeeper"
    assert "/api/v1/objects/{kind}" in spec["paths"]


def test_security_headers(server: LiveServer) -> None:
    resp = httpx.get(f"{server.url}/login")
    assert resp.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in resp.headers["content-security-policy"]


def test_openapi_declares_how_to_authenticate(server: LiveServer) -> None:
    spec = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["session"]["in"] == "cookie"
    assert {"bearer": []} in spec["security"]
