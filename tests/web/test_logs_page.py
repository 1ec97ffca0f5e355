"""The log explorer in a real browser: query, histogram and lines, a line opened, a value
clicked to narrow the query, context, a saved search, live tail, and the streams page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade

pytestmark = pytest.mark.browser
S = 10**9


def _lines(now: int) -> list[LogLine]:
    out = []
    for i in range(240):
        ts = now - i * 15 * S - 3 * S
        level = "error" if i % 17 == 0 else "warn" if i % 7 == 0 else "info"
        status = "503" if level == "error" else "200"
        user = ("alice", "bob", "carol")[i % 3]
        out.append(
            LogLine(
                ts,
                ts,
                make_labels({"app": "api", "host": "web-1", "level": level}),
                f'{{"msg":"GET /orders/{i}","status":{status},"user":"{user}","ms":{i % 90}}}',
                {"status": status, "user": user, "ms": str(i % 90)},
            )
        )
    for i in range(40):
        ts = now - i * 90 * S - 7 * S
        out.append(
            LogLine(ts, ts, make_labels({"app": "db", "host": "db-1"}), f"checkpoint {i} complete")
        )
    return out


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, AppContext]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "vera", "viewer")
    assert ctx.logs.queue.put("http", _lines(time.time_ns()), timeout=5)
    ctx.logs.drain()
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url, ctx
    finally:
        ctx.close()


def test_explore_filter_save_and_tail(live: tuple[str, AppContext], chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, ctx = live
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, base, "vera", "correct horse battery staple", problems)
        page.get_by_role("navigation").get_by_role("link", name="Logs").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Logs")

        page.get_by_label("Log query").fill('{app="api"}')
        page.get_by_role("button", name="Run query").click()
        expect(page.locator("#logs-histogram canvas").first).to_be_visible()
        rows = page.locator("#logs-results .logs-line")
        expect(rows).to_have_count(240)
        expect(page.locator("#logs-summary")).to_contain_text("240 lines")
        expect(rows.first).to_contain_text("GET /orders/0")
        expect(rows.first).to_have_class("logs-line lvl-error")
        page.screenshot(path=str(ARTIFACTS / "logs.png"), full_page=False)

        rows.nth(1).locator(".logs-line-head").click()
        detail = rows.nth(1).locator(".logs-detail")
        expect(detail).to_contain_text("web-1")
        expect(detail).to_contain_text("user")
        page.screenshot(path=str(ARTIFACTS / "logs-expanded.png"), full_page=False)
        detail.get_by_role("button", name="bob", exact=True).click()  # a field: | user="bob"
        expect(page.get_by_label("Log query")).to_have_value('{app="api"} | user="bob"')
        expect(rows).to_have_count(80)
        rows.first.locator(".logs-line-head").click()
        rows.first.locator(".logs-detail").get_by_role("button", name="info").click()  # a label
        expect(page.get_by_label("Log query")).to_have_value(
            '{app="api", level="info"} | user="bob"'
        )
        expect(rows.first).to_have_class("logs-line lvl-info")

        rows.nth(20).locator(".logs-line-head").click()
        rows.nth(20).get_by_role("link", name="Show context").click()
        context = page.locator("#logs-context-lines .logs-line")
        expect(context).to_have_count(41)
        expect(page.locator("#logs-context-lines .logs-line.match")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "logs-context.png"), full_page=False)
        page.get_by_role("button", name="Close").click()

        page.get_by_label("Search name").fill("bob's info lines")
        page.get_by_role("button", name="Save search").click()
        expect(page.locator("#logs-saved-note")).to_have_text("Saved “bob's info lines”.")
        page.get_by_label("Log query").fill("{}")
        page.get_by_label("Saved searches").select_option(label="bob's info lines")
        page.get_by_role("button", name="Load").click()
        expect(page.get_by_label("Log query")).to_have_value(
            '{app="api", level="info"} | user="bob"'
        )
        history = page.get_by_label("Recent queries").locator("option")
        expect(history.nth(1)).to_have_text('{app="api", level="info"} | user="bob"')

        page.get_by_label("Log query").fill('{app="api"} | status="503"')
        page.get_by_role("button", name="Live tail").click()
        expect(page.locator("#logs-tail-status")).to_contain_text("0 new lines")
        now = time.time_ns()
        ctx.logs.queue.put(
            "http",
            [
                LogLine(
                    now,
                    now,
                    make_labels({"app": "api", "level": "error"}),
                    "tail me",
                    {"status": "503"},
                ),
                LogLine(
                    now,
                    now,
                    make_labels({"app": "api", "level": "info"}),
                    "not me",
                    {"status": "200"},
                ),
            ],
            timeout=5,
        )
        expect(page.locator("#logs-results .logs-line")).to_have_count(1)
        expect(page.locator("#logs-results")).to_contain_text("tail me")
        page.get_by_role("button", name="Pause").click()
        ctx.logs.queue.put(
            "http",
            [LogLine(now + 1, now + 1, make_labels({"app": "api"}), "later", {"status": "503"})],
            timeout=5,
        )
        expect(page.locator("#logs-tail-status")).to_contain_text("1 new lines waiting")
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("#logs-results .logs-line")).to_have_count(2)
        expect(page.locator("#logs-results .logs-line").first).to_contain_text("later")
        page.screenshot(path=str(ARTIFACTS / "logs-tail.png"), full_page=False)
        page.get_by_role("button", name="Stop live tail").click()

        assert problems == [], problems
        page.get_by_label("Log query").fill('{app="api"')
        page.get_by_role("button", name="Run query").click()
        expect(page.locator("#logs-error")).to_contain_text("Query error")
        expect(page.locator("#logs-error pre")).to_contain_text("^")
        page.screenshot(path=str(ARTIFACTS / "logs-error.png"), full_page=False)
        assert problems and all(p.startswith("400 ") for p in problems)  # the bad query
        problems.clear()

        page.goto(f"{base}/logs/streams")
        expect(page.get_by_role("heading", level=1)).to_have_text("Log streams")
        table = page.locator("#streams-table tbody tr")
        expect(table).to_have_count(7)
        page.get_by_role("columnheader", name="Lines").click()
        expect(table.first).to_contain_text('app="api"')
        expect(table.first).to_contain_text("30d")
        page.screenshot(path=str(ARTIFACTS / "logs-streams.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.goto(f"{base}/logs?q=%7Bapp%3D%22api%22%7D")
        expect(page.locator("#logs-results .logs-line").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "logs-dark.png"), full_page=False)
        browser.close()
    assert problems == [], problems
