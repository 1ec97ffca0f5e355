"""Runbooks in a real browser: the list with its "review due" tab, writing a runbook with the
live preview, editing it, confirming it still correct, comparing two revisions; a hostile
runbook runs nothing; the alert page links its runbook. Light, dark and phone screenshots
land in ``test-artifacts/``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.alerts.alert_rows import add_alert
from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip, signed_in_page
from tests.knowledge.test_runbooks_pages import HOSTILE, PLAN
from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge import runbooks
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import utcnow

pytestmark = pytest.mark.browser
NEW = """---
title: Rotate TLS certificates
services: [api]
tags: [tls, security]
owner: team-platform
review_period: 90d
---

# Rotate TLS certificates

1. Renew: `certbot renew --cert-name api`
2. Reload the proxy: `systemctl reload haproxy`

| Host | Certificate |
| --- | --- |
| lb-1 | api.example.com |
"""


def shot(page: Any, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def both_themes(page: Any, name: str) -> None:
    page.emulate_media(color_scheme="light")
    shot(page, name)
    page.emulate_media(color_scheme="dark")
    shot(page, f"{name}-dark")
    page.emulate_media(color_scheme="light")


def seed(ctx: AppContext) -> int:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN), actor="plan")
        runbooks.create_runbook(db, HOSTILE, Actor("alice"), utcnow() - timedelta(days=3))
        runbooks.create_runbook(
            db,
            "---\ntags: [backups]\nowner: team-data\nservices: [db]\n---\n# Restore a backup\n",
            Actor("alice"),
            utcnow() - timedelta(days=200),
        )
        alert = add_alert(db, "DiskFull", labels={"instance": "db-1", "service": "db"})
        db.commit()
        return alert.id


def test_write_edit_review_compare(ctx: AppContext, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_or_skip()
    alert_id = seed(ctx)
    make_user(ctx, "rita", "operator")
    problems: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "rita", ADMIN_PASSWORD, problems)
        page.on("dialog", lambda d: dialogs.append(d.message))

        page.goto(f"{server.url}/runbooks")
        expect(page.get_by_role("heading", level=1)).to_have_text("Runbooks")
        expect(page.locator("table.rb-list tbody tr")).to_have_count(2)
        expect(page.locator(".tabs a.active")).to_have_text("All")
        expect(page.locator(".tabs")).to_contain_text("Review due 1")
        both_themes(page, "runbooks")
        page.get_by_role("link", name="Review due").click()
        expect(page.locator("table.rb-list tbody tr")).to_have_count(1)
        expect(page.locator("table.rb-list")).to_contain_text("Restore a backup")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "runbooks-phone")
        page.set_viewport_size({"width": 1280, "height": 900})

        page.goto(f"{server.url}/runbooks/disk-full")
        expect(page.locator("#runbook")).to_contain_text('<script>alert("xss")</script>')
        expect(page.locator("#runbook script, #runbook img")).to_have_count(0)
        page.get_by_text("[click me](javascript:alert(1))").click()  # plain text, no link
        both_themes(page, "runbook-hostile")

        page.goto(f"{server.url}/runbooks")
        page.get_by_role("link", name="New runbook").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("New runbook")
        page.get_by_label("Document").fill(NEW)
        preview = page.locator("#rb-preview")
        expect(preview.locator("table")).to_contain_text("lb-1")
        expect(preview.locator("code").first).to_have_text("certbot renew --cert-name api")
        page.get_by_label("Document").fill("---\ntags: tls\n---\n# X\n")
        expect(preview).to_contain_text("line 2:7 tags: must be a list")
        page.get_by_label("Document").fill(NEW)
        expect(preview.locator("table")).to_contain_text("lb-1")
        page.get_by_label("Note").fill("first version")
        both_themes(page, "runbook-new")
        page.get_by_role("button", name="Create runbook").click()

        expect(page).to_have_url(f"{server.url}/runbooks/rotate-tls-certificates?done=created")
        expect(page.locator("[role=status]")).to_contain_text("Runbook created.")
        expect(page.locator("#runbook code").first).to_have_text("certbot renew --cert-name api")
        page.get_by_role("link", name="Edit").click()
        text = page.get_by_label("Document")
        text.fill(NEW.replace("haproxy", "nginx").replace("lb-1", "lb-1, lb-2"))
        page.get_by_label("Note").fill("moved to nginx")
        page.get_by_role("button", name="Save revision").click()
        expect(page.locator("[role=status]")).to_contain_text("Saved as a new revision.")
        page.get_by_role("button", name="Still correct").click()
        expect(page.locator("[role=status]")).to_contain_text("Marked reviewed")
        expect(page.locator(".rb-review")).to_contain_text("by rita")
        both_themes(page, "runbook")

        page.get_by_role("link", name="History").click()
        expect(page.locator("table.rb-revisions tbody tr")).to_have_count(2)
        expect(page.locator("table.rb-revisions")).to_contain_text("moved to nginx")
        shot(page, "runbook-history")
        page.get_by_role("button", name="Compare").click()
        expect(page.locator("table.rb-diff tr.del")).to_have_count(2)
        expect(page.locator("table.rb-diff tr.add").first).to_contain_text("nginx")
        both_themes(page, "runbook-diff")

        page.goto(f"{server.url}/alerts/{alert_id}")
        page.locator(".runbook").get_by_role("link", name="Disk full").click()
        expect(page).to_have_url(f"{server.url}/runbooks/disk-full")
        expect(page.locator(".rb-firing")).to_contain_text("DiskFull")
        assert dialogs == []
        assert problems == []
        browser.close()
