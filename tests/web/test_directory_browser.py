"""The emergency directory, a procedure and the escalation policy editor in a real browser:
build a two-step policy with the step and target buttons, watch the preview, save, reload;
a policy naming a schedule that is gone shows the error. Screenshots land in
``test-artifacts/``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.alerts.alert_rows import add_alert
from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer
from tests.incidents.directory_plan import apply
from watchkeeper.auth.audit import Actor
from watchkeeper.incidents import policies
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext

pytestmark = pytest.mark.browser
BASE = "/incidents/escalation-policies"


def shot(page: Any, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_build_a_policy_in_the_editor(ctx: AppContext, server: LiveServer, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with ctx.sessions() as db:
        apply(db)
        catalog.create_object(
            db,
            policies.KIND,
            {"name": "stale", "steps": [{"notify": [{"schedule": "retired"}]}]},
            Actor("api"),
        )
        lag = add_alert(db, "PostgresReplicationLag", labels={"instance": "db-2"}).id
        db.commit()
    make_user(ctx, "admin", "admin")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.status != 422 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.goto(f"{server.url}/login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.goto(f"{server.url}/incidents/directory")
        expect(page.get_by_role("heading", level=1)).to_have_text("Emergency directory")
        expect(page.locator("#contact-hoster")).to_contain_text("Hetzner Online")
        shot(page, "directory")
        page.emulate_media(color_scheme="dark")
        shot(page, "directory-dark")
        page.emulate_media(color_scheme="light")
        page.get_by_role("link", name="Fail over the database").click()
        expect(page.locator(".markdown h2")).to_have_text("Before you start")
        shot(page, "procedure")

        # The alert's page links the procedure that names it.
        page.goto(f"{server.url}/alerts/{lag}")
        box = page.locator(".procedures-box")
        expect(box.get_by_role("link", name="Fail over the database")).to_be_visible()
        shot(page, "alert-procedures")

        page.goto(f"{server.url}{BASE}")
        page.get_by_role("link", name="New policy").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("New escalation policy")
        page.get_by_label("Name", exact=True).fill("night")
        page.get_by_label("Step 1, target 1", exact=True).select_option("schedule:primary")
        page.get_by_role("button", name="+ Add target").click()
        page.get_by_label("Step 1, target 2", exact=True).select_option("person:carol")
        page.get_by_label("Step 1, escalate after", exact=True).fill("5m")
        page.get_by_role("button", name="+ Add step").click()
        page.get_by_label("Step 2, target 1", exact=True).select_option("channel:chat")
        page.get_by_label("Step 2, escalate after", exact=True).fill("15m")
        # A third step, moved up to second, then removed: the numbering follows.
        page.get_by_role("button", name="+ Add step").click()
        page.get_by_label("Step 3, target 1", exact=True).select_option("person:alice")
        page.get_by_role("button", name="Move step 3 up", exact=True).click()
        expect(page.get_by_label("Step 2, target 1", exact=True)).to_have_value("person:alice")
        expect(page.get_by_label("Step 3, target 1", exact=True)).to_have_value("channel:chat")
        page.get_by_role("button", name="Move step 2 down", exact=True).click()
        expect(page.get_by_label("Step 2, target 1", exact=True)).to_have_value("channel:chat")
        page.get_by_role("button", name="Remove step 3", exact=True).click()
        expect(page.locator("[data-step]")).to_have_count(2)
        page.locator("input[name=repeat]").fill("1")
        preview = page.locator("#esc-preview li")
        expect(preview).to_have_text(
            [
                "Step 1: page on-call of primary and Carol Ng",
                "after 5m: step 2: page channel chat",
                "after 15m: start again from step 1 (1 more time)",
            ]
        )
        shot(page, "escalation-editor")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "escalation-editor-phone")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.get_by_role("button", name="Create").click()

        expect(page.get_by_role("status")).to_have_text("Escalation policy created.")
        expect(page.locator("ol.esc-lines li").first).to_have_text(
            "Step 1: page on-call of primary and Carol Ng"
        )
        shot(page, "escalation-policy")
        page.get_by_role("link", name="Edit", exact=True).click()
        page.reload()
        expect(page.get_by_label("Step 1, target 1", exact=True)).to_have_value("schedule:primary")
        expect(page.get_by_label("Step 1, target 2", exact=True)).to_have_value("person:carol")
        expect(page.get_by_label("Step 1, escalate after", exact=True)).to_have_value("5m")
        expect(page.get_by_label("Step 2, target 1", exact=True)).to_have_value("channel:chat")
        expect(page.get_by_label("Step 2, escalate after", exact=True)).to_have_value("15m")
        expect(page.locator("input[name=repeat]")).to_have_value("1")
        with ctx.sessions() as db:
            stored = catalog.get_object(db, policies.KIND, "night")
        assert [len(s["notify"]) for s in stored.spec["steps"]] == [2, 1]
        assert stored.spec["repeat"] == 1 and not stored.managed

        # A policy naming a schedule the plan no longer has: shown, and refused on save.
        page.goto(f"{server.url}{BASE}/stale/edit")
        expect(page.get_by_label("Step 1, target 1", exact=True)).to_have_value("schedule:retired")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("alert")).to_contain_text(
            'Step 1, target 1: no on-call schedule is named "retired"'
        )
        expect(page.locator("[data-target] .field-error")).to_contain_text("retired")
        shot(page, "escalation-editor-error")
        page.get_by_label("Step 1, target 1", exact=True).select_option("schedule:secondary")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")

        page.goto(f"{server.url}{BASE}")
        expect(page.locator("table.esc-list tbody tr")).to_have_count(3)
        shot(page, "escalation-policies")
        page.get_by_role("link", name="default").click()
        expect(page.get_by_role("note")).to_contain_text("comes from the plan file")
        expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
        assert problems == []
        browser.close()
