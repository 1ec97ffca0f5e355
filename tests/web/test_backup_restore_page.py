"""The restore page in a real browser: an admin picks a restore point read from a real
restic repository, names a new directory, queues the restore, sees it waiting on the
policy's page, and after the scheduler's pass finds it done. Viewers get no restore button."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.backups.dbs import REPO_PASSWORD
from tests.backups.restic_support import source_dir
from tests.conftest import make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from watchkeeper.backups.restic import Restic
from watchkeeper.backups.schedule import BackupScheduler
from watchkeeper.backups.views import load_section
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, AppContext, BackupScheduler, Path]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = AppContext.create(load_settings(env={}, home=tmp_path / "home", database_url=url), {})
    make_user(ctx, "ada", "admin", PASSWORD)
    make_user(ctx, "vera", "viewer", PASSWORD)
    src = source_dir(tmp_path)
    text = textwrap.dedent(
        f"""
        backups:
          repositories:
            - {{name: local, url: "{tmp_path / "repo"}", password: {REPO_PASSWORD}}}
          policies:
            - name: docs
              source: {{type: files, paths: ["{src}"]}}
              repositories: [local]
        """
    )
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(text, env={}))
        db.commit()
        section = load_section(db)
    restic = Restic(cache_dir=ctx.settings.home / "cache" / "restic")
    scheduler = BackupScheduler(ctx.sessions, restic, settings=ctx.settings)
    for _ in range(2):
        (outcome,) = asyncio.run(scheduler.runner.backup(section, "docs", trigger="test"))
        assert outcome.ok, outcome.error
    try:
        with LiveServer(create_app(ctx)) as server:
            yield server.url, ctx, scheduler, src
    finally:
        ctx.close()


def test_admin_restores_files_from_the_browser(
    live: tuple[str, AppContext, BackupScheduler, Path], chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, ctx, scheduler, src = live
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        viewer = signed_in_page(browser, base, "vera", PASSWORD, problems)
        viewer.goto(f"{base}/backups/docs")
        expect(viewer.get_by_role("heading", level=1)).to_contain_text("docs")
        expect(viewer.get_by_role("link", name="Restore…")).to_have_count(0)
        viewer.close()

        page = signed_in_page(browser, base, "ada", PASSWORD, problems)
        page.goto(f"{base}/backups/docs")
        page.get_by_role("link", name="Restore…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Restore docs")
        rows = page.locator(".restore-points tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text(str(src))
        expect(rows.first.locator("input[type=radio]")).to_be_checked()
        page.get_by_label("New directory under").fill("docs-copy")
        page.screenshot(path=str(ARTIFACTS / "backup-restore.png"), full_page=True)
        page.get_by_role("button", name="Restore").click()

        expect(page.get_by_role("heading", level=1)).to_contain_text("docs")
        progress = page.locator("#backup-progress")
        expect(progress).to_contain_text("restore")
        expect(progress).to_contain_text("queued")
        page.screenshot(path=str(ARTIFACTS / "backup-restore-queued.png"))

        async def one_pass() -> None:
            await scheduler.run_once()
            await scheduler.wait_idle()

        # Playwright's sync API runs its own loop in this thread: the pass runs in another.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, one_pass()).result()
        page.reload()
        expect(page.locator("#backup-progress")).not_to_contain_text("queued")
        runs = page.locator("table.runs tbody tr").filter(has_text="restore")
        expect(runs.first).to_contain_text("succeeded")
        restored = ctx.settings.home / "restores" / "docs-copy" / str(src).lstrip("/")
        assert (restored / "sub" / "b.txt").read_text() == "beta\n"

        # a bad name comes back as a message on the form, nothing queued
        page.goto(f"{base}/backups/docs/restore")
        page.get_by_label("New directory under").evaluate("e => e.removeAttribute('pattern')")
        page.get_by_label("New directory under").fill("../etc")
        page.get_by_role("button", name="Restore").click()
        expect(page.get_by_role("alert")).to_contain_text("directory")
        browser.close()
    assert [p for p in problems if " 422 " not in f" {p} "] == []
