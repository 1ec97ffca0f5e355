"""The log anomalies page in a real browser (light and dark), and its API: new templates
first, then rate anomalies, with examples, a sparkline and a link to the log search.
Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, login, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import LogTemplate, LogTemplateHour, LogTemplateScope, utcnow


def seed(ctx: AppContext) -> None:
    """A stream mined for three days: one new template, one spiking, one quiet."""
    now = utcnow()
    hour = int(now.timestamp() // 3600)
    with ctx.sessions() as db:
        scope = LogTemplateScope(
            scope='{app="shop",host="web-1"}', state=b"", first_seen=now - timedelta(days=3)
        )
        db.add(scope)
        db.flush()
        rows = [
            ("GET /api/orders/<num> <num> in <num> ms", now - timedelta(days=3), False, None),
            (
                "payment <num> failed: gateway timeout after <num> ms",
                now - timedelta(hours=6),
                False,
                {
                    "hour": hour - 1,
                    "direction": "high",
                    "count": 412,
                    "median": 9.0,
                    "expected_low": 0.0,
                    "expected_high": 21.0,
                },
            ),
            (
                "ERROR disk <value> is full: wrote <num> of <num> bytes",
                now - timedelta(minutes=40),
                True,
                None,
            ),
        ]
        for i, (text, first, new, anomaly) in enumerate(rows):
            template = LogTemplate(
                scope_id=scope.id,
                cluster=i + 1,
                template=text,
                first_seen=first,
                last_seen=now - timedelta(minutes=2),
                count=500 * (3 - i),
                new=new,
                examples=[text.replace("<num>", "42").replace("<value>", "'/var/lib/db'")],
                anomaly=anomaly,
            )
            db.add(template)
            db.flush()
            for h in range(48):
                count = 9 + h % 4 if i < 2 else 0
                if i == 1 and h == 46:
                    count = 412
                if i == 2 and h == 47:
                    count = 1
                if count:
                    db.add(
                        LogTemplateHour(template_id=template.id, hour=hour - 47 + h, count=count)
                    )
        db.commit()


def test_api_lists_new_then_rate(ctx: AppContext, server: LiveServer) -> None:
    seed(ctx)
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/api/v1/logs/anomalies").status_code == 401
    make_user(ctx, "vera", "viewer")
    viewer = login(server.url, "vera")
    body = viewer.get("/api/v1/logs/anomalies").json()
    viewer.close()
    kinds = [(a["kind"], a["template"].split()[0]) for a in body["anomalies"]]
    assert kinds == [("new", "ERROR"), ("rate", "payment")]
    rate = body["anomalies"][1]
    assert rate["rate"]["count"] == 412 and rate["hourly_counts"][-2] == 412
    assert rate["search"] == '{app="shop",host="web-1"} |= "failed: gateway timeout after"'


@pytest.mark.browser
def test_anomalies_page_light_and_dark(ctx: AppContext, server: LiveServer, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    seed(ctx)
    make_user(ctx, "vera", "viewer")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        page.goto(f"{server.url}/login?next=/logs/anomalies")
        page.get_by_label("User name").fill("vera")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{server.url}/logs/anomalies")
        expect(page.get_by_role("heading", level=1)).to_have_text("Log anomalies")
        cards = page.locator("article.anomaly")
        expect(cards).to_have_count(2)
        expect(cards.first).to_contain_text("new template")
        expect(cards.first).to_contain_text("/var/lib/db")
        expect(cards.nth(1)).to_contain_text("far more lines than usual")
        expect(cards.nth(1)).to_contain_text("usually 0–21")
        expect(cards.first.locator("svg.error-spark rect")).to_have_count(48)
        page.screenshot(path=str(ARTIFACTS / "log-anomalies.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "log-anomalies-dark.png"), full_page=True)
        href = cards.nth(1).get_by_role("link", name="Search these lines").get_attribute("href")
        assert href is not None
        query = parse_qs(urlparse(href).query)
        assert query["q"] == ['{app="shop",host="web-1"} |= "failed: gateway timeout after"']
        browser.close()
