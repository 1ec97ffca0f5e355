"""The compliance pages in a real browser over three months of evaluations: controls grouped
by framework, a control with its evidence facts and timeline, generating a report as an
operator, downloading it and verifying the file. Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.conftest import make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from tests.security.compliance.support import BACKUPS_PLAN, add_backup_run, add_user
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.compliance.evaluate import evaluate_all
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import User, utcnow

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
PLAN = (
    """
name: Acme production
compliance:
  frameworks: [soc2, gdpr]
  disabled: [GDPR-33.1-DETECTION]
  controls:
    - name: SOC2-A1.3-RECOVERY-TESTS
      title: Restores are tested weekly and finish within an hour
      references: [SOC 2 A1.3]
      owner: platform-team
      evidence:
        - {query: backup_drills_passed, within: 8d, policies: [db-main]}
        - {query: restore_rto_under, objective: 1h, policies: [db-main]}
    - name: WK-DB-1
      title: Databases are vacuumed every week
      description: The app database had a successful maintenance run in the last 8 days.
      references: [ISO 27001:2022 A.8.13]
      owner: dba-team
      evidence: [{query: database_maintenance_ran, within: 8d}]
logs:
  retention:
    - {name: audit, match: '{source="watchkeeper", stream="audit"}', keep: 400d}
checks:
  - {name: api, type: http, url: "https://api.example.com/health"}
  - {name: shop, type: http, url: "http://shop.example.com/"}
"""
    + BACKUPS_PLAN
)


def _seed(ctx: AppContext) -> None:
    """Ninety days of evaluations: the MFA control passes until an admin without a second
    factor arrives 20 days ago, fails, passes again once they set one up 6 days ago; drills
    run weekly and one failed three weeks ago."""
    now = utcnow()
    start = now - timedelta(days=90)
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(textwrap.dedent(PLAN), env={}))
        db.execute(update(User).values(last_login_at=now - timedelta(days=1)))
        add_user(db, "alice", mfa="totp", last_login=now - timedelta(days=2))
        db.commit()
        for week in range(13):
            at = start + timedelta(days=7 * week)
            failed = week == 10
            add_backup_run(
                db,
                "db-main",
                kind="drill",
                ended=at,
                status="failed" if failed else "succeeded",
                rto_s=None if failed else 1800.0 + week * 60,
                error="row count of orders differs: 1200 restored, 1250 expected" if failed else "",
            )
            add_backup_run(db, "db-main", ended=at)
            db.commit()
            if week == 10:
                add_user(db, "mallory", last_login=at)
                db.commit()
            if week == 12:
                db.execute(update(User).where(User.username == "mallory").values(role="viewer"))
                db.commit()
            evaluate_all(db, at + timedelta(minutes=5))
            db.commit()
        for policy, repository in (
            ("db-main", "local"),
            ("db-main", "offsite"),
            ("files", "local"),
        ):
            add_backup_run(db, policy, repository=repository, ended=now - timedelta(hours=5))
        add_backup_run(db, "db-main", kind="drill", ended=now - timedelta(days=1), rto_s=2460.0)
        db.commit()
        evaluate_all(db, now)
        db.commit()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, AppContext]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "otto", "operator")
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url, ctx
    finally:
        ctx.close()


def test_controls_control_and_reports(
    live: tuple[str, AppContext], chromium: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, ctx = live
    _seed(ctx)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, base, "otto", PASSWORD, problems, height=1000)
        page.get_by_role("navigation").get_by_role("link", name="Compliance").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Compliance")
        expect(page.get_by_role("heading", name="SOC 2")).to_be_visible()
        expect(page.get_by_role("heading", name="GDPR")).to_be_visible()
        expect(page.get_by_role("heading", name="The plan's own controls")).to_be_visible()
        mfa = page.locator("table.controls tr", has_text="SOC2-CC6.1-MFA")
        expect(mfa).to_contain_text("passing")
        expect(mfa).to_contain_text("Admin users with a second factor: 1 of 1.")
        expect(mfa).to_contain_text("SOC 2 CC6.1")
        tls = page.locator("table.controls tr", has_text="SOC2-CC6.7-TLS")
        expect(tls).to_contain_text("failing")
        expect(tls).to_contain_text("not: shop")
        recovery = page.locator("table.controls tr", has_text="SOC2-A1.3-RECOVERY-TESTS")
        expect(recovery).to_contain_text("replaced in the plan")
        expect(page.locator("table.controls tr", has_text="GDPR-33.1-DETECTION")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "compliance.png"), full_page=True)

        mfa.get_by_role("link", name="Administrators sign in with a second factor").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(
            "Administrators sign in with a second factor"
        )
        expect(page.locator(".timeline rect.seg-fail")).to_have_count(1)
        expect(page.locator(".timeline rect.seg-pass")).to_have_count(2)
        expect(page.locator("table.facts")).to_contain_text("alice")
        history = page.locator("table.history tbody tr")
        expect(history).to_have_count(3)
        expect(history.nth(1)).to_contain_text("without: mallory")
        page.screenshot(path=str(ARTIFACTS / "compliance-control.png"), full_page=True)

        page.goto(f"{base}/compliance")
        form = page.locator("form[action='/compliance/reports']")
        form.get_by_label("From").fill((utcnow() - timedelta(days=89)).date().isoformat())
        form.get_by_role("button", name="Generate").click()
        expect(page.get_by_role("status")).to_contain_text("Report #1 issued")
        row = page.locator("table.reports tbody tr")
        expect(row).to_have_count(1)
        expect(page.locator("[data-public-key]")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
        with page.expect_download() as download:
            row.get_by_role("link", name="PDF").click()
        pdf = tmp_path / download.value.suggested_filename
        download.value.save_as(pdf)
        assert pdf.read_bytes().startswith(b"%PDF")
        with page.expect_download() as download:
            row.get_by_role("link", name="HTML").click()
        html = tmp_path / download.value.suggested_filename
        download.value.save_as(html)
        report = browser.new_page(viewport={"width": 1100, "height": 1000})
        report.goto(html.resolve().as_uri())  # a file: nothing fetched from the server
        expect(report.locator("h1")).to_contain_text("Compliance report")
        report.screenshot(path=str(ARTIFACTS / "compliance-report-html.png"))
        report.close()

        verify = page.locator("form[action='/compliance/reports/verify']")
        verify.locator("input[type=file]").set_input_files(str(pdf))
        verify.get_by_role("button", name="Verify").click()
        expect(page.locator(".verification")).to_contain_text("Valid: the PDF of report #1")
        html.write_text(html.read_text().replace("Acme production", "Acme staging"))
        verify = page.locator("form[action='/compliance/reports/verify']")
        verify.locator("input[type=file]").set_input_files(str(html))
        verify.get_by_role("button", name="Verify").click()
        expect(page.locator(".verification")).to_contain_text("Edited: the content differs")
        page.locator("#reports").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "compliance-reports.png"))

        browser.close()
    assert problems == []
