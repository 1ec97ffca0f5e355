"""The home page in a real browser: the plan-compliance score with its 30-day trend, the
failing sections first and open with their failing objects as links (drill-down), the
followed ones folded to one line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from tests.security.plan_compliance.support import apply_text, declared_at
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.compliance.plan_service import PlanComplianceService
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import BackupRun, CheckStatus, PlanComplianceSnapshot, User, utcnow

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
PLAN = """
name: Example shop — production
checks:
  - {name: shop-frontend, type: tcp, host: 127.0.0.1, port: 1, interval: 30s}
  - {name: postgres-primary, type: tcp, host: 127.0.0.1, port: 2, interval: 30s}
  - {name: redis, type: tcp, host: 127.0.0.1, port: 3, interval: 30s}
notifications:
  channels:
    - {name: ops, type: webhook, url: "http://127.0.0.1:9/hook"}
alerts:
  rules:
    - {name: ShopDown, check: shop-frontend, severity: critical}
  route: {receiver: ops}
backups:
  repositories:
    - {name: local, url: /var/backups/restic, password: repository-password}
  policies:
    - name: orders-db
      source: {type: files, paths: [/srv/orders]}
      repositories: [local]
      schedule: "0 */6 * * *"
access:
  require_mfa: [admin]
"""


def _seed(ctx: AppContext) -> None:
    now = utcnow()
    with ctx.sessions() as db:
        apply_text(db, PLAN)
        declared_at(db, now - timedelta(days=40))
        db.add_all(
            [
                CheckStatus(name="shop-frontend", status="up", last_run_at=now),
                CheckStatus(name="redis", status="up", last_run_at=now),
                CheckStatus(
                    name="postgres-primary", status="up", last_run_at=now - timedelta(minutes=20)
                ),
                BackupRun(
                    policy="orders-db",
                    repository="local",
                    kind="backup",
                    status="succeeded",
                    started_at=now - timedelta(hours=3),
                    finished_at=now - timedelta(hours=3),
                ),
                BackupRun(
                    policy="orders-db",
                    repository="local",
                    kind="drill",
                    status="failed",
                    started_at=now - timedelta(days=1),
                    finished_at=now - timedelta(days=1),
                    error="row counts differ: orders 1200 != 1190",
                ),
                User(username="ada", role="admin", password_hash="x", last_login_at=now),
            ]
        )
        # A month of history: followed, a bad week-end 9 days ago, trouble since yesterday.
        last_ok: dict[str, str | None] = {}
        all_ok: str | None = None
        for hours in range(30 * 24, 0, -1):
            at = now - timedelta(hours=hours)
            weekend = 9 * 24 - 30 < hours < 9 * 24
            today = hours < 26
            statuses = {
                "checks": "failing" if weekend or today else "ok",
                "backups": "failing" if today else "ok",
                "alerts": "ok",
                "notifications": "ok",
                "access": "failing" if today else "ok",
            }
            for name, status in statuses.items():
                if status == "ok":
                    last_ok[name] = at.isoformat()
            if all(s == "ok" for s in statuses.values()):
                all_ok = at.isoformat()
            db.add(
                PlanComplianceSnapshot(
                    evaluated_at=at,
                    score=62.5 if today else 80.0 if weekend else 100.0,
                    sections={
                        n: {"status": s, "last_ok": last_ok.get(n)} for n, s in statuses.items()
                    },
                    summary={
                        "sections": {
                            n: [s, 100.0 if s == "ok" else 50.0] for n, s in statuses.items()
                        },
                        "last_all_ok": all_ok,
                    },
                )
            )
        db.commit()
    PlanComplianceService(ctx.sessions, metrics=ctx.metrics, logs=lambda: ctx.logs.store).run_once()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, AppContext]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "vera", "viewer")
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url, ctx
    finally:
        ctx.close()


def test_home_shows_the_plan_compliance_and_drills_down(
    live: tuple[str, AppContext], chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, ctx = live
    _seed(ctx)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, base, "vera", PASSWORD, problems)
        expect(page.get_by_role("heading", level=1)).to_have_text("Example shop — production")
        expect(page.locator("[data-score]")).to_have_text(re.compile(r"^\d+%$"))
        expect(page.locator(".plan-figure")).to_contain_text("of 5 sections followed")
        expect(page.locator("#plan-trend canvas").first).to_be_visible()

        sections = page.locator("details.plan-section")
        expect(sections.first).to_have_class(re.compile("s-failing"))
        checks = page.locator("#section-checks")
        expect(checks).to_have_attribute("open", "")
        expect(checks).to_contain_text("last ran 20 min ago")
        expect(page.locator("#section-backups")).to_contain_text("row counts differ")
        expect(page.locator("#section-access")).to_contain_text("no second factor")
        alerts = page.locator("#section-alerts")
        expect(alerts).not_to_have_attribute("open", "")
        expect(alerts.locator("summary")).to_contain_text("followed")
        expect(alerts.locator(".evidence")).to_be_hidden()
        expect(page.locator(".not-in-plan")).to_contain_text("Logs")
        page.screenshot(path=str(ARTIFACTS / "home-plan.png"), full_page=True)
        page.get_by_role("button", name="Switch theme").click()
        page.screenshot(path=str(ARTIFACTS / "home-plan-theme-toggled.png"))

        alerts.locator("summary .pill").click()  # a folded section opens on a click
        expect(alerts.locator(".evidence")).to_be_visible()
        checks.get_by_role("link", name="postgres-primary").click()
        expect(page).to_have_url(re.compile(r"/checks/postgres-primary$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("postgres-primary")

        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{base}/")
        expect(phone.locator("#section-checks")).to_be_visible()
        phone.screenshot(path=str(ARTIFACTS / "home-plan-phone.png"), full_page=True)
        browser.close()
    assert problems == []
