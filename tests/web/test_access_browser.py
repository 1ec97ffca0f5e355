"""The account and Access pages in a real browser; screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD, make_user, remember_secret
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer
from watchkeeper.auth import throttle
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.teams import add_member, create_team
from watchkeeper.auth.tokens import create_service_account, create_token, get_service_account
from watchkeeper.runtime.context import AppContext

pytestmark = pytest.mark.browser


def _people(ctx: AppContext) -> None:
    make_user(ctx, "admin", "admin")
    make_user(ctx, "ana", "responder")
    make_user(ctx, "bob", "viewer")
    actor = Actor("admin")
    with ctx.sessions() as db:
        for _ in range(throttle.LOCK_AFTER):
            throttle.record_failure(db, "bob", "192.0.2.9")
        create_service_account(db, actor, "ci-bot", "operator", "Deploys from CI")
        remember_secret(
            create_token(db, actor, get_service_account(db, "ci-bot"), "deploy", "operator").token
        )
        create_team(db, actor, "platform", "Runs the infrastructure")
        add_member(db, actor, "platform", "ana")
        add_member(db, actor, "platform", "admin")
        db.commit()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot, scrolled to the top first (or the sticky top bar lands in
    the middle of the picture)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_account_and_access_pages_in_a_browser(
    ctx: AppContext, server: LiveServer, chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _people(ctx)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # Script errors and CSP refusals show up on the console; failed loads are judged by
        # their responses (the favicon is absent, and a refused form is a 422 on purpose).
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") and r.status != 422
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: d.accept())
        page.goto(f"{server.url}/login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.locator(".who").get_by_role("link", name="admin").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")

        form = page.locator("form[action='/account/tokens']")
        form.get_by_label("Name").fill("laptop-script")
        form.get_by_label("Role").select_option("operator")
        form.get_by_role("button", name="Create token").click()
        token = page.get_by_label("New API token")
        expect(token).to_have_value(re.compile(r"^wk_[0-9a-f]{8}_"))
        remember_secret(token.input_value())
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        expect(page.get_by_role("row", name=re.compile("laptop-script"))).to_contain_text(
            "operator"
        )
        shot(page, "account")

        pw_form = page.locator("form[action='/account/password']")
        pw_form.get_by_label("Current password").fill(ADMIN_PASSWORD)
        refused = remember_secret("admin password 2")
        pw_form.get_by_label("New password", exact=True).fill(refused)
        pw_form.get_by_label("Repeat new password").fill(refused)
        pw_form.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("alert")).to_contain_text("must not contain the user name")
        shot(page, "account-password-refused")

        page.get_by_role("navigation").get_by_role("link", name="Access").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Access")
        bob = page.get_by_role("row", name=re.compile(r"^bob"))
        expect(bob).to_contain_text("locked")
        expect(page.get_by_text("Deploys from CI")).to_be_visible()
        shot(page, "access")

        bob.get_by_role("button", name="Unlock").click()
        expect(page.get_by_role("status")).to_contain_text("Sign-in lock lifted")
        expect(page.get_by_role("row", name=re.compile(r"^bob"))).not_to_contain_text("locked")
        ana = page.get_by_role("row", name=re.compile(r"^ana"))
        ana.get_by_label("Role of ana").select_option("operator")
        ana.get_by_role("button", name="Save").click()
        expect(
            page.get_by_role("row", name=re.compile(r"^ana")).get_by_label("Role of ana")
        ).to_have_value("operator")
        page.get_by_text("Create a team").click()
        team_form = page.locator("form[action='/access/teams']")
        team_form.get_by_label("Name").fill("on-call")
        team_form.get_by_role("button", name="Create team").click()
        expect(page.locator("#team-on-call")).to_be_visible()
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "access-phone")
        browser.close()
    assert problems == []
