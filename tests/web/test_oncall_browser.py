"""The on-call page in a real browser: "on call now" cards, the two-week timelines of two
schedules (layers, final row, a gap, a holiday, an override), moving by weeks, adding an
override through the form (it changes who is on call now) and deleting it. Light, dark and
phone screenshots land in ``test-artifacts/``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from tests.incidents.oncall_plan import seed_oncall
from watchkeeper.auth.audit import Actor
from watchkeeper.incidents import overrides
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import utcnow

pytestmark = pytest.mark.browser
BERLIN = ZoneInfo("Europe/Berlin")


def seed(ctx: AppContext) -> None:
    """The two schedules, and erin covering platform tomorrow 09:00-18:00 (Berlin)."""
    today = utcnow().date()
    with ctx.sessions() as db:
        seed_oncall(db, today)
        tomorrow = today + timedelta(days=1)
        start = tomorrow.strftime("%Y-%m-%dT09:00")
        end = tomorrow.strftime("%Y-%m-%dT18:00")
        overrides.add_override(
            db,
            Actor("admin"),
            schedule="platform",
            person="erin",
            starts_at=datetime.fromisoformat(start).replace(tzinfo=BERLIN),
            ends_at=datetime.fromisoformat(end).replace(tzinfo=BERLIN),
            note="Dave at the dentist",
        )
        db.commit()


def shot(page: Any, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_oncall_page_shows_schedules_and_takes_overrides(
    ctx: AppContext, server: LiveServer, chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    seed(ctx)
    make_user(ctx, "alice", "responder")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "alice", ADMIN_PASSWORD, problems)

        page.goto(f"{server.url}/oncall")
        expect(page.get_by_role("heading", level=1)).to_have_text("On call")
        expect(page.locator("nav.subnav a.active")).to_have_text("On call")
        cards = page.locator(".oncall-card")
        expect(cards).to_have_count(2)
        expect(cards.nth(0)).to_contain_text("platform")
        expect(cards.nth(0)).to_contain_text("next:")
        timelines = page.locator("svg.oncall-timeline")
        expect(timelines).to_have_count(2)
        platform = page.locator("#schedule-platform")
        # Two layers and the final row; the override and the holiday are drawn.
        expect(platform.locator("text.row-label")).to_have_text(
            ["Primary", "Business hours", "On call"]
        )
        expect(platform.locator("rect.bar.override")).to_have_count(1)
        expect(platform.locator("rect.holiday")).to_have_count(1)
        expect(platform.locator("table.overrides")).to_contain_text("Dave at the dentist")
        payments = page.locator("#schedule-payments")
        assert payments.locator("rect.gap").count() >= 2  # weekend days: nobody on call
        expect(payments.locator(".service-head")).to_contain_text("gaps")
        expect(page.locator("#my-feed")).to_have_value(
            f"{ctx.settings.base_url}/oncall/calendar/alice.ics?token="
            + page.locator("#my-feed").input_value().rsplit("=", 1)[1]
        )
        page.emulate_media(color_scheme="light")
        shot(page, "oncall")
        page.emulate_media(color_scheme="dark")
        shot(page, "oncall-dark")
        page.emulate_media(color_scheme="light")

        first = page.locator(".oncall-range h2").inner_text()
        page.get_by_role("link", name="Next week →").click()
        expect(page.locator(".oncall-range h2")).not_to_have_text(first)
        expect(page.get_by_role("link", name="Today")).to_be_visible()
        page.get_by_role("link", name="Today").click()
        expect(page.locator(".oncall-range h2")).to_have_text(first)

        # An override for payments from an hour ago for three hours: erin is on call now.
        now = utcnow().astimezone(ZoneInfo("America/New_York"))
        form = page.locator("#add-override form")
        form.get_by_label("Schedule").select_option("payments")
        form.get_by_label("Person").select_option("dave")
        form.get_by_label("From").fill((now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
        form.get_by_label("Until").fill((now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
        form.get_by_label("Note").fill("covering, INC-12")
        form.get_by_role("button", name="Add override").click()
        expect(page.locator("[role=status]")).to_contain_text("Override added.")
        expect(page.locator(".oncall-card", has_text="payments")).to_contain_text("Dave Okafor")
        with ctx.sessions() as db:
            assert overrides.who_is_on_call(db, "payments", utcnow()) == ["dave"]

        # A bad override: the form comes back naming the problem.
        form = page.locator("#add-override form")
        form.get_by_label("Person").select_option("")
        form.get_by_label("From").fill("2026-01-01T10:00")
        form.get_by_label("Until").fill("2026-01-01T09:00")
        problems_before = len(problems)
        form.get_by_role("button", name="Add override").click()
        expect(page.locator("[role=alert]")).to_contain_text("Person: name the person")
        expect(page.locator("[role=alert]")).to_contain_text("End: must be after the start")
        del problems[problems_before:]  # the 422 of the refused form is expected

        row = page.locator("#schedule-payments table.overrides tr", has_text="INC-12")
        row.get_by_role("button", name="Delete").click()
        expect(page.locator("[role=status]")).to_contain_text("Override deleted.")
        with ctx.sessions() as db:
            assert overrides.who_is_on_call(db, "payments", utcnow()) != ["dave"]

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{server.url}/oncall")
        shot(page, "oncall-phone")
        assert problems == []
        browser.close()
