"""The capacity API and page over real HTTP: the report in "runs out first" order with its
filters, one forecast with its chart series, the refresh route's role, problems for bad
input."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.helpers import LiveServer
from tests.releases.capacity_support import PLAN, hours, push_host
from tests.releases.support import apply
from watchkeeper.releases.capacity.service import CapacityService
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import utcnow

SignIn = Callable[..., httpx.Client]


@pytest.fixture
def refreshed(ctx: AppContext) -> None:
    """web-1's disk fills (90% in 4 days), web-2's is flat; forecasts refreshed at the
    start of this hour (the report counts days left from the clock's now)."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    apply(ctx.sessions, PLAN)
    push_host(ctx.metrics, "web-1", hours(-4, 0, now), lambda d: 0.70 + 0.05 * d, now=now)
    push_host(ctx.metrics, "web-2", hours(-4, 0, now), lambda d: 0.30 + 0 * d, now=now)
    CapacityService(ctx.sessions, ctx.metrics, clock=lambda: now).run_once()


def test_the_report_lists_what_runs_out_first(
    refreshed: None, server: LiveServer, sign_in: SignIn
) -> None:
    client = sign_in("viewer", "viewer")
    body = client.get("/api/v1/capacity").json()
    assert body["counts"]["soon"] == 2 and body["counts"]["error"] == 2
    items = body["items"]
    first = items[0]
    assert first["status"] == "soon"
    assert 3.9 < first["days_left"] <= 4.0
    assert "web-1 · disk /" in {first["title"], items[1]["title"]}
    assert [i["status"] for i in items][-2:] == ["error", "error"]
    disk = next(i for i in items if i["title"] == "web-1 · disk /")
    assert disk["kind"] == "host" and disk["unit"] == "bytes" and disk["fit"] == "linear"
    assert disk["labels"] == {"host": "web-1", "resource": "disk", "mountpoint": "/"}

    only = client.get("/api/v1/capacity", params={"kind": "host", "host": "WEB-2"}).json()
    assert {i["host"] for i in only["items"]} == {"web-2"}
    assert {i["kind"] for i in only["items"]} == {"host"}

    detail = client.get(f"/api/v1/capacity/{disk['id']}").json()
    series = detail["series"]
    assert series["unit"] == "bytes" and series["limit"] == pytest.approx(90 * 1024**3)
    assert len(series["t"]) == len(series["value"]) == len(series["fit"]) == len(series["high"])
    known = [v for v in series["value"] if v is not None]
    projected = [v for v in series["fit"] if v is not None]
    assert len(known) == 4 * 24 and projected  # the hourly history, then the projection
    assert series["t"] == sorted(series["t"])


def test_within_filters_by_days_left(refreshed: None, server: LiveServer, sign_in: SignIn) -> None:
    client = sign_in("viewer", "viewer")
    assert client.get("/api/v1/capacity", params={"within": "3d"}).json()["items"] == []
    some = client.get("/api/v1/capacity", params={"within": "5d"}).json()["items"]
    assert sorted(i["resource"] for i in some) == ["disk", "root-free"]
    bad = client.get("/api/v1/capacity", params={"within": "soon"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"][0]["field"] == "within"


def test_roles_and_missing_items(refreshed: None, server: LiveServer, sign_in: SignIn) -> None:
    anonymous = httpx.get(f"{server.url}/api/v1/capacity", timeout=10)
    assert anonymous.status_code == 401
    viewer = sign_in("viewer", "viewer")
    assert viewer.post("/api/v1/capacity/refresh").status_code == 403
    operator = sign_in("operator", "operator")
    started = operator.post("/api/v1/capacity/refresh")
    assert started.status_code == 202
    assert started.json() == {"started": False}  # no capacity service in this process
    missing = viewer.get("/api/v1/capacity/999999")
    assert missing.status_code == 404
    assert "no capacity forecast 999999" in missing.json()["detail"]


def test_the_page_shows_the_report(refreshed: None, server: LiveServer, sign_in: SignIn) -> None:
    client = sign_in("viewer", "viewer")
    page = client.get("/capacity")
    assert page.status_code == 200
    assert "Runs out first" in page.text and "web-1 · disk /" in page.text
    assert 'data-capacity-chart="/api/v1/capacity/' in page.text
    bad = client.get("/capacity", params={"within": "later"})
    assert bad.status_code == 200 and "is not a duration" in bad.text
    row = client.get("/api/v1/capacity", params={"host": "web-1", "kind": "host"}).json()
    disk = next(i for i in row["items"] if i["resource"] == "disk")
    item = client.get(f"/capacity/{disk['id']}")
    assert item.status_code == 200 and "CapacityForecast" in item.text
    assert client.get("/capacity/999999").status_code == 404


def test_an_empty_report_explains_itself(server: LiveServer, sign_in: SignIn) -> None:
    client = sign_in("viewer", "viewer")
    assert client.get("/api/v1/capacity").json() == {
        "refreshed_at": None,
        "counts": dict.fromkeys(["over", "soon", "later", "never", "insufficient", "error"], 0),
        "items": [],
    }
    assert "No forecasts yet" in client.get("/capacity").text
