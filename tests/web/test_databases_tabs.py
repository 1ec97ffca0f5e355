"""The databases pages over HTTP for every database type (both store databases): each tab
of a collected SQLite and MariaDB database renders with the type's own figures, the list
sorts worst first, sorting asks are checked, bad form input is refused with the field, and
a viewer cannot press the operator buttons."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.conftest import form_token
from tests.dbmaint.maint_fixtures import maint_my, my
from tests.dbmaint.service_support import apply, plan_text, sqlite_target, sqlite_with_freelist
from watchkeeper.dbmaint.collection import collect_and_store
from watchkeeper.dbmaint.section import find_target, load_section
from watchkeeper.dbmaint.views import DatabaseSummary
from watchkeeper.runtime.context import AppContext
from watchkeeper.web.database_tabs import growth, millis
from watchkeeper.web.databases import worst_first

__all__ = ["maint_my"]
SMALL = "thresholds: {bloat_min_size: 1KiB}"  # the freelist is a finding
TABS = ("overview", "tables", "indexes", "queries", "maintenance", "recommendations")


def _collect(ctx: AppContext, name: str) -> None:
    with ctx.sessions() as db:
        target = find_target(load_section(db), name)
    outcome = asyncio.run(collect_and_store(ctx.sessions, ctx.metrics, target))
    assert outcome.ok, outcome.error


@pytest.fixture
def planned(ctx: AppContext, tmp_path: Path, maint_my: str) -> AppContext:
    my(
        maint_my,
        "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(200), KEY note_idx (note))",
        "INSERT INTO orders VALUES " + ", ".join(f"({i}, 'n{i}')" for i in range(200)),
    )
    path = sqlite_with_freelist(tmp_path / "app.db")
    mariadb = f"""
    - name: shop-my
      type: mariadb
      url: "mysql://root@127.0.0.1:3306/{maint_my}"
      maintenance:
        - {{name: weekly-optimize, action: optimize, schedule: "0 4 * * 0", windows: [never]}}
    """
    with ctx.sessions() as db:
        apply(db, plan_text(sqlite_target("app", path, extra=SMALL), mariadb))
    _collect(ctx, "app")
    _collect(ctx, "shop-my")
    return ctx


def test_every_tab_of_every_type_renders(
    planned: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    viewer = sign_in("vic", "viewer")
    listed = viewer.get("/databases")
    assert listed.status_code == 200
    assert "app" in listed.text and "shop-my" in listed.text
    assert "mysql://" not in listed.text and "127.0.0.1:3306/wk_maint_" in listed.text
    for name in ("app", "shop-my"):
        for tab in TABS:
            page = viewer.get(f"/databases/{name}", params={"tab": tab})
            assert page.status_code == 200, (name, tab, page.text[:300])
            assert 'aria-current="page">' + tab.capitalize() in page.text
    sqlite = viewer.get("/databases/app").text
    assert "Integrity check" in sqlite and "Free pages" in sqlite
    maria = viewer.get("/databases/shop-my").text
    assert "Buffer pool hit ratio" in maria and "Connections" in maria
    tables = viewer.get("/databases/shop-my", params={"tab": "tables"}).text
    assert ".orders</span>" in tables
    # A sort that is not a column falls back to the default; a tab that is not one is refused.
    assert viewer.get("/databases/app", params={"tab": "tables", "sort": "nope"}).is_success
    assert viewer.get("/databases/app", params={"tab": "nope"}).status_code == 422
    # A viewer sees no buttons, and the routes refuse them.
    assert "Dry run" not in viewer.get("/databases/app", params={"tab": "maintenance"}).text
    refused = viewer.post("/databases/app/tasks/nightly-vacuum/run", data={"mode": "dry-run"})
    assert refused.status_code == 403


def test_operator_forms_refuse_bad_input_naming_the_field(
    planned: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    operator = sign_in("olga", "operator")
    token = form_token(operator, "/databases/app?tab=recommendations")
    page = operator.get("/databases/app", params={"tab": "recommendations"}).text
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert key, "the SQLite database has a recommendation (its freelist)"
    sent = {"csrf_token": token, "key": key.group(1)}
    empty = operator.post("/databases/app/recommendations/dismiss", data={**sent, "reason": " "})
    assert empty.status_code == 422 and "reason: must not be empty" in empty.text
    bad_day = operator.post(
        "/databases/app/recommendations/dismiss",
        data={**sent, "reason": "later", "until": "next week"},
    )
    assert bad_day.status_code == 422 and "until: " in bad_day.text
    past = operator.post(
        "/databases/app/recommendations/dismiss",
        data={**sent, "reason": "later", "until": "2001-01-01"},
    )
    assert past.status_code == 422 and "until: must be in the future" in past.text
    # Outside its windows a run needs the confirmation the button sends.
    closed = operator.post(
        "/databases/app/tasks/closed/run", data={"csrf_token": token, "mode": "run"}
    )
    assert closed.status_code == 409 and "outside its maintenance windows" in closed.text
    unknown = operator.post(
        "/databases/app/tasks/nope/run", data={"csrf_token": token, "mode": "dry-run"}
    )
    assert unknown.status_code == 404 and "nightly-vacuum" in unknown.text
    collected = operator.post("/databases/app/collect", data={"csrf_token": token})
    assert collected.status_code == 303
    assert collected.headers["location"] == "/databases/app?done=collected"
    dry = operator.post(
        "/databases/app/tasks/nightly-vacuum/run", data={"csrf_token": token, "mode": "dry-run"}
    )
    assert dry.status_code == 303
    assert re.fullmatch(
        r"/databases/app\?tab=maintenance&done=dry-run&run=\d+#run-\d+", dry.headers["location"]
    )


def test_helpers() -> None:
    assert growth(None) == "–" and growth(2 * 1024 * 1024) == "+2.0 MiB/day"
    assert growth(-1024) == "−1.0 KiB/day"
    assert [millis(v) for v in (0.05, 3.25, 250, 1500, None)] == [
        "0.05 ms",
        "3.2 ms",
        "250 ms",
        "1.5 s",
        "–",
    ]


def test_worst_first_failing_then_lowest_score_then_never_collected() -> None:
    base = DatabaseSummary(
        name="", type="sqlite", team="", where="", status="ok", score=None, size_bytes=None,
        growth_per_day=None, top_finding=None, findings={}, collected_at=None, last_ok_at=None,
        duration_s=None, queries=None, failures=0, error="", collect_interval_s=300.0,
        size_budget=None,
    )  # fmt: skip
    found = [
        replace(base, name="new", status="pending"),
        replace(base, name="fine", score=98),
        replace(base, name="down", status="unreachable", score=100, failures=5),
        replace(base, name="sick", score=40),
        replace(base, name="flaky", status="failing", score=90, failures=1),
    ]
    assert [s.name for s in worst_first(found)] == ["down", "flaky", "sick", "fine", "new"]
