"""The access review and training pages in a real browser: the review with its stale rows
pre-selected, revoking them through the form; the training matrix with expired cells in
red, recording a session through the form turns a cell green; a person's onboarding
checklist. Light and dark screenshots land in ``test-artifacts/``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import CHROMIUM_ARGS, LiveServer, chromium_or_skip, signed_in_page
from tests.tasks.support import apply_tasks
from tests.tasks.test_browser import both_themes
from tests.tasks.test_training import PLAN, attend
from watchkeeper.auth.users import create_user
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import User, utcnow

pytestmark = pytest.mark.browser


def test_access_review_and_training_pages(ctx: AppContext, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_or_skip()
    make_user(ctx, "admin", "admin")
    now = utcnow()
    with ctx.sessions() as db:
        for name, role in (("alice", "responder"), ("bob", "operator"), ("olduser", "viewer")):
            create_user(db, name, ADMIN_PASSWORD, role)
        db.flush()
        for user in db.scalars(select(User)):
            user.created_at = now - timedelta(days=400)
            user.last_login_at = now - timedelta(days=5)
        stale = db.scalar(select(User).where(User.username == "olduser"))
        assert stale is not None
        stale.last_login_at = now - timedelta(days=200)
        db.commit()
        apply_tasks(db, PLAN)
        attend(db, "security-awareness", (now - timedelta(days=400)).date(), "alice", "bob")
        attend(db, "incident-handling", (now - timedelta(days=20)).date(), "alice")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "admin", ADMIN_PASSWORD, problems)

        page.goto(f"{server.url}/access-review")
        expect(page.get_by_role("heading", level=1)).to_have_text("Access review")
        expect(page.locator("table.access-review tr.stale")).to_have_count(1)
        expect(page.get_by_label("Select user olduser")).to_be_checked()
        expect(page.get_by_label("Select user alice")).not_to_be_checked()
        both_themes(page, "access-review")
        page.get_by_role("button", name="Revoke selected").click()
        expect(page.locator("#applied")).to_contain_text("disabled user olduser")
        expect(page.locator("table.access-review tr.stale")).to_have_count(0)

        page.goto(f"{server.url}/training")
        expect(page.get_by_role("heading", level=1)).to_have_text("Training")
        alice = page.locator('tr[data-person="alice"]')
        expect(alice.locator("td.cell.expired")).to_have_count(1)
        expect(alice.locator("td.cell.current")).to_have_count(1)
        expect(page.locator('tr[data-person="pager-only"] td.cell.missing')).to_have_count(2)
        both_themes(page, "training")
        page.get_by_text("Record a session").click()
        form = page.locator("#record")
        form.get_by_label("Course").select_option("security-awareness")
        form.get_by_label("Trainer").fill("Tess")
        form.get_by_label("Attendees").fill("alice bob")
        form.get_by_role("button", name="Record").click()
        expect(page.locator(".alert.ok")).to_have_text("Session recorded.")
        expect(alice.locator("td.cell.expired")).to_have_count(0)
        expect(page.locator("table.training-sessions tbody tr")).to_have_count(3)

        page.goto(f"{server.url}/training/people/pager-only")
        expect(page.locator("#checklist li.todo")).to_have_count(3)
        both_themes(page, "training-person")
        browser.close()
    assert problems == []
