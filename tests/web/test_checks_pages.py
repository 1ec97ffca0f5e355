"""The checks list, a check's page and the checks API, with stored results."""

from __future__ import annotations

from datetime import timedelta

import httpx

from watchkeeper.checks.history import Result, write_batch
from watchkeeper.checks.state import CheckState
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import utcnow

PLAN = """
checks:
  - {name: shop, type: http, url: "https://shop.example.com/", tags: [web], team: web}
  - {name: db, type: tcp, host: 127.0.0.1, port: 5432, tags: [data], team: platform}
  - {name: fresh, type: tcp, host: 127.0.0.1, port: 1}
"""


def seed(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN))
        now = utcnow()
        shop = [
            Result("shop", now - timedelta(minutes=i), i % 10 != 0, 80.0 + i, "HTTP 200")
            for i in range(1, 60)
        ]
        db_results = [Result("db", now - timedelta(minutes=1), False, None, "refused")]
        write_batch(db, shop, {"shop": CheckState("up")}, [])
        write_batch(
            db,
            db_results,
            {"db": CheckState("down", failures=1, changed_at=now)},
            [("db", "up", "down", now, "refused")],
        )
        db.commit()


def test_list_shows_down_first_with_uptime(ctx: AppContext, admin: httpx.Client) -> None:
    seed(ctx)
    page = admin.get("/checks")
    assert page.status_code == 200
    assert page.text.index(">db<") < page.text.index(">shop<")  # down first
    assert "91.53%" in page.text  # 54 of 59 runs passed in the last 24 h
    filtered = admin.get("/checks", params={"team": "web"}).text
    assert ">shop<" in filtered and ">db<" not in filtered
    assert ">fresh<" in admin.get("/checks", params={"status": "pending"}).text
    # The hourly uptime bar and the response-time sparkline are drawn inline.
    assert page.text.count('class="uptime-bar"') == 3
    assert 'class="partial"' in page.text  # shop: some runs failed this hour
    assert "<polyline" in page.text or "<circle" in page.text  # one or two hours of runs
    assert "runs</title>" in page.text


def test_check_page_and_chart_data(ctx: AppContext, admin: httpx.Client) -> None:
    seed(ctx)
    page = admin.get("/checks/db")
    assert page.status_code == 200
    assert "Down:" in page.text and "refused" in page.text and 'data-chart="' in page.text
    series = admin.get("/api/v1/checks/shop/results").json()
    assert len(series["t"]) == 59 and series["t"] == sorted(series["t"])
    assert series["ms"].count(None) == series["ok"].count(0) == 5
    assert admin.get("/checks/nope").status_code == 404


def test_checks_api_lists_state_and_uptime(ctx: AppContext, admin: httpx.Client) -> None:
    seed(ctx)
    body = admin.get("/api/v1/checks").json()
    assert body["counts"] == {"up": 1, "down": 1, "pending": 1}
    first = body["checks"][0]
    assert first["name"] == "db" and first["status"] == "down"
    assert admin.get("/api/v1/checks/db").json()["uptime"]["24h"] == 0.0
    assert admin.get("/api/v1/checks/nope").status_code == 404
