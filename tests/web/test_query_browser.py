"""The metrics query page in a real browser: chart, table, zoom, errors with a caret."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer
from watchkeeper.metrics.labels import make_labels
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade

pytestmark = pytest.mark.browser


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    """A server with two hours of network counters for three interfaces."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "admin", "admin")
    now = int(time.time()) // 15 * 15
    batch = []
    for i, device in enumerate(("eth0", "eth1", "wlan0")):
        labels = make_labels(
            {"__name__": "node_network_receive_bytes_total", "instance": "web-1", "device": device}
        )
        total, samples = 0.0, []
        for t in range(now - 7200, now + 1, 15):
            total += 15 * (2e5 * (i + 1)) * (1.2 + math.sin(t / 900 + i))
            samples.append((t * 1000, total))
        batch.append((labels, samples))
    ctx.metrics.write(batch)
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url
    finally:
        ctx.engine.dispose()


def test_query_page_chart_table_zoom_and_errors(live: str, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        page.goto(f"{live}/login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("correct horse battery staple")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation").get_by_role("link", name="Metrics").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Metrics")
        page.get_by_label("PromQL query").fill("rate(node_network_receive_bytes_total[5m])")
        page.get_by_label("Range").select_option("3h")
        page.get_by_role("button", name="Run query").click()
        chart = page.locator("#query-chart canvas")
        expect(chart).to_be_visible()
        expect(page.locator("#query-table tbody tr")).to_have_count(3)
        expect(page.locator("#query-table")).to_contain_text('device="wlan0"')
        assert "q=rate" in page.url and "range=3h" in page.url  # shareable
        page.screenshot(path=str(ARTIFACTS / "query.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "query-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")

        box = page.locator("#query-chart .u-over").bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.5, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=5)
        page.mouse.up()
        expect(page).to_have_url(re.compile(r"start=[0-9.]+&end=[0-9.]+"))

        page.get_by_label("PromQL query").fill("sum(rate(node_network_receive_bytes_total[5m])")
        page.get_by_role("button", name="Run query").click()
        error = page.get_by_role("alert")
        expect(error).to_contain_text("Query error")
        expect(error.locator("pre")).to_contain_text("^")
        page.screenshot(path=str(ARTIFACTS / "query-error.png"))
        browser.close()
