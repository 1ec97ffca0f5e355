"""The postmortem editor in a real browser: draft, type (the live preview follows), save,
reload (the text is still there), add an action item and tick it done without losing the
text being edited, publish; and the open action items page. Screenshots land in
``test-artifacts/``."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip, signed_in_page
from tests.incidents.test_postmortem import ALICE, make_incident
from watchkeeper.incidents import postmortem
from watchkeeper.runtime.context import AppContext

pytestmark = pytest.mark.browser


def shot(page: Any, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def seed(ctx: AppContext) -> int:
    """An incident with a timeline, and overdue and upcoming items on another one."""
    with ctx.sessions() as db:
        incident_id = make_incident(db)
        other = make_incident(db, "API latency after the 2.3 deploy")
        postmortem.add_item(
            db, other, ALICE, "Roll back faster: one-click rollback", "bob", date(2026, 1, 20)
        )
        postmortem.add_item(db, other, ALICE, "Load test the checkout", "carol", date(2999, 1, 1))
        postmortem.add_item(db, other, ALICE, "Write the deploy runbook")
        db.commit()
    return incident_id


def test_edit_preview_save_reload(ctx: AppContext, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_or_skip()
    incident_id = seed(ctx)
    make_user(ctx, "rita", "responder")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "rita", ADMIN_PASSWORD, problems, width=1360)

        page.goto(f"{server.url}/incidents/{incident_id}/postmortem")
        shot(page, "postmortem-empty")
        page.get_by_role("button", name="Draft the postmortem").click()
        expect(page.get_by_role("status")).to_contain_text("Postmortem drafted")
        preview = page.locator("#pm-preview")
        expect(preview.locator("table").first).to_contain_text("Acknowledged")

        editor = page.locator("#pm-body")
        text = editor.input_value().replace(
            "_What happened, in two or three sentences._",
            "The **WAL volume** on db-1 filled up; writes failed for 90 minutes.",
        )
        editor.fill(text)
        expect(preview.locator("strong", has_text="WAL volume")).to_be_visible()
        size = f"{len(text.encode()) / 1000:.1f} kB of 200 kB"
        expect(page.locator("#pm-size")).to_have_text(size)  # swapped in beside the buttons

        # An item added and ticked through htmx leaves the text being edited alone.
        page.get_by_label("Action", exact=True).fill("Alert when the WAL volume is 80% full")
        page.get_by_label("Owner").fill("alice")
        page.get_by_label("Due").fill("2026-01-20")
        page.get_by_role("button", name="Add action item").click()
        row = page.locator("#action-items tbody tr", has_text="80% full")
        expect(row).to_have_class("overdue")
        expect(preview).to_contain_text("Alert when the WAL volume is 80% full")
        expect(editor).to_have_value(text)
        shot(page, "postmortem-editor")

        row.get_by_role("checkbox").check()
        expect(page.locator("#action-items tbody tr", has_text="80% full")).to_have_class("done")

        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("status")).to_contain_text("Saved.")
        page.reload()
        expect(page.locator("#pm-body")).to_have_value(text)
        expect(page.locator("#pm-preview")).to_contain_text("writes failed for 90 minutes")

        page.get_by_role("button", name="Publish").click()
        expect(page.locator("h1 .pill")).to_have_text("published")
        page.emulate_media(color_scheme="dark")
        shot(page, "postmortem-editor-dark")
        page.emulate_media(color_scheme="light")

        page.goto(f"{server.url}/incidents/actions")
        expect(page.get_by_role("heading", level=1)).to_have_text("Open action items")
        rows = page.locator("table.pm-open tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.first).to_contain_text("one-click rollback")
        expect(rows.first).to_have_class("overdue")
        shot(page, "postmortem-action-items")
        rows.first.get_by_role("button", name="Mark done").click()
        expect(page.locator("table.pm-open tbody tr")).to_have_count(2)
        browser.close()
    assert problems == []
