"""The error pages: the issue list with filters, sparklines and badges, and an issue's page
with its chart, latest event (stack trace with source lines, breadcrumbs, tags, request,
user, contexts) and triage form; in a real browser (light and dark screenshots land in
``test-artifacts/``) and over HTTP for the roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import ADMIN_PASSWORD, login, make_user
from tests.errors.support import apply, exception_event, new_id, project
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip, signed_in_page
from watchkeeper.auth.audit import Actor
from watchkeeper.errors.activity import advance
from watchkeeper.errors.events import prepare_event
from watchkeeper.errors.scrub import Scrubber
from watchkeeper.errors.storage import store_batch
from watchkeeper.errors.triage import change_issue, parse_change
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import ErrorEvent, utcnow

PLAN = "errors:\n  projects:\n    - name: shop\n      team: payments\n    - name: api\n"


def rich_event(release: str, kind: str = "KeyError", function: str = "total") -> dict[str, Any]:
    event = exception_event(kind=kind, value="'sku-17'", release=release)
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    frames.insert(
        0,
        {
            "module": "starlette.routing",
            "function": "handle",
            "lineno": 74,
            "in_app": False,
            "filename": "starlette/routing.py",
        },
    )
    frames[-1].update(
        {
            "function": function,
            "filename": "shop/cart.py",
            "pre_context": ["def total(cart):", "    prices = load_prices()"],
            "context_line": "    return sum(prices[item] for item in cart)",
            "post_context": ["", "def clear(cart):"],
            "vars": {"cart": "['sku-17']"},
        }
    )
    event.update(
        {
            "environment": "production",
            "server_name": "web-3",
            "tags": {"browser": "Firefox 133", "region": "eu-west"},
            "user": {"id": "u-42", "email": "ann@example.com"},
            "request": {
                "method": "POST",
                "url": "https://shop.example.com/checkout",
                "headers": {"User-Agent": "Mozilla/5.0", "Authorization": "Bearer s3cr3t"},
            },
            "breadcrumbs": {
                "values": [
                    {"timestamp": 1_770_000_000, "category": "http", "message": "GET /cart"},
                    {
                        "timestamp": 1_770_000_001,
                        "category": "query",
                        "level": "warning",
                        "message": "SELECT price FROM prices",
                    },
                ]
            },
            "contexts": {"runtime": {"name": "CPython", "version": "3.12.4"}},
            "sdk": {"name": "sentry.python", "version": "2.19.0"},
        }
    )
    return event


def seed(ctx: AppContext) -> tuple[int, int]:
    """Two issues of shop (one seen three times, one regressed) and one of api; return the
    ids of shop's issues."""
    apply(ctx, PLAN)
    shop, api = project(ctx, "shop").id, project(ctx, "api").id
    now = utcnow()

    def put(project_id: int, event: dict[str, Any], ago: timedelta) -> int:
        at = now - ago
        event["timestamp"] = at.timestamp()
        prepared = prepare_event(
            event,
            project_id=project_id,
            event_id=new_id(),
            scrubber=Scrubber([]),
            received=at,
            oldest=timedelta(days=30),
            client_ip="",
        )
        with ctx.sessions() as db:
            store_batch(db, [prepared], teams={shop: "payments"}, windows={}, keep_per_issue=100)
            db.commit()
            found = db.scalar(
                select(ErrorEvent.issue_id).where(ErrorEvent.event_id == prepared.event_id)
            )
        return int(found)

    with ctx.sessions() as db:
        cart = put(shop, rich_event("shop@1.4.2"), timedelta(hours=5))
        advance(db, now - timedelta(hours=5))
        put(shop, rich_event("shop@1.4.2"), timedelta(hours=2))
        advance(db, now - timedelta(hours=2))
        login_bug = put(shop, rich_event("shop@1.5.0", "TypeError", "login"), timedelta(minutes=50))
        change_issue(db, login_bug, parse_change({"status": "resolved"}), Actor("ann"), now)
        db.commit()
        put(shop, rich_event("shop@1.5.0", "TypeError", "login"), timedelta(seconds=-1))
        put(shop, rich_event("shop@1.5.0"), timedelta(minutes=10))
        put(api, rich_event("api@3.0", "ValueError", "parse"), timedelta(minutes=5))
        advance(db, now + timedelta(seconds=2))
    return cart, login_bug


