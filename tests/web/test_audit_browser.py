"""The audit log page in a real browser: navigation, filters, the chain check through htmx,
light and dark theme, phone width. Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import login, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import AuditEntry

pytestmark = pytest.mark.browser
PLAN = """\
name: Example shop — production
checks:
  - {name: shop-frontend, type: http, url: "https://shop.example.com/"}
  - {name: postgres-primary, type: tcp, host: db.internal, port: 5432}
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, AppContext]]:
    """A server on SQLite with a little history: a plan apply, an operator's edits, a
    failed sign-in."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "admin", "admin")
    make_user(ctx, "olivia", "operator")
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN, file="/etc/watchkeeper/watchkeeper.yaml", env={}))
        db.commit()
    try:
        with LiveServer(create_app(ctx)) as server:
            olivia = login(server.url, "olivia")
            check = {"name": "cache", "type": "tcp", "host": "cache.internal", "port": 6379}
            assert olivia.post("/api/v1/objects/checks", json=check).status_code == 201
            check |= {"port": 6380, "description": "Redis in front of the catalogue"}
            assert olivia.put("/api/v1/objects/checks/cache", json=check).status_code == 200
            olivia.close()
            with httpx.Client(base_url=server.url) as stranger:
                token = re.search(r'name="csrf_token" value="([^"]+)"', stranger.get("/login").text)
                assert token
                form = {"username": "admin", "password": "guess", "csrf_token": token.group(1)}
                assert stranger.post("/login", data=form).status_code == 401
            with ctx.sessions() as db:
                audit.record(
                    db,
                    Actor("admin", "2001:db8:4006:812::200e"),
                    "user.role",
                    "user/olivia",
                    {"changes": audit.changes({"role": "viewer"}, {"role": "operator"})},
                )
                db.commit()
            yield server.url, ctx
    finally:
        ctx.engine.dispose()


def test_audit_page_in_light_and_dark(live: tuple[str, AppContext], chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, ctx = live
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        page.goto(f"{url}/login")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("correct horse battery staple")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation").get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
        table = page.locator("table.audit tbody tr")
        expect(table.first).to_contain_text("login")  # this sign-in, newest first
        expect(table.nth(1)).to_contain_text("user.role")
        expect(page.get_by_role("row", name=re.compile("login.failed"))).to_be_visible()
        expect(page.get_by_role("row", name=re.compile("object.update"))).to_contain_text(
            "6379 → 6380"
        )
        expect(page.get_by_role("row", name=re.compile("plan.apply"))).to_contain_text(
            "+ checks/shop-frontend"
        )

        page.get_by_role("button", name="Verify chain").click()
        expect(page.get_by_role("status")).to_contain_text("Chain intact.")
        assert page.url.endswith("/audit")  # htmx: the page stayed, the result came in
        page.screenshot(path=str(ARTIFACTS / "audit.png"), full_page=True)

        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(ARTIFACTS / "audit-dark.png"), full_page=True)
        page.emulate_media(color_scheme="light")

        page.get_by_label("Actor").fill("olivia")
        page.get_by_label("Action").fill("object.")
        page.get_by_role("button", name="Filter").click()
        expect(table).to_have_count(2)
        export = page.get_by_role("link", name="Export JSON lines")
        assert export.get_attribute("href") == "/api/v1/audit/export?actor=olivia&action=object."
        page.screenshot(path=str(ARTIFACTS / "audit-filtered.png"), full_page=True)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{url}/audit")
        expect(phone.get_by_role("heading", level=1)).to_have_text("Audit log")
        phone.screenshot(path=str(ARTIFACTS / "audit-phone.png"), full_page=True)

        with ctx.sessions() as db:
            victim = audit.search(db, action="object.update")[0].id
            db.execute(update(AuditEntry).where(AuditEntry.id == victim).values(actor="eve"))
            db.commit()
        page.get_by_role("button", name="Verify chain").click()
        expect(page.get_by_role("alert")).to_contain_text(
            f"Entry #{victim}: content does not match its hash"
        )
        page.screenshot(path=str(ARTIFACTS / "audit-tampered.png"))
        browser.close()
