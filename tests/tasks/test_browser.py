"""Tasks in a real browser: the list with what is due (overdue first) and each task's
on-time rate, a task's page with its rendered description and history, and an instance
completed through its form (a missing comment is refused and named, then ticking the
checklist, writing the comment and attaching a file completes it). Light and dark
screenshots land in ``test-artifacts/``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, chromium_or_skip, signed_in_page
from tests.tasks.support import Clock, apply_tasks, instances
from watchkeeper.runtime.context import AppContext
from watchkeeper.tasks.service import TasksService

pytestmark = pytest.mark.browser
MONDAY = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def both_themes(page: Any, name: str) -> None:
    for scheme, suffix in (("light", ""), ("dark", "-dark")):
        page.emulate_media(color_scheme=scheme)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / f"{name}{suffix}.png"), full_page=True)
    page.emulate_media(color_scheme="light")


def test_list_task_and_complete_an_instance(
    ctx: AppContext, server: LiveServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_or_skip()
    with ctx.sessions() as db:
        apply_tasks(db)
    TasksService(ctx.sessions, clock=Clock(MONDAY)).run_once()
    with ctx.sessions() as db:
        review = instances(db, "log-review")[0].id
    make_user(ctx, "rita", "responder")
    evidence = tmp_path / "errors.csv"
    evidence.write_text("id,triaged\n1,yes\n")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "rita", ADMIN_PASSWORD, problems)

        page.goto(f"{server.url}/tasks")
        expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")
        expect(page.locator("table.task-due tbody tr")).to_have_count(2)
        expect(page.locator("table.task-due tbody tr").first).to_contain_text("Weekly log review")
        expect(page.locator("#due h2")).to_contain_text("2 overdue")
        expect(page.locator("table.task-list")).to_contain_text("0%")
        both_themes(page, "tasks")

        page.locator("table.task-list").get_by_role("link", name="Weekly log review").click()
        expect(page.locator("#description strong")).to_have_text("error")
        expect(page.locator("#history tbody tr")).to_have_count(1)
        both_themes(page, "task")

        page.goto(f"{server.url}/tasks/log-review/instances/{review}")
        page.get_by_label("Open the saved search").check()
        page.get_by_role("button", name="Complete").click()
        expect(page.locator("#problems")).to_contain_text(
            "comment: this task needs a comment as evidence"
        )
        expect(page.locator("#problems")).to_contain_text("tick every step first")
        problems.remove(next(p for p in problems if p.startswith("422 ")))
        both_themes(page, "task-instance-form")

        page.get_by_label("Open the saved search").check()
        page.get_by_label("Triage each new error").check()
        page.get_by_label("Comment").fill("Two new errors, both triaged.")
        page.locator("input[name=files]").set_input_files(str(evidence))
        page.get_by_role("button", name="Complete").click()
        expect(page.locator("[role=status]")).to_contain_text("Completed")
        expect(page.locator(".task-banner.done")).to_contain_text("by rita, late")
        expect(page.locator("#files")).to_contain_text("✓ matches")
        both_themes(page, "task-instance-done")
        browser.close()
    assert problems == []


def test_calendar_agenda(ctx: AppContext, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.tasks.test_calendar import PLAN as CALENDAR_PLAN

    chromium = chromium_or_skip()
    with ctx.sessions() as db:
        apply_tasks(db, CALENDAR_PLAN)
    TasksService(ctx.sessions, clock=Clock(datetime(2026, 1, 5, 9, tzinfo=UTC))).run_once()
    make_user(ctx, "alice", "viewer")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, server.url, "alice", ADMIN_PASSWORD, problems)
        page.goto(f"{server.url}/calendar?start=2026-01-05&days=7")
        expect(page.get_by_role("heading", level=1)).to_have_text("Calendar")
        monday = page.locator(".cal-day").first
        expect(monday).to_contain_text("Mon 05 Jan 2026")
        expect(monday).to_contain_text("Weekly log review (overdue)")
        expect(page.locator(".cal-agenda")).to_contain_text("api 2.0.0 to production")
        expect(page.locator(".cal-agenda")).to_contain_text("Drill page-test")
        both_themes(page, "calendar")
        page.get_by_label("only mine").check()
        page.get_by_role("button", name="Show").click()
        expect(page.locator(".cal-agenda")).not_to_contain_text("Access review")
        expect(page.locator(".cal-agenda")).to_contain_text("On call: primary (alice)")
        browser.close()
    assert problems == []
