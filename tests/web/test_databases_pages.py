"""The databases pages in a real browser, on both store databases, over a real collection of
a throw-away PostgreSQL database (bloat from churn, unused, duplicate and invalid indexes,
sequential scans, a slow statement) plus a few days of size and statement history written
into the metrics store: the list worst first, the detail's tabs and charts, a dry run and a
queued run carried out by the database service, dismissing and restoring a recommendation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from tests.conftest import make_user
from tests.dbmaint.pg_fixtures import make_problems, scratch_database
from tests.dbmaint.service_support import apply, plan_text, sqlite_target
from tests.helpers import ARTIFACTS, CHROMIUM_ARGS, LiveServer, signed_in_page
from watchkeeper.dbmaint.collection import PREFIX, collect_and_store
from watchkeeper.dbmaint.section import find_target, load_section
from watchkeeper.dbmaint.service import DbMaintService
from watchkeeper.metrics.labels import make_labels
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import DbHealth, utcnow

pytestmark = pytest.mark.browser
T = TypeVar("T")
PASSWORD = "correct horse battery staple"
MIB = 1024 * 1024
GROWTH = 2 * MIB  # a day


def _shop(url: str) -> str:
    return f"""
    - name: shop
      type: postgres
      url: "{url}"
      team: payments
      size_budget: 64MiB
      disk: {{host: db-1, mountpoint: /var/lib/postgresql}}
      collect_interval: 1h
      thresholds: {{unused_index_min_size: 1KiB, bloat_min_size: 1KiB}}
      maintenance:
        - {{name: nightly-vacuum, action: vacuum, schedule: "0 3 * * *", windows: [always]}}
        - {{name: weekend-reindex, action: reindex, schedule: "0 4 * * 6", windows: [never]}}
    """


def _in_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` to the end in a thread of its own: Playwright's sync API owns this
    thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result(timeout=120)


def _collect(ctx: AppContext, name: str) -> None:
    with ctx.sessions() as db:
        target = find_target(load_section(db), name)
    _in_thread(lambda: collect_and_store(ctx.sessions, ctx.metrics, target))


def _history(ctx: AppContext, at: datetime) -> None:
    """Five days of hourly size samples growing 2 MiB a day (with noise) up to the collected
    size, two tables growing too, and six hours of statement counters of the three queries
    with the most time (their mean time per call rising)."""
    with ctx.sessions() as db:
        health = db.get(DbHealth, "shop")
        assert health is not None and health.ok, health and health.error
        size, details = float(health.size_bytes), dict(health.details)
    end = int(at.timestamp() * 1000)
    hours = np.arange(5 * 24, 0, -1)  # 120 h before the collection ... 1 h before
    ts = [end - int(h) * 3_600_000 for h in hours]
    batch: list[tuple[Any, list[tuple[int, float]]]] = []

    def series(name: str, values: list[float], **labels: str) -> None:
        names = {"__name__": PREFIX + name, "database": "shop", **labels}
        batch.append((make_labels(names), list(zip(ts, values, strict=True))))

    noise = np.random.default_rng(7).normal(0, MIB / 4, len(hours))  # a visible band
    series("size_bytes", [size - GROWTH * h / 24 + n for h, n in zip(hours, noise, strict=True)])
    for table, per_day in (("public.churn", MIB), ("public.orders", MIB / 4)):
        now_size = next(float(t["total_bytes"]) for t in details["tables"] if t["name"] == table)
        series("table_size_bytes", [now_size - per_day * h / 24 for h in hours], table=table)
    queries = sorted(details["queries"], key=lambda q: -q["total_ms"])[:3]
    ts = ts[-6:]
    for q in queries:
        calls, spent = float(q["calls"]), float(q["total_ms"]) / 1000
        shares = [(7 - h) / 7 for h in range(6, 0, -1)]  # 1/7 ... 6/7 of today's counts
        series("statement_calls_total", [calls * s for s in shares], queryid=q["queryid"])
        series(
            "statement_exec_seconds_total",
            [spent * s**1.5 for s in shares],
            queryid=q["queryid"],
        )
    gib = 1024 * MIB  # the host agent's filesystem: 10 GiB, 4 GiB used, +50 MiB a day
    for name, values in (
        ("node_filesystem_size_bytes", [10.0 * gib] * len(hours)),
        ("node_filesystem_avail_bytes", [6 * gib + 50 * MIB * h / 24 for h in hours]),
    ):
        labels = {"__name__": name, "instance": "db-1", "mountpoint": "/var/lib/postgresql"}
        hourly = [end - int(h) * 3_600_000 for h in hours]
        batch.append((make_labels(labels), list(zip(hourly, values, strict=True))))
    ctx.metrics.write(batch)


def _leader_pass(ctx: AppContext) -> list[int]:
    """One pass of the database service: it claims and runs the queued runs."""

    async def work() -> list[int]:
        svc = DbMaintService(ctx.sessions, ctx.metrics)
        claimed = (await svc.run_once()).queued
        await svc.wait_idle()
        return claimed

    return _in_thread(work)


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot from the top (the sticky top bar stays where it belongs)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def shop_url() -> Iterator[str]:
    with scratch_database("wk_dbweb_") as url:
        make_problems(url)
        yield url


@pytest.fixture
def live(ctx: AppContext) -> Iterator[str]:
    make_user(ctx, "vera", "viewer")
    make_user(ctx, "olga", "operator")
    with LiveServer(create_app(ctx)) as server:
        yield server.url


def test_list_tabs_charts_runs_and_dismissals(
    ctx: AppContext, live: str, shop_url: str, tmp_path: Path, chromium: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = signed_in_page(browser, live, "vera", PASSWORD, problems)
        page.get_by_role("navigation").get_by_role("link", name="Databases").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Databases")
        expect(page.locator(".card.empty")).to_contain_text("databases.targets")

        with ctx.sessions() as db:
            apply(
                db,
                plan_text(
                    _shop(shop_url),
                    sqlite_target("gone", tmp_path / "missing.db"),
                    sqlite_target("fresh", tmp_path / "fresh.db"),
                ),
            )
        _collect(ctx, "shop")
        _collect(ctx, "gone")
        _history(ctx, utcnow())

        page.reload()
        rows = page.locator("table.databases tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.nth(0)).to_contain_text("gone")  # failing: worst first
        expect(rows.nth(0)).to_contain_text("failing")
        expect(rows.nth(0)).to_contain_text("does not exist")
        expect(rows.nth(1)).to_contain_text("shop")
        expect(rows.nth(1)).to_contain_text("+2.0 MiB/day")
        expect(rows.nth(1)).to_contain_text("127.0.0.1:5432/wk_dbweb_")
        expect(rows.nth(1).locator(".score")).to_have_text(re.compile(r"^\d+$"))
        expect(rows.nth(1).locator(".sev")).to_have_count(1)  # the top finding
        expect(rows.nth(2)).to_contain_text("fresh")
        expect(rows.nth(2)).to_contain_text("never")
        _shot(page, "databases")

        # Overview: where (never the URL), headline figures, the size chart and forecast.
        rows.nth(1).get_by_role("link", name="shop").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("shop")
        expect(page.locator(".where")).to_contain_text("127.0.0.1:5432/wk_dbweb_")
        assert "postgresql://" not in page.content()
        headlines = page.locator(".headlines")
        for label in ("Connections", "Cache hit ratio", "Transaction ID age", "Blocked sessions"):
            expect(headlines).to_contain_text(label)
        expect(headlines).to_contain_text("no replicas")
        expect(page.locator("#db-size-chart canvas").first).to_be_visible()
        expect(page.locator(".forecast").first).to_contain_text("Reaches its budget of 64.0 MiB on")
        expect(page.locator("#disk-forecast")).to_contain_text("db-1:/var/lib/postgresql")
        expect(page.locator("#disk-forecast")).to_contain_text("Full on")
        expect(page.locator("table.growth")).to_contain_text("public.churn")
        _shot(page, "database-overview")

        # Tables: flags, sorting by a column heading.
        page.locator(".db-tabs").get_by_role("link", name="Tables").click()
        tables = page.locator("table.db-tables tbody tr")
        expect(tables.filter(has_text="public.churn")).to_contain_text("vacuum")
        page.get_by_role("link", name="Dead tuples").click()
        expect(page).to_have_url(f"{live}/databases/shop?tab=tables&sort=dead")
        expect(tables.first).to_contain_text("public.churn")
        expect(tables.first).to_contain_text("10,000")
        _shot(page, "database-tables")

        # Indexes: unused, duplicate and invalid flags.
        page.locator(".db-tabs").get_by_role("link", name="Indexes").click()
        indexes = page.locator("table.db-indexes tbody tr")
        expect(indexes.filter(has_text="public.orders_note_idx")).to_contain_text("unused")
        expect(indexes.filter(has_text="public.orders_customer_dup")).to_contain_text("duplicate")
        expect(indexes.filter(has_text="public.dup_v_key")).to_contain_text("invalid")
        _shot(page, "database-indexes")

        # Queries: the top statements and their mean time history.
        page.locator(".db-tabs").get_by_role("link", name="Queries").click()
        expect(page.locator("table.db-queries")).to_contain_text("pg_sleep")
        expect(page.locator("#db-query-chart canvas").first).to_be_visible()
        expect(page.locator("table.db-queries svg.sparkline")).to_have_count(3)
        _shot(page, "database-queries")

        # A viewer sees the tasks but no buttons.
        page.locator(".db-tabs").get_by_role("link", name="Maintenance").click()
        expect(page.locator("table.db-tasks")).to_contain_text("nightly-vacuum")
        expect(page.locator("#task-nightly-vacuum")).to_contain_text("open now")
        expect(page.locator("#task-weekend-reindex")).to_contain_text("closed now")
        expect(page.get_by_role("button", name="Dry run")).to_have_count(0)
        page.close()

        op = signed_in_page(browser, live, "olga", PASSWORD, problems)
        op.goto(f"{live}/databases/shop?tab=maintenance")
        task = op.locator("#task-nightly-vacuum")
        task.get_by_role("button", name="Dry run").click()
        expect(op.locator(".alert.ok")).to_contain_text("Dry run recorded")
        dry = op.locator("tbody.run.highlight")
        expect(dry).to_contain_text("dry run")
        expect(dry.locator("details")).to_have_attribute("open", "")
        expect(dry.locator("pre.sql").first).to_contain_text('VACUUM (ANALYZE) "public"."churn"')
        expect(op.locator("#task-weekend-reindex")).to_contain_text("Run now (outside windows)")

        op.locator("#task-nightly-vacuum").get_by_role("button", name="Run now").click()
        expect(op.locator(".alert.ok")).to_contain_text("Run queued")
        queued = op.locator("tbody.run.highlight")
        expect(queued).to_contain_text("queued")
        assert len(_leader_pass(ctx)) == 1
        # The runs list polls while the run is queued: it shows the outcome unreloaded.
        expect(queued).to_contain_text("succeeded", timeout=15_000)
        expect(queued).to_contain_text("dead tuples 10,000 → 0")
        _shot(op, "database-maintenance")

        # Recommendations: the exact SQL, dismiss with a reason, restore.
        op.locator(".db-tabs").get_by_role("link", name="Recommendations").click()
        unused = op.locator("li.rec").filter(has_text="Unused index public.orders_note_idx")
        expect(unused.locator("pre.sql")).to_have_text(
            "DROP INDEX CONCURRENTLY public.orders_note_idx;"
        )
        _shot(op, "database-recommendations")
        unused.get_by_text("Dismiss…").click()
        # The server refuses an empty reason (the browser would not send one).
        unused.get_by_label("Why").evaluate("el => el.removeAttribute('required')")
        unused.get_by_role("button", name="Dismiss").click()
        expect(op.locator(".alert.error")).to_contain_text("reason: must not be empty")
        unused = op.locator("li.rec").filter(has_text="Unused index public.orders_note_idx")
        unused.get_by_text("Dismiss…").click()
        unused.get_by_label("Why").fill("read by the month-end report")
        unused.get_by_role("button", name="Dismiss").click()
        expect(op.locator(".alert.ok")).to_contain_text("Recommendation dismissed")
        expect(op.locator("li.rec").filter(has_text="public.orders_note_idx")).to_have_count(0)
        gone = op.locator("table.dismissed tbody tr").filter(has_text="orders_note_idx")
        expect(gone).to_contain_text("olga")
        expect(gone).to_contain_text("read by the month-end report")
        _shot(op, "database-dismissed")
        gone.get_by_role("button", name="Restore").click()
        expect(op.locator(".alert.ok")).to_contain_text("shown again")
        expect(op.locator("li.rec").filter(has_text="public.orders_note_idx")).to_have_count(1)

        op.goto(f"{live}/databases/nope")
        expect(op.get_by_role("heading", level=1)).to_contain_text("Not found")
        browser.close()
    expected = ("/databases/nope", "422 ")  # the page for no such database; the empty reason
    assert [p for p in problems if not any(e in p for e in expected)] == []
