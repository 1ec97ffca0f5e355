"""The DORA page: empty and with the fixed history (a fixed ``end``), scope selection, bad
parameters shown on the page, sign-in; and in a real browser its tiles and four uPlot charts,
in the light and dark themes (screenshots in test-artifacts/)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip, signed_in_page
from tests.releases.dora_history import seed
from watchkeeper.runtime.context import AppContext

AS_OF = "days=30&end=2025-06-01"  # the window 2025-05-03 .. 2025-06-02


def _tile(html: str, key: str) -> str:
    found = re.search(rf'data-key="{key}">(.*?)</div>', html, re.S)
    assert found, key
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_page_without_data(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    page = sign_in("vera", "viewer").get("/releases/dora")
    assert page.status_code == 200
    assert "No services are declared" in page.text
    assert (
        _tile(page.text, "lead_time")
        == "Lead time for changes – no data no deploy with commit times"
    )


def test_page_with_the_history(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    with ctx.sessions() as db:
        seed(db)
    viewer = sign_in("vera", "viewer")
    page = viewer.get(f"/releases/dora?scope=team:payments&{AS_OF}")
    assert page.status_code == 200
    # The last 30 days: two more days than the hand-computed 28, with nothing on them.
    assert _tile(page.text, "lead_time") == (
        "Lead time for changes 15.0 h Elite median of 12 commits in 11 deploys"
    )
    assert _tile(page.text, "change_failure_rate") == (
        "Change failure rate 29% High 4 of 14 deploys failed"
    )
    assert _tile(page.text, "time_to_restore") == (
        "Time to restore 3.0 h High median of 3 resolved of 5 incidents"
    )
    assert 'value="team:payments" selected' in page.text
    assert 'href="?days=90&amp;team=payments&amp;end=2025-06-01"' in page.text  # range picker
    assert '<a href="?service=web&days=30&end=2025-06-01">web</a>' in page.text
    one = viewer.get(f"/releases/dora?service=search&{AS_OF}")
    assert "Service search" in one.text and "dora-services" not in one.text
    assert _tile(one.text, "deployment_frequency").startswith(
        "Deployment frequency 2.8 / week Elite"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("service=nope", "no service &#34;nope&#34; is declared"),
        ("team=nobody", "no team &#34;nobody&#34;"),
        ("end=someday", "end: &#34;someday&#34; is not a date or time"),
    ],
)
def test_bad_parameters_show_a_message(
    ctx: AppContext, sign_in: Callable[..., httpx.Client], query: str, message: str
) -> None:
    with ctx.sessions() as db:
        seed(db)
    page = sign_in("vera", "viewer").get(f"/releases/dora?{query}")
    assert page.status_code == 200
    assert message in page.text
    assert "All services ·" in page.text


def test_page_needs_a_signed_in_user(server: LiveServer) -> None:
    resp = httpx.get(server.url + "/releases/dora", timeout=10, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/login")


@pytest.mark.browser
def test_page_draws_tiles_and_charts(ctx: AppContext, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_or_skip()
    with ctx.sessions() as db:
        seed(db)
    make_user(ctx, "vera", "viewer")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "vera", ADMIN_PASSWORD, problems)
        page.goto(f"{server.url}/releases/dora?{AS_OF}")
        expect(page.get_by_role("heading", level=1)).to_have_text("DORA metrics")
        expect(page.locator(".dora-tile")).to_have_count(4)
        expect(page.locator(".dora-charts .uplot canvas")).to_have_count(4)
        expect(page.locator("table.dora-services tbody tr")).to_have_count(4)
        page.get_by_label("Show").select_option("team:payments")
        page.get_by_role("button", name="Show").click()
        expect(page.locator(".dora-tile[data-key=lead_time] .pill")).to_have_text("Elite")
        expect(page.locator(".dora-charts .uplot canvas")).to_have_count(4)
        expect(page.locator("table.dora-services tbody tr")).to_have_count(2)
        page.screenshot(path=str(ARTIFACTS / "dora-light.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.reload()
        expect(page.locator(".dora-charts .uplot canvas")).to_have_count(4)
        page.screenshot(path=str(ARTIFACTS / "dora-dark.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(ARTIFACTS / "dora-phone.png"), full_page=True)
        browser.close()
    assert problems == []
