"""The capacity pages in a real browser: the report with a chart per row (history,
projection, band, limit), one forecast's large chart, light and dark themes. Screenshots
land in ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip
from tests.releases.capacity_support import DAY_MS, Shape, hours, push_host
from tests.releases.support import apply
from watchkeeper.metrics.labels import make_labels
from watchkeeper.releases.capacity.service import CapacityService
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import utcnow

pytestmark = pytest.mark.browser

PLAN = """
capacity:
  history: 14d
  targets:
    - name: queue-depth
      expr: sum(job_queue_depth)
      limit: 5000
      unit: jobs
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    """A server on SQLite with two weeks of three hosts (one disk filling, one growing
    slowly, one flat) and a queue with a daily pattern growing toward its limit."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "admin", "admin")
    apply(ctx.sessions, PLAN)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    ts = hours(-14, 0, now)
    noise = np.random.default_rng(1)

    def wobbly(base: float, slope: float) -> Shape:
        return lambda d: base + slope * d + noise.normal(0, 0.004, len(d))

    push_host(ctx.metrics, "db-1", ts, wobbly(0.62, 0.025), busy=0.55, memory_used=0.7, now=now)
    push_host(ctx.metrics, "web-1", ts, wobbly(0.40, 0.004), now=now)
    push_host(ctx.metrics, "web-2", ts, wobbly(0.25, 0.0), busy=0.1, now=now)
    days = (ts - now.timestamp() * 1000) / DAY_MS
    hour = (ts // 3_600_000) % 24
    depth = 3400 + 80 * days + 900 * np.cos(2 * np.pi * (hour - 15) / 24)  # limit in ~9 d
    depth += noise.normal(0, 40, len(ts))  # a band to see
    ctx.metrics.write(
        [
            (
                make_labels({"__name__": "job_queue_depth", "service": "api"}),
                list(zip(ts.tolist(), depth.tolist(), strict=True)),
            )
        ]
    )
    CapacityService(ctx.sessions, ctx.metrics, clock=lambda: now).run_once()
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url
    finally:
        ctx.close()


def test_report_and_item_pages(live: str) -> None:
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

        page.goto(f"{live}/capacity")
        expect(page.get_by_role("heading", level=1)).to_have_text("Capacity")
        expect(page.locator("nav.sidebar a.active")).to_have_text("Capacity")
        rows = page.locator("table.capacity tbody tr")
        expect(rows.first).to_contain_text("queue-depth")  # the daily peaks reach it first
        expect(rows.nth(1)).to_contain_text("db-1 · disk /")
        expect(page.locator(".cap-first")).to_contain_text("queue-depth")
        # every row with history gets its small chart once scrolled into view
        expect(rows.first.locator(".cap-spark .uplot")).to_have_count(1)
        page.mouse.wheel(0, 3000)
        expect(page.locator(".cap-spark .uplot")).to_have_count(rows.count())
        page.mouse.wheel(0, -3000)
        page.screenshot(path=str(ARTIFACTS / "capacity.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.reload()
        page.mouse.wheel(0, 3000)
        expect(page.locator(".cap-spark .uplot")).to_have_count(rows.count())
        page.mouse.wheel(0, -3000)
        page.screenshot(path=str(ARTIFACTS / "capacity-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")

        page.get_by_role("link", name="queue-depth").first.click()
        expect(page.locator(".cap-chart .uplot")).to_have_count(1)
        expect(page.locator(".cap-chart .u-legend")).to_contain_text("limit")
        expect(page.locator(".cap-facts")).to_contain_text("daily over")
        page.screenshot(path=str(ARTIFACTS / "capacity-item.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.reload()
        expect(page.locator(".cap-chart .uplot")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "capacity-item-dark.png"), full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})
        page.emulate_media(color_scheme="light")
        page.goto(f"{live}/capacity?within=30d")
        expect(page.locator("table.capacity tbody tr")).to_have_count(2)
        page.mouse.wheel(0, 3000)
        expect(page.locator(".cap-spark .uplot")).to_have_count(2)
        page.mouse.wheel(0, -3000)
        page.screenshot(path=str(ARTIFACTS / "capacity-phone.png"), full_page=True)
        browser.close()
        assert not problems, problems
