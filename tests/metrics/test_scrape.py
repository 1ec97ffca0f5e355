"""Scraping real exporters on loopback (aiohttp servers started by the tests) into the store."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from pydantic import ValidationError

from tests.conftest import remember_secret
from tests.helpers import AiohttpServer, UpProcess
from tests.metrics.ingest_support import stored
from watchkeeper.metrics.config import MetricsSection, ScrapeJob
from watchkeeper.metrics.labels import is_stale, make_labels
from watchkeeper.metrics.scrape import Scraper, phase
from watchkeeper.metrics.scrape_target import (
    ACCEPT,
    JobClient,
    Target,
    attach_target_labels,
)
from watchkeeper.plan.models import Plan
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import StoredObject

NODE = """# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.5
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 100
node_cpu_seconds_total{cpu="0",mode="user"} 20
"""


class Exporter(AiohttpServer):
    """An aiohttp server on a free loopback port answering /metrics with what the test sets."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.body = NODE
        self.content_type = "text/plain; version=0.0.4"
        self.status = 200
        self.delay = 0.0
        self.token = ""  # a bearer token to demand
        self.requests: list[web.Request] = []
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        # A short shutdown: a handler still sleeping (the "slow" target) is cancelled.
        super().__init__(app, ssl_context=ssl_context, shutdown_timeout=0.5)

    async def _metrics(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401, text="no")
        return web.Response(
            status=self.status, body=self.body.encode(), headers={"Content-Type": self.content_type}
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def job(address: str, **options: Any) -> ScrapeJob:
    return ScrapeJob.model_validate({"job": "node", "targets": [address], **options})


def run(ctx: AppContext, scenario: Callable[[Exporter], Awaitable[None]], **exporter: Any) -> None:
    async def main() -> None:
        async with Exporter(**exporter) as target:
            await scenario(target)

    asyncio.run(main())


def series(ctx: AppContext, name: str, **labels: str) -> list[tuple[int, float]]:
    """The samples of the one stored series called ``name`` with ``labels``."""
    found = stored(ctx, __name__=name, **labels)
    assert len(found) == 1, found
    return next(iter(found.values()))


def test_scrape_labels_samples_and_writes_report_series(ctx: AppContext) -> None:
    async def scenario(exporter: Exporter) -> None:
        spec = job(exporter.address, labels={"env": "prod"})
        client = JobClient(spec)
        target = Target(spec, exporter.address, client, ctx.metrics)
        result = await target.scrape()
        await client.aclose()
        assert result.ok and result.scraped == 3 and result.series_added == 3
        assert exporter.requests[0].headers["Accept"] == ACCEPT
        assert exporter.requests[0].headers["X-Prometheus-Scrape-Timeout-Seconds"] == "10"

    run(ctx, scenario)
    ((ts, value),) = series(ctx, "node_cpu_seconds_total", mode="user")
    (labels,) = stored(ctx, __name__="node_cpu_seconds_total", mode="user")
    assert dict(labels) == {
        "__name__": "node_cpu_seconds_total",
        "cpu": "0",
        "mode": "user",
        "job": "node",
        "instance": dict(labels)["instance"],
        "env": "prod",
    }
    assert value == 20
    assert abs(ts - time.time() * 1000) < 3_600_000  # stamped with the scrape's time
    assert series(ctx, "up") == [(ts, 1.0)]
    assert series(ctx, "scrape_samples_scraped") == [(ts, 3.0)]
    assert series(ctx, "scrape_series_added") == [(ts, 3.0)]
    ((_, duration),) = series(ctx, "scrape_duration_seconds")
    assert duration > 0


def test_vanished_series_get_a_staleness_marker(ctx: AppContext) -> None:
    async def scenario(exporter: Exporter) -> None:
        spec = job(exporter.address)
        client = JobClient(spec)
        target = Target(spec, exporter.address, client, ctx.metrics)
        await target.scrape()
        exporter.body = "node_load1 0.7\n"
        await asyncio.sleep(0.002)  # the next scrape gets a later millisecond
        second = await target.scrape()
        await client.aclose()
        assert second.series_added == 0

    run(ctx, scenario)
    first, second = series(ctx, "node_cpu_seconds_total", mode="idle")
    assert first[1] == 100 and is_stale(second[1])
    assert [v for _, v in series(ctx, "node_load1")] == [0.5, 0.7]
    assert [v for _, v in series(ctx, "up")] == [1.0, 1.0]
    assert second[0] == series(ctx, "up")[1][0]  # the marker has the scrape's timestamp


@pytest.mark.parametrize(
    ("break_it", "reason"),
    [("status", "HTTP 500 (expected 200)"), ("down", "connection refused"), ("slow", "timed out")],
)
def test_failed_scrape_writes_up_zero_and_marks_every_series_stale(
    ctx: AppContext, break_it: str, reason: str
) -> None:
    async def scenario(exporter: Exporter) -> None:
        spec = job(exporter.address, timeout="300ms", interval="1s")
        client = JobClient(spec)
        target = Target(spec, exporter.address, client, ctx.metrics)
        assert (await target.scrape()).ok
        await asyncio.sleep(0.002)
        if break_it == "status":
            exporter.status = 500
        elif break_it == "slow":
            exporter.delay = 5
        else:
            await exporter.stop()
        failed = await target.scrape()
        await client.aclose()
        assert not failed.ok
        assert reason in failed.error

    run(ctx, scenario)
    assert [v for _, v in series(ctx, "up")] == [1.0, 0.0]
    for mode in ("idle", "user"):
        assert is_stale(series(ctx, "node_cpu_seconds_total", mode=mode)[-1][1])
    assert is_stale(series(ctx, "node_load1")[-1][1])
    assert series(ctx, "scrape_samples_scraped")[-1][1] == 0


def test_bad_lines_are_skipped_and_the_good_ones_kept(ctx: AppContext) -> None:
    async def scenario(exporter: Exporter) -> None:
        exporter.body = "good 1\nbad{ 2\nalso_good 3\n"
        spec = job(exporter.address)
        client = JobClient(spec)
        result = await Target(spec, exporter.address, client, ctx.metrics).scrape()
        await client.aclose()
        assert result.ok and result.scraped == 2
        assert [str(e) for e in result.parse_errors] == ['2:6: expected a label name or "}"']

    run(ctx, scenario)
    assert series(ctx, "up")[0][1] == 1.0
    assert series(ctx, "good")[0][1] == 1.0
    assert series(ctx, "also_good")[0][1] == 3.0


def test_openmetrics_with_own_timestamps(ctx: AppContext) -> None:
    async def scenario(exporter: Exporter) -> None:
        exporter.content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
        exporter.body = (
            "# TYPE jobs counter\njobs_total 5 1700000000.5\njobs_created 1690000000\n# EOF\n"
        )
        spec = job(exporter.address)
        client = JobClient(spec)
        target = Target(spec, exporter.address, client, ctx.metrics)
        await target.scrape()
        exporter.body = "# EOF\n"
        await target.scrape()
        await client.aclose()

    run(ctx, scenario)
    # The exposed timestamp is kept, and such series are not marked stale when they vanish.
    assert series(ctx, "jobs_total") == [(1_700_000_000_500, 5.0)]
    first, second = series(ctx, "jobs_created")
    assert first[1] == 1690000000 and is_stale(second[1])


def test_target_labels_win_unless_honor_labels() -> None:
    scraped = make_labels({"__name__": "m", "job": "pushed", "exported_job": "older", "x": "1"})
    target = {"job": "node", "instance": "h:1", "x": ""}
    assert dict(attach_target_labels(scraped, target, honor=False)) == {
        "__name__": "m",
        "job": "node",
        "instance": "h:1",
        "exported_job": "older",
        "exported_exported_job": "pushed",
        "x": "1",
    }
    assert dict(attach_target_labels(scraped, target, honor=True)) == {
        "__name__": "m",
        "job": "pushed",
        "instance": "h:1",
        "exported_job": "older",
        "x": "1",
    }


def test_bearer_token_from_a_file(ctx: AppContext, tmp_path: Path) -> None:
    token = remember_secret("scrape-secret-token-1234")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")

    async def scenario(exporter: Exporter) -> None:
        exporter.token = token
        good = job(exporter.address, bearer_token_file=str(token_file))
        wrong = job(exporter.address, bearer_token="not-the-token")
        for spec, ok in ((good, True), (wrong, False)):
            client = JobClient(spec)
            result = await Target(spec, exporter.address, client, ctx.metrics).scrape()
            await client.aclose()
            assert result.ok is ok, result.error
            await asyncio.sleep(0.002)

    run(ctx, scenario)
    assert [v for _, v in series(ctx, "up")] == [1.0, 0.0]


def test_https_target_with_a_private_ca(ctx: AppContext, tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def scenario(exporter: Exporter) -> None:
        trusted = job(exporter.address, scheme="https", tls_config={"ca_file": str(ca_file)})
        untrusted = job(exporter.address, scheme="https")
        for spec, ok in ((trusted, True), (untrusted, False)):
            client = JobClient(spec)
            result = await Target(spec, exporter.address, client, ctx.metrics).scrape()
            await client.aclose()
            assert result.ok is ok, result.error
            await asyncio.sleep(0.002)
        assert "certificate" in result.error.lower()

    run(ctx, scenario, ssl_context=server_context)
    assert [v for _, v in series(ctx, "up")] == [1.0, 0.0]


# -- the service ------------------------------------------------------------------------------


def set_metrics_settings(ctx: AppContext, section: dict[str, Any]) -> None:
    """Store the plan's metrics section as applying a plan does (a settings object)."""
    spec = MetricsSection.model_validate(section).model_dump(mode="json")
    with ctx.sessions() as db:
        row = db.query(StoredObject).filter_by(kind="settings", name="metrics").one_or_none()
        if row is None:
            db.add(StoredObject(kind="settings", name="metrics", spec=spec, managed=True))
        else:
            row.spec = spec
        db.commit()


async def wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def up_values(ctx: AppContext, instance: str) -> list[float]:
    return [
        v for samples in stored(ctx, __name__="up", instance=instance).values() for _, v in samples
    ]


def test_scraper_follows_the_stored_configuration(ctx: AppContext) -> None:
    async def scenario(first: Exporter) -> None:
        async with Exporter() as second:
            scrape = [{"job": "node", "interval": "1s", "targets": [first.address, second.address]}]
            set_metrics_settings(ctx, {"scrape": scrape})
            scraper = Scraper(ctx.sessions, ctx.metrics, reload_interval=0.2)
            service = asyncio.create_task(scraper.run())
            try:
                # Both targets are scraped repeatedly, each on its own cadence.
                await wait_for(lambda: len(up_values(ctx, second.address)) >= 2)
                await wait_for(lambda: len(up_values(ctx, first.address)) >= 2)
                # One target is removed from the plan: all its series get staleness markers.
                scrape[0]["targets"] = [first.address]
                await asyncio.to_thread(set_metrics_settings, ctx, {"scrape": scrape})
                await wait_for(lambda: is_stale(up_values(ctx, second.address)[-1]))
                gone = await asyncio.to_thread(series, ctx, "node_load1", instance=second.address)
                assert is_stale(gone[-1][1])
                # A target going down: up 0.
                await first.stop()
                await wait_for(lambda: up_values(ctx, first.address)[-1] == 0.0)
            finally:
                await scraper.stop()
                await service

    run(ctx, scenario)


def test_phase_is_stable_and_within_the_interval() -> None:
    offsets = {phase("node", f"10.0.0.{i}:9100", 15.0) for i in range(50)}
    assert all(0 <= o < 15 for o in offsets)
    assert len(offsets) > 40  # spread out, not all at once
    assert phase("node", "10.0.0.1:9100", 15.0) == phase("node", "10.0.0.1:9100", 15.0)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"targets": ["http://h:9100/metrics"]}, "is not host:port"),
        ({"targets": []}, "at least 1 item"),
        ({"targets": ["h:1", "h:1"]}, "a target is listed twice"),
        ({"interval": "5s", "timeout": "6s"}, "timeout must not be longer than the interval"),
        ({"interval": "500ms"}, "must be at least 1s"),
        ({"metrics_path": "metrics"}, 'must start with "/"'),
        ({"labels": {"job": "x"}}, '"job" is set by the scraper'),
        ({"labels": {"__meta": "x"}}, "is not a label name"),
        ({"bearer_token": "t", "basic_auth": {"username": "u"}}, "not several"),
        ({"tls_config": {"cert_file": "c.pem"}}, "cert_file and key_file go together"),
    ],
)
def test_scrape_configuration_errors(entry: dict[str, Any], message: str) -> None:
    scrape = {"job": "node", "targets": ["127.0.0.1:9100"], **entry}
    with pytest.raises(ValidationError, match=message):
        Plan.model_validate({"metrics": {"scrape": [scrape]}})


