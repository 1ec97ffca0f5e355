"""The releases pages in a real browser: deploy markers drawn on a service's gate charts, on
a PromQL chart whose series carry a `service` label, on a host's charts and on the
response-time chart of a check of the service, with their tooltip; the pages in light and
dark themes. Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip
from tests.releases.support import PLAN, apply
from watchkeeper.auth.audit import Actor
from watchkeeper.metrics.labels import make_labels
from watchkeeper.releases import deploys
from watchkeeper.releases.section import load_section
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import CheckResult, Deploy, Host, utcnow

pytestmark = pytest.mark.browser

CHECK = """
checks:
  - name: api-health
    type: http
    url: http://127.0.0.1:9/health
    interval: 1h
    service: api
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    """A server on SQLite with the releases plan and a check of service api, two days of api
    metrics and check results, host web-1 and three deploys (one regressed) within them."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "admin", "admin")
    apply(ctx.sessions, PLAN + CHECK)
    now = utcnow().replace(second=0, microsecond=0)
    start = now - timedelta(days=2)
    times = [start + timedelta(minutes=m) for m in range(0, 2 * 24 * 60 + 1)]
    ms = [int(t.timestamp() * 1000) for t in times]
    errors, total = [], 0.0
    for t, stamp in zip(times, ms, strict=True):
        errors.append((stamp, total))
        total += (0.4 if t > now - timedelta(hours=6) else 0.1) * 60
    ctx.metrics.write(
        [
            (make_labels({"__name__": "http_errors_total", "service": "api"}), errors),
            (
                make_labels({"__name__": "http_latency_p95_seconds", "service": "api"}),
                [(s, 0.2 + 0.05 * ((s // 3_600_000) % 3)) for s in ms],
            ),
            (
                make_labels(
                    {"__name__": "node_memory_MemTotal_bytes", "instance": "web-1", "job": "agent"}
                ),
                [(s, 8e9) for s in ms[-120:]],
            ),
        ]
    )
    with ctx.sessions() as db:
        section = load_section(db)
        for version, hours, hosts in [
            ("1.4.0", 30, []),
            ("1.5.0", 6, []),
            ("1.5.1", 0.5, ["web-1"]),
        ]:
            deploys.record(
                db,
                section,
                deploys.DeployInput(
                    service="api",
                    version=version,
                    commit_sha="abcd1234",
                    author="alice",
                    changes=f"- release {version}",
                    hosts=hosts,
                    deployed_at=now - timedelta(hours=hours),
                ),
                Actor("ci"),
                now,
            )
        db.flush()
        regressed = db.query(Deploy).filter(Deploy.version == "1.5.0").one()
        regressed.gate = "regressed"
        regressed.gate_detail = {
            "reason": "regressed: error_rate",
            "metrics": [
                {
                    "name": "error_rate",
                    "before": 0.1,
                    "after": 0.4,
                    "change": 0.3,
                    "relative": 3.0,
                    "verdict": "regressed",
                    "reason": "rose by 300.0%, beyond the threshold 20%",
                }
            ],
        }
        unaccepted = db.query(Deploy).filter(Deploy.version == "1.4.0").one()
        unaccepted.gate = "unaccepted"
        unaccepted.gate_detail = {"reason": "no accepted UAT sign-off for api 1.4.0 in production"}
        db.add_all(
            CheckResult(name="api-health", at=now - timedelta(minutes=m), ok=True, response_ms=40.0)
            for m in range(0, 24 * 60, 10)
        )
        db.add(
            Host(
                name="web-1",
                first_seen=now - timedelta(days=3),
                last_seen=utcnow(),
                agent_version="0.2.0",
                inventory={"os": {"name": "Debian"}},
            )
        )
        db.commit()
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url
    finally:
        ctx.engine.dispose()


def test_markers_and_pages(live: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_or_skip()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.goto(f"{live}/login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.goto(f"{live}/releases")
        expect(page.get_by_role("heading", level=1)).to_have_text("Releases")
        expect(page.locator("table.releases-deploys tbody tr")).to_have_count(3)
        expect(page.locator(".pill.gate-unaccepted")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "releases.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "releases-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")

        # the service page: two gate charts, each with the three deploys marked
        page.goto(f"{live}/releases/services/api")
        charts = page.locator("[data-release-chart]")
        expect(charts).to_have_count(2)
        expect(charts.nth(0).locator(".uplot")).to_have_count(1)
        markers = charts.nth(0).locator(".deploy-marker")
        expect(markers).to_have_count(3)
        regressed = charts.nth(0).locator(".deploy-marker.gate-regressed")
        expect(regressed).to_have_count(1)
        expect(charts.nth(0).locator(".deploy-marker.gate-unaccepted")).to_have_attribute(
            "aria-label", re.compile(r"^Deploy: api 1\.4\.0 to production, .*no UAT sign-off$")
        )
        expect(regressed).to_have_attribute(
            "aria-label",
            re.compile(
                r"^Deploy: api 1\.5\.0 to production, [0-9-]+ [0-9:]+ UTC, by alice, "
                r"gate regressed$"
            ),
        )
        regressed.hover()
        tip = regressed.locator(".deploy-tip")
        expect(tip).to_be_visible()
        expect(tip).to_contain_text("api 1.5.0")
        expect(tip).to_contain_text("by alice")
        page.screenshot(path=str(ARTIFACTS / "release-service.png"), full_page=True)
        page.locator("details.gate-detail summary").first.click()
        expect(page.locator("details.gate-detail").first).to_contain_text("+300.0%")
        page.emulate_media(color_scheme="dark")
        page.reload()
        expect(page.locator("[data-release-chart] .deploy-marker")).to_have_count(6)
        page.locator(".deploy-marker.gate-regressed").first.hover()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "release-service-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")

        # a click on a marker opens the deploy on its service's page
        page.locator(".deploy-marker.gate-regressed").first.click()
        expect(page).to_have_url(f"{live}/releases/services/api#deploy-2")

        # a PromQL chart whose series carry service="api": markers from the label
        query = 'sum by (service) (rate(http_errors_total{service="api"}[5m]))'
        page.goto(f"{live}/query?q={quote(query)}&range=2d")
        expect(page.locator("#query-chart .uplot")).to_have_count(1)
        expect(page.locator("#query-chart .deploy-marker")).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / "release-query-markers.png"), full_page=True)

        # the host page: the deploy to web-1 (named by the deploy) on its charts
        page.goto(f"{live}/hosts/web-1")
        memory = page.locator("[data-host-chart]").nth(1)
        expect(memory.locator(".uplot")).to_have_count(1)
        expect(memory.locator(".deploy-marker")).to_have_count(1)
        expect(memory.locator(".deploy-marker")).to_have_attribute(
            "aria-label", re.compile(r"^Deploy: api 1\.5\.1 to production, .*gate pending$")
        )
        page.screenshot(path=str(ARTIFACTS / "release-host-markers.png"), full_page=True)

        # a check of service api: the deploys of the last 24 hours on its response-time chart
        page.goto(f"{live}/checks/api-health")
        expect(page.get_by_role("link", name="api", exact=True)).to_have_attribute(
            "href", "/releases/services/api"
        )
        chart = page.locator("[data-chart]")
        expect(chart.locator(".uplot")).to_have_count(1)
        expect(chart.locator(".deploy-marker")).to_have_count(2)
        expect(chart.locator(".deploy-marker.gate-regressed")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "release-check-markers.png"), full_page=True)

        page.goto(f"{live}/releases/calendar?month=2025-12")
        expect(page.locator(".month-grid .day.frozen")).to_have_count(15)
        page.screenshot(path=str(ARTIFACTS / "release-calendar.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "release-calendar-dark.png"), full_page=True)
        browser.close()
    assert problems == []
