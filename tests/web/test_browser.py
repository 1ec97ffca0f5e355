"""End to end in a real browser: `watchkeeper up`, first-admin setup link, sign-in, home page.

Screenshots land in ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import remember_secret
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, UpProcess

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough passphrase for tests"
remember_secret(PASSWORD)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[UpProcess]:
    with UpProcess(tmp_path, ROOT / "examples" / "watchkeeper.yaml") as process:
        yield process


def test_first_admin_signs_in_and_sees_the_plan(up: UpProcess, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    link = up.wait_for(r"(http://127\.0\.0\.1:\d+/setup\?token=[\w-]+)").group(1)
    assert f"running at http://127.0.0.1:{up.port}/" in up.output
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(link)
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("admin-is-my-password")
        page.get_by_role("button", name="Create admin and sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("must not contain the user name")

        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create admin and sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Example shop — production")
        expect(page.locator(".plan-figure")).to_contain_text("of the plan followed")
        expect(page.locator("#section-checks")).to_contain_text("4 checks declared")
        expect(page.locator(".content")).to_contain_text(re.compile(r"[1-9]\d*\s*sections in use"))
        page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)

        # The link is single-use.
        page2 = browser.new_page()
        page2.goto(link)
        expect(page2.get_by_role("heading", level=1)).to_have_text("Setup link not valid")
        page2.close()

        page.get_by_role("navigation").get_by_role("link", name="Health checks").click()
        expect(page.get_by_role("cell", name=re.compile("shop-frontend"))).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "checks.png"), full_page=True)
        page.get_by_role("link", name="postgres-primary").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("postgres-primary")
        page.screenshot(path=str(ARTIFACTS / "check.png"), full_page=True)
        page.get_by_role("link", name="Configuration").click()
        expect(page.get_by_text("managed by plan").first).to_be_visible()
        page.get_by_role("navigation").get_by_role("link", name="Health checks").click()

        page.get_by_role("link", name="New").click()
        page.get_by_label("YAML").fill("name: cache\ntype: tcp\nhost: 127.0.0.1\nport: 99999\n")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("alert")).to_contain_text("port")
        page.screenshot(path=str(ARTIFACTS / "editor-error.png"), full_page=True)
        page.get_by_label("YAML").fill("name: cache\ntype: tcp\nhost: 127.0.0.1\nport: 6379\n")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("cache")
        expect(page.get_by_text("made in UI")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "object.png"), full_page=True)
        page.get_by_role("navigation").get_by_role("link", name="Health checks").click()

        page.get_by_role("button", name="Switch theme").click()
        assert page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
        page.screenshot(path=str(ARTIFACTS / "home-theme-toggled.png"))

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("wrong password entirely!")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Example shop — production")

        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"http://127.0.0.1:{up.port}/")
        expect(phone.locator(".sidebar")).to_be_hidden()
        phone.screenshot(path=str(ARTIFACTS / "home-phone.png"), full_page=True)
        phone.locator("label.nav-button").click()
        expect(phone.locator(".sidebar")).to_be_visible()
        phone.screenshot(path=str(ARTIFACTS / "nav-phone.png"))
        browser.close()

    assert httpx.get(f"http://127.0.0.1:{up.port}/readyz").status_code == 200
    assert up.stop() == 0
    assert "Traceback" not in up.output
    assert "stopped cleanly" in up.output
    assert PASSWORD not in up.output
