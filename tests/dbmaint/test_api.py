"""The databases API on a live server (both store databases): list and detail, collect now,
recommendations with dismiss/restore, dry runs and queued runs (claimed by the service),
roles, and problem+json for bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.dbmaint.service_support import apply, plan_text, sqlite_target, sqlite_with_freelist
from watchkeeper.dbmaint.service import DbMaintService
from watchkeeper.runtime.context import AppContext

SMALL = "thresholds: {bloat_min_size: 1KiB}"
PROBLEM = "application/problem+json"


@pytest.fixture
def app_db(ctx: AppContext, tmp_path: Path) -> Path:
    path = sqlite_with_freelist(tmp_path / "app.db")
    with ctx.sessions() as db:
        apply(
            db,
            plan_text(
                sqlite_target("app", path, extra=SMALL),
                sqlite_target("gone", tmp_path / "missing.db"),
            ),
        )
    return path


def _problem(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = resp.json()
    assert body["status"] == status and "Traceback" not in resp.text
    return body


def test_collect_list_detail_and_recommendations(
    app_db: Path, sign_in: Callable[..., httpx.Client]
) -> None:
    operator = sign_in("olga", "operator")
    viewer = sign_in("vic", "viewer")
    listed = viewer.get("/api/v1/databases").json()["databases"]
    assert [(d["name"], d["status"], d["score"]) for d in listed] == [
        ("app", "pending", None),
        ("gone", "pending", None),
    ]
    collected = operator.post("/api/v1/databases/app/collect")
    assert collected.status_code == 200, collected.text
    body = collected.json()
    assert body["ok"] and "freelist:main" in [f["key"] for f in body["findings"]]
    failed = operator.post("/api/v1/databases/gone/collect").json()
    assert not failed["ok"] and "does not exist" in failed["error"]

    listed = {d["name"]: d for d in viewer.get("/api/v1/databases").json()["databases"]}
    assert listed["app"]["status"] == "ok" and listed["app"]["score"] == body["score"]
    assert listed["app"]["top_finding"]["key"] == "freelist:main"
    assert listed["app"]["size_bytes"] == app_db.stat().st_size
    assert listed["gone"]["status"] == "failing" and listed["gone"]["failures"] == 1
    assert str(app_db) == listed["app"]["where"]

    detail = viewer.get("/api/v1/databases/app").json()
    assert detail["summary"]["name"] == "app"
    assert [t["name"] for t in detail["tasks"]] == ["nightly-vacuum", "closed"]
    assert [t["window_open"] for t in detail["tasks"]] == [True, False]
    assert detail["recommendations"][0]["key"] == "freelist:main"
    assert detail["capacity"]["database"] == "app"
    assert detail["details"]  # what the collector read

    recs = viewer.get("/api/v1/databases/recommendations").json()["recommendations"]
    assert [r["key"] for r in recs] == [f["key"] for f in body["findings"]]
    dismissed = operator.post(
        "/api/v1/databases/app/recommendations/freelist:main/dismiss",
        json={"reason": "vacuumed every Sunday anyway"},
    )
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["dismissal"]["actor"] == "olga"
    shown = viewer.get("/api/v1/databases/app/recommendations").json()["recommendations"]
    assert "freelist:main" not in [r["key"] for r in shown]
    everything = viewer.get(
        "/api/v1/databases/app/recommendations", params={"include_dismissed": "true"}
    ).json()["recommendations"]
    assert [r["dismissed"] for r in everything if r["key"] == "freelist:main"] == [True]
    restored = operator.post("/api/v1/databases/app/recommendations/freelist:main/restore")
    assert restored.status_code == 200 and restored.json()["dismissed"] is False


def test_dry_run_runs_in_the_request_and_a_real_run_is_queued_for_the_service(
    ctx: AppContext, app_db: Path, sign_in: Callable[..., httpx.Client]
) -> None:
    operator = sign_in("olga", "operator")
    size = app_db.stat().st_size
    dry = operator.post("/api/v1/databases/app/tasks/nightly-vacuum/run", json={"dry_run": True})
    assert dry.status_code == 200, dry.text
    run = dry.json()
    assert (run["status"], run["dry_run"], run["trigger"]) == ("succeeded", True, "olga")
    assert run["steps"][0]["sql"].startswith("VACUUM") and run["steps"][0]["status"] == "planned"
    assert app_db.stat().st_size == size  # nothing executed

    closed = operator.post("/api/v1/databases/app/tasks/closed/run", json={})
    assert "outside its maintenance windows" in str(_problem(closed, 409)["detail"])

    queued = operator.post("/api/v1/databases/app/tasks/nightly-vacuum/run", json={})
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["id"]
    assert queued.json()["status"] == "queued"
    assert queued.headers["location"] == f"/api/v1/databases/runs/{run_id}"
    forced = operator.post("/api/v1/databases/app/tasks/closed/run", json={"force": True})
    assert forced.status_code == 202

    async def leader_pass() -> list[int]:
        svc = DbMaintService(ctx.sessions, ctx.metrics)
        claimed = (await svc.run_once()).queued
        await svc.wait_idle()
        claimed += (await svc.run_once()).queued  # one run per database at a time
        await svc.wait_idle()
        return claimed

    assert asyncio.run(leader_pass()) == [run_id, forced.json()["id"]]
    done = operator.get(f"/api/v1/databases/runs/{run_id}").json()
    assert (done["status"], done["trigger"], done["dry_run"]) == ("succeeded", "olga", False)
    assert done["after"]["bloat_bytes"] < done["before"]["bloat_bytes"]
    assert app_db.stat().st_size < size
    runs = operator.get("/api/v1/databases/app/runs").json()["runs"]
    assert [r["id"] for r in runs] == [forced.json()["id"], run_id, run["id"]]  # newest first
    assert {r["status"] for r in runs} == {"succeeded"}
    only = operator.get("/api/v1/databases/runs", params={"task": "closed"}).json()["runs"]
    assert [r["task"] for r in only] == ["closed"]


def test_roles_and_problems(app_db: Path, sign_in: Callable[..., httpx.Client]) -> None:
    viewer = sign_in("vic", "viewer")
    operator = sign_in("olga", "operator")
    _problem(viewer.post("/api/v1/databases/app/collect"), 403)
    _problem(viewer.post("/api/v1/databases/app/tasks/closed/run", json={"dry_run": True}), 403)
    _problem(
        viewer.post(
            "/api/v1/databases/app/recommendations/freelist:main/dismiss", json={"reason": "x"}
        ),
        403,
    )
    assert "no-such" in str(_problem(viewer.get("/api/v1/databases/no-such"), 404)["detail"])
    assert "its tasks: nightly-vacuum, closed" in str(
        _problem(operator.post("/api/v1/databases/app/tasks/nope/run", json={}), 404)["detail"]
    )
    _problem(operator.get("/api/v1/databases/runs/999999"), 404)
    _problem(operator.post("/api/v1/databases/no-such/collect"), 404)
    bad = _problem(
        operator.post("/api/v1/databases/app/tasks/closed/run", json={"dry_run": "maybe"}), 422
    )
    assert bad["errors"][0]["field"] == "body.dry_run"  # type: ignore[index]
    extra = _problem(
        operator.post("/api/v1/databases/app/tasks/closed/run", json={"now": True}), 422
    )
    assert extra["errors"][0]["field"] == "body.now"  # type: ignore[index]
    # a dismissal needs a reason and a current finding
    operator.post("/api/v1/databases/app/collect")
    empty = _problem(
        operator.post(
            "/api/v1/databases/app/recommendations/freelist:main/dismiss", json={"reason": ""}
        ),
        422,
    )
    assert empty["errors"][0]["field"] == "body.reason"  # type: ignore[index]
    past = _problem(
        operator.post(
            "/api/v1/databases/app/recommendations/freelist:main/dismiss",
            json={"reason": "why", "until": "2001-01-01T00:00:00"},
        ),
        422,
    )
    assert past["errors"][0]["field"] == "until"  # type: ignore[index]
    _problem(
        operator.post(
            "/api/v1/databases/app/recommendations/nothing:here/dismiss", json={"reason": "why"}
        ),
        404,
    )
    _problem(operator.post("/api/v1/databases/app/recommendations/freelist:main/restore"), 404)
    _problem(operator.get("/api/v1/databases/runs", params={"status": "odd"}), 422)
    _problem(operator.get("/api/v1/databases/app/capacity", params={"horizon_days": 0}), 422)
    assert operator.get("/api/v1/databases/app/capacity").json()["size"] is None