@pytest.fixture
def chromium() -> str:
    """Path to Debian's chromium (the test is skipped without it)."""
    return chromium_or_skip()


def shot(page: Any, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def both_themes(page: Any, name: str) -> None:
    page.emulate_media(color_scheme="light")
    shot(page, name)
    page.emulate_media(color_scheme="dark")
    shot(page, f"{name}-dark")
    page.emulate_media(color_scheme="light")


@pytest.mark.browser
def test_issue_list_and_page_in_a_browser(
    ctx: AppContext, server: LiveServer, chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    cart, login_bug = seed(ctx)
    make_user(ctx, "admin", "admin")
    make_user(ctx, "dev", "responder")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "admin", ADMIN_PASSWORD, problems)
        page.goto(f"{server.url}/errors")
        expect(page.get_by_role("heading", level=1)).to_have_text("Errors")
        rows = page.locator("table.error-issues tbody tr")
        expect(rows).to_have_count(3)
        regressed = rows.filter(has_text="TypeError")
        expect(regressed.locator(".error-regressed")).to_have_text("regressed in shop@1.5.0")
        expect(rows.filter(has_text="KeyError").locator(".error-spark rect.some")).to_have_count(3)
        both_themes(page, "errors-list")
        page.get_by_label("Project").select_option("api")
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(1)
        expect(rows.first.locator(".error-new")).to_have_text("new in api@3.0")

        page.goto(f"{server.url}/errors/issues/{cart}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("KeyError")
        expect(page.locator(".cards")).to_contain_text("3")
        frames = page.locator("ol.error-frames li")
        expect(frames).to_have_count(3)
        expect(page.locator("ol.error-frames li.in-app")).to_have_count(2)
        expect(page.locator("pre.error-context .line.current").first).to_contain_text(
            "return sum(prices[item] for item in cart)"
        )
        expect(page.locator(".error-breadcrumbs tbody tr")).to_have_count(2)
        expect(page.locator("ul.chips")).to_contain_text("Firefox 133")
        expect(page.locator("body")).to_contain_text("https://shop.example.com/checkout")
        expect(page.locator("body")).not_to_contain_text("s3cr3t")  # scrubbed at ingest
        expect(page.locator("body")).to_contain_text("CPython")
        expect(page.locator("#error-chart .uplot")).to_have_count(1)
        page.locator(".error-spans a", has_text="14 days").click()
        expect(page.locator("#error-chart .uplot")).to_have_count(1)
        both_themes(page, "errors-issue")

        page.get_by_label("Status").select_option("ignored")
        page.get_by_label("Ignore until this many more events").fill("5")
        page.get_by_label("Assignee").select_option("dev")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("[role=status]")).to_have_text("Saved.")
        expect(page.locator(".lead .pill").first).to_have_text("ignored")
        expect(page.locator("body")).to_contain_text("until 8 events in all (5 more)")
        page.get_by_label("or until").fill("2020-01-01")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("[role=alert]")).to_contain_text("ignore_until: must be in the future")
        problems[:] = [p for p in problems if "422" not in p]
        page.goto(f"{server.url}/errors?status=ignored&assignee=dev")
        expect(rows).to_have_count(1)
        browser.close()
    assert problems == []


def test_pages_for_a_viewer(ctx: AppContext, server: LiveServer) -> None:
    cart, _ = seed(ctx)
    make_user(ctx, "val", "viewer")
    viewer = login(server.url, "val")
    try:
        listed = viewer.get("/errors?status=all&span=14d")
        assert listed.status_code == 200 and "KeyError" in listed.text
        page = viewer.get(f"/errors/issues/{cart}")
        assert page.status_code == 200
        assert "needs the responder role" in page.text and 'name="status"' not in page.text
        refused = viewer.post(f"/errors/issues/{cart}", data={"status": "resolved"})
        assert refused.status_code == 403
        assert viewer.get("/errors/issues/999999").status_code == 404
        assert viewer.get("/errors?project=nope").status_code == 404
    finally:
        viewer.close()


def test_pages_need_a_sign_in(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/errors").status_code in (303, 401)