def test_job_names_are_unique_and_defaults_are_prometheus_ones() -> None:
    with pytest.raises(ValidationError, match='the job name "a" is used twice'):
        MetricsSection.model_validate(
            {"scrape": [{"job": "a", "targets": ["h:1"]}, {"job": "a", "targets": ["h:2"]}]}
        )
    section = MetricsSection.model_validate({"scrape": [{"job": "a", "targets": ["[::1]:9100"]}]})
    (entry,) = section.scrape
    assert (entry.interval.total_seconds(), entry.timeout.total_seconds()) == (60, 10)
    assert (entry.metrics_path, entry.scheme, entry.honor_labels) == ("/metrics", "http", False)
    assert section.retention.raw.days == 15
    short = ScrapeJob.model_validate({"job": "a", "targets": ["h:1"], "interval": "2s"})
    assert short.timeout.total_seconds() == 2  # the default timeout stops at the interval


def test_watchkeeper_up_scrapes_the_targets_of_its_plan(tmp_path: Path) -> None:
    """The scraper runs inside `watchkeeper up` and follows the plan: here, once a SIGHUP
    applied the new plan, it scrapes the server's own /metrics."""
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text("name: self-scrape\n")
    with UpProcess(tmp_path, plan) as up:
        up.wait_for(r"running at")
        plan.write_text(
            "metrics:\n  scrape:\n"
            f"    - {{job: watchkeeper, targets: ['127.0.0.1:{up.port}'], interval: 1s}}\n"
        )
        up.proc.send_signal(signal.SIGHUP)
        db = tmp_path / "home" / "watchkeeper.db"

        def self_scraped() -> bool:
            with sqlite3.connect(db) as conn:
                rows = conn.execute(
                    "SELECT COUNT(*) FROM metric_samples JOIN metric_series s ON s.id = series_id"
                    " WHERE s.metric = 'watchkeeper_build_info'"
                ).fetchone()
            return bool(rows[0])

        deadline = time.monotonic() + 30
        while not self_scraped():
            assert time.monotonic() < deadline, up.output
            time.sleep(0.2)
        assert up.stop() == 0
    assert "scraping http://127.0.0.1:" in up.output
    assert "Traceback" not in up.output
