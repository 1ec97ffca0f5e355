"""Incidents in a real browser: the list, an incident opened from an alert group with its
timeline (pages and their delivery results), acknowledging it, adding a note, opening one by
hand through the form, and the signed-link page. Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.alerts.test_dispatch import fire
from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer
from watchkeeper.alerts.dispatch import Dispatcher
from watchkeeper.auth.audit import Actor
from watchkeeper.incidents import escalation, from_alerts, service
from watchkeeper.incidents.escalation import Pager
from watchkeeper.notify import outbox
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import OutboxNotification, utcnow

pytestmark = pytest.mark.browser

PLAN = """
notifications:
  channels:
    - {name: chat, type: webhook, url: "http://127.0.0.1:9/chat"}
    - {name: mail, type: webhook, url: "http://127.0.0.1:9/mail"}
    - {name: sms, type: webhook, url: "http://127.0.0.1:9/sms"}
alerts:
  route: {receiver: chat, group_by: [alertname], group_wait: 0s}
oncall:
  people:
    - name: alice
      contact: [{channel: mail}, {channel: sms, after: 2m}]
  escalation_policies:
    - name: default
      steps: [{notify: [{person: alice}], escalate_after: 10m}]
incidents:
  auto_open: [{matchers: ['severity="critical"'], escalation: default, team: shop}]
"""


def seed(ctx: AppContext, base_url: str) -> int:
    """An incident opened from a critical alert, paged, one page delivered; return its id."""
    now = utcnow() - timedelta(seconds=30)
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(textwrap.dedent(PLAN)))
        db.commit()
        alert = fire(
            db, {"alertname": "CheckoutErrors", "severity": "critical", "service": "shop"}, now
        )
        alert.annotations = {"summary": "Checkout errors above 5%"}
        db.commit()
        Dispatcher(base_url).tick(db, now)
        from_alerts.sync(db, now, from_alerts.GroupTracker())
        escalation.run_due(db, now, Pager(base_url, ctx.settings.secret_key()))
        db.commit()
        mail = db.scalar(select(OutboxNotification).where(OutboxNotification.channel == "mail"))
        assert mail is not None
        claimed = outbox.claim_due(db, now=now, limit=10, lease=timedelta(minutes=1))
        for row in claimed:
            if row.channel == "mail":
                outbox.mark_delivered(db, row, now=now + timedelta(seconds=1))
        db.commit()
        service.open_incident(
            db,
            title="Slow searches for some customers",
            severity="SEV4",
            actor=Actor("carol"),
            team="search",
            services=["search"],
        )
        db.commit()
        return int(mail.payload["extra"]["incident"]["id"])


def test_incident_list_detail_acknowledge_note_and_open(
    ctx: AppContext, server: LiveServer, chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_user(ctx, "admin", "admin")
    incident_id = seed(ctx, server.url)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server.url}/login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{server.url}/incidents")
        rows = page.locator("table.incidents tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("Slow searches")
        expect(page.locator("table.incidents")).to_contain_text("Checkout errors above 5%")
        page.screenshot(path=str(ARTIFACTS / "incidents.png"), full_page=True)

        page.get_by_role("link", name="Checkout errors above 5%").click()
        timeline = page.locator("ol.incident-timeline")
        expect(timeline).to_contain_text("opened from alert group")
        expect(timeline).to_contain_text("page to alice via mail: delivered")
        expect(timeline).to_contain_text("page to alice via sms: waiting until")
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator(".alert.ok")).to_contain_text("the escalation stopped")
        expect(timeline).to_contain_text("page to alice via sms: cancelled")
        page.get_by_label("Add a note").fill("Rolled back **1.4.2**; errors are dropping.")
        page.get_by_role("button", name="Add note").click()
        expect(timeline.locator("strong")).to_have_text("1.4.2")
        page.screenshot(path=str(ARTIFACTS / "incident.png"), full_page=True)
        assert page.url.endswith(f"/incidents/{incident_id}?done=noted")

        page.goto(f"{server.url}/incidents/new")
        page.get_by_label("Title").fill("")
        page.get_by_label("Title").fill("Payment provider outage")
        page.get_by_label("Severity").select_option("SEV2")
        page.get_by_label("Affected services").fill("checkout, payments")
        page.get_by_role("button", name="Open incident").click()
        expect(page.locator("h1")).to_contain_text("Payment provider outage")
        expect(page.locator(".lead")).to_contain_text("checkout, payments")
        browser.close()
