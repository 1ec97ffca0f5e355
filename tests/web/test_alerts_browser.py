"""Alerts in a real browser: the list with seeded alerts, an alert's page, silencing it from
there through the prefilled form (with its live preview), the silences list, and the
notifications page with a test send. Light, dark and phone screenshots land in
``test-artifacts/``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.alerts.alert_rows import RUNBOOK, add_alert, add_notification
from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from watchkeeper.alerts import silences
from watchkeeper.auth.audit import Actor
from watchkeeper.plan import catalog
from watchkeeper.runtime.context import AppContext

pytestmark = pytest.mark.browser


def seed(ctx: AppContext) -> int:
    """Alerts in every state, a rule with a runbook, a channel and its deliveries; return
    the id of the critical DiskFull alert."""
    actor = Actor("test")
    with ctx.sessions() as db:
        catalog.create_object(
            db,
            "alerts.rules",
            {
                "name": "DiskFull",
                "expr": "disk_free_ratio < 0.1",
                "severity": "critical",
                "runbook_url": "https://wiki.example.com/runbooks/disk-full",
                "runbook": RUNBOOK,
            },
            actor,
        )
        for name, kind, spec in [
            ("ops-webhook", "webhook", {"url": "http://127.0.0.1:9/hook"}),
            ("pager", "pagerduty", {"routing_key": "0123456789abcdef0123456789abcdef"}),
        ]:
            catalog.create_object(
                db, "notifications.channels", {"name": name, "type": kind, **spec}, actor
            )
        disk = add_alert(
            db,
            "DiskFull",
            severity="critical",
            labels={"instance": "db-1", "mountpoint": "/var/lib/postgresql", "team": "data"},
            value=0.043,
            annotations={
                "summary": "Disk on db-1 is 95.7% full",
                "description": "/var/lib/postgresql has 4.3% free; it fills in about 9 days.",
            },
        )
        add_alert(
            db,
            "HighCPU",
            labels={"instance": "web-1", "job": "node"},
            value=0.93,
            annotations={"summary": "CPU on web-1 above 90% for 10 minutes"},
        )
        add_alert(db, "ReplicationLag", state="pending", severity="info", value=12.5)
        add_alert(db, "ServiceDown", muted="inhibited", muted_by=["HostDown"], value=0)
        add_alert(db, "DiskFull", state="resolved", labels={"instance": "db-2"}, value=0.08)
        add_notification(db, disk, "ops-webhook")
        add_notification(
            db,
            disk,
            "pager",
            status="failed",
            attempts=1,
            error="PagerDuty answered HTTP 400: Invalid routing key",
        )
        db.commit()
        return disk.id


def shot(page: Any, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def both_themes(page: Any, name: str) -> None:
    page.emulate_media(color_scheme="light")
    shot(page, name)
    page.emulate_media(color_scheme="dark")
    shot(page, f"{name}-dark")
    page.emulate_media(color_scheme="light")


def test_silence_an_alert_from_its_page(ctx: AppContext, server: LiveServer, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    disk_id = seed(ctx)
    make_user(ctx, "admin", "admin")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "admin", ADMIN_PASSWORD, problems)

        page.goto(f"{server.url}/alerts")
        expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
        rows = page.locator("table.alerts tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("DiskFull")  # critical first
        expect(rows.nth(0)).to_contain_text("mountpoint=/var/lib/postgresql")
        expect(page.locator(".tabs a.active")).to_contain_text("Firing 2")
        both_themes(page, "alerts")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "alerts-phone")
        page.set_viewport_size({"width": 1280, "height": 900})

        page.get_by_role("link", name="DiskFull").first.click()
        expect(page).to_have_url(f"{server.url}/alerts/{disk_id}")
        expect(page.locator(".markdown h2")).to_have_text("Disk full")
        expect(page.locator("ol.timeline li")).to_have_count(2)
        expect(page.locator("body")).to_contain_text("Invalid routing key")
        both_themes(page, "alert")

        page.get_by_role("link", name="Silence…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("New silence")
        matchers = page.locator("#matchers")
        expect(matchers).to_have_value(
            'alertname="DiskFull"\ninstance="db-1"\nmountpoint="/var/lib/postgresql"\nteam="data"'
        )
        preview = page.locator("#silence-preview")
        expect(preview).to_contain_text("1 active alert")
        expect(preview).to_contain_text("DiskFull")
        # The preview follows what is typed (htmx): a broader matcher, then a bad one.
        matchers.fill('instance=~".+-1"')
        expect(preview).to_contain_text("2 active alerts")
        expect(preview).to_contain_text("HighCPU")
        matchers.fill("instance=~")
        matchers.press("End")
        matchers.type("(")
        expect(preview).to_contain_text("Line 1:")
        matchers.fill('alertname="DiskFull"\ninstance="db-1"')
        expect(preview).to_contain_text("1 active alert")
        page.get_by_label("Duration").fill("4h")
        page.get_by_label("Comment").fill("Resizing the volume, CHG-1042")
        both_themes(page, "silence-new")
        page.get_by_role("button", name="Create silence").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Silences")
        expect(page.locator("[role=status]")).to_contain_text("Silence created.")
        active = page.locator("#active table.silences tbody tr")
        expect(active).to_have_count(1)
        expect(active).to_contain_text('instance="db-1"')
        expect(active).to_contain_text("Resizing the volume, CHG-1042")
        expect(active).to_contain_text("1 alert")
        both_themes(page, "silences")
        with ctx.sessions() as db:
            (made,) = silences.list_silences(db, "active")
            assert made.matchers == ['alertname="DiskFull"', 'instance="db-1"']
            assert made.created_by == "admin"
            labels = {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"}
            assert silences.silenced_by(labels, silences.active_silences(db)) == [made.id]

        page.goto(f"{server.url}/notifications")
        failed = page.locator("table.outbox tr.failed")
        expect(failed).to_have_count(1)
        expect(failed).to_contain_text("Invalid routing key")
        page.locator("table.channels tr", has_text="ops-webhook").get_by_role(
            "button", name="Send test"
        ).click()
        expect(page.locator("[role=status]")).to_contain_text("queued for “ops-webhook”")
        expect(page.locator("table.outbox tr.highlight")).to_contain_text("Test notification")
        both_themes(page, "notifications")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "notifications-phone")
        assert problems == []
        browser.close()
