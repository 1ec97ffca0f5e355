"""The backups pages in a real browser: the policies table (freshness, last backup, drill,
next run), a policy page with its live progress bar (polled while a run goes on), the size
and duration chart, recent runs, and the runbook with its download link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.backups.support import SECRETS, add_run, apply_backups_plan
from tests.conftest import make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import BackupRun, utcnow

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"


def _seed(ctx: AppContext) -> int:
    """Two weeks of backups of orders-db (growing, one failure), drills, and one backup
    running now; return the running run's id."""
    now = utcnow()
    with ctx.sessions() as db:
        apply_backups_plan(db)
        for i in range(56, 0, -1):  # every 6 hours
            started = now - timedelta(hours=6 * i)
            for repo in ("local", "offsite"):
                add_run(
                    db,
                    "orders-db",
                    started=started,
                    repository=repo,
                    seconds=40 + i % 7 * 5,
                    bytes_total=2_000_000_000 + (56 - i) * 15_000_000,
                    bytes_added=20_000_000 + i % 5 * 3_000_000,
                    snapshot_id=f"{i:04x}beef",
                )
        add_run(
            db,
            "orders-db",
            started=now - timedelta(hours=3),
            repository="offsite",
            status="failed",
            error="Fatal: unable to open config file: server response unexpected: 503",
        )
        for days, ok in ((8, False), (1, True)):
            add_run(
                db,
                "orders-db",
                kind="drill",
                started=now - timedelta(days=days),
                status="succeeded" if ok else "failed",
                rto_s=252.0,
                rpo_s=10_800.0,
                error="" if ok else "row counts differ: orders 1200 != 1190",
            )
        add_run(db, "uploads", started=now - timedelta(hours=40), bytes_total=5_000_000)
        running = add_run(
            db,
            "orders-db",
            started=now - timedelta(seconds=20),
            status="running",
            trigger="vera",
            details={
                "progress": {
                    "fraction": 0.25,
                    "bytes_done": 500_000_000,
                    "bytes_total": 2_000_000_000,
                    "seconds_remaining": 60,
                }
            },
        )
        db.commit()
        return running.id


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


def test_policies_progress_chart_and_runbook(live: tuple[str, AppContext], chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, ctx = live
    run_id = _seed(ctx)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, base, "vera", PASSWORD, problems)
        page.get_by_role("navigation").get_by_role("link", name="Backups").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Backups")
        rows = page.locator("table.backups tbody tr")
        expect(rows).to_have_count(3)
        orders = rows.filter(has_text="orders-db")
        expect(orders).to_contain_text("fresh")
        expect(orders).to_contain_text("passed")
        expect(orders).to_contain_text("RTO 4 min")
        expect(orders).to_contain_text("running")
        expect(rows.filter(has_text="uploads")).to_contain_text("late")
        expect(rows.filter(has_text="shop-mariadb")).to_contain_text("never backed up")
        expect(rows.filter(has_text="shop-mariadb")).to_contain_text("drills off")
        page.screenshot(path=str(ARTIFACTS / "backups.png"), full_page=True)

        orders.get_by_role("link", name="orders-db").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("orders-db")
        bar = page.locator("#backup-progress progress")
        expect(bar).to_have_attribute("value", "0.2500")
        expect(page.locator("#backup-progress")).to_contain_text("about 1 min left")
        expect(page.locator("#backup-chart canvas").first).to_be_visible()
        expect(page.locator("#backup-chart")).to_contain_text("size")
        expect(page.locator("table.repos")).to_contain_text("unable to open config file")
        expect(page.locator("table.runs tbody tr")).to_have_count(25)
        runbook = page.locator(".runbook")
        expect(runbook.get_by_role("heading", name="How to restore")).to_be_visible()
        expect(runbook).to_contain_text("restic dump latest --tag policy=orders-db")
        page.screenshot(path=str(ARTIFACTS / "backup-policy.png"))
        runbook.screenshot(path=str(ARTIFACTS / "backup-runbook.png"))
        page.locator("#backup-chart").screenshot(path=str(ARTIFACTS / "backup-chart.png"))
        text = page.content()
        for secret in SECRETS:
            assert secret not in text

        # The bar moves without a reload, then goes away when the run ends.
        with ctx.sessions() as db:
            progress = {"fraction": 0.75, "bytes_done": 1_500_000_000, "bytes_total": 2 * 10**9}
            db.execute(
                update(BackupRun)
                .where(BackupRun.id == run_id)
                .values(details={"progress": progress})
            )
            db.commit()
        expect(bar).to_have_attribute("value", "0.7500", timeout=10_000)
        with ctx.sessions() as db:
            db.execute(
                update(BackupRun)
                .where(BackupRun.id == run_id)
                .values(status="succeeded", finished_at=utcnow(), details={})
            )
            db.commit()
        expect(page.locator("#backup-progress progress")).to_have_count(0, timeout=10_000)

        with page.expect_download() as download:
            page.get_by_role("link", name="Download runbook (Markdown)").click()
        assert download.value.suggested_filename == "runbook-orders-db.md"
        saved = Path(download.value.path()).read_text()
        assert saved.startswith("# Disaster recovery runbook: orders-db")

        page.goto(f"{base}/backups/nope")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Not found")
        browser.close()
    assert [p for p in problems if "/backups/nope" not in p] == []
