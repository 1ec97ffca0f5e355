"""The backups API on a real server: the overview, one policy with its runs, the runs
table with filters, the runbook (Markdown, download, no secret), 404 problems, roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from tests.backups.support import SECRETS, add_run, apply_backups_plan
from tests.helpers import LiveServer
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import utcnow

SignIn = Callable[..., httpx.Client]


@pytest.fixture
def seeded(ctx: AppContext) -> AppContext:
    now = utcnow()
    with ctx.sessions() as db:
        apply_backups_plan(db)
        add_run(
            db, "orders-db", started=now - timedelta(hours=2), snapshot_id="aa11", bytes_total=5000
        )
        add_run(
            db,
            "orders-db",
            started=now - timedelta(hours=20),
            repository="offsite",
            bytes_total=4000,
        )
        add_run(
            db,
            "orders-db",
            started=now - timedelta(hours=1),
            repository="offsite",
            status="failed",
            error="Fatal: unable to open repository",
        )
        add_run(db, "orders-db", kind="drill", started=now - timedelta(days=1), rto_s=90, rpo_s=600)
        add_run(
            db,
            "uploads",
            started=now - timedelta(seconds=30),
            status="running",
            details={"progress": {"fraction": 0.5, "bytes_done": 50, "bytes_total": 100}},
        )
        db.commit()
    return ctx


def test_overview_lists_every_policy_with_its_state(seeded: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    resp = client.get("/api/v1/backups")
    assert resp.status_code == 200
    body = resp.json()
    by_name = {p["name"]: p for p in body["policies"]}
    assert list(by_name) == ["orders-db", "uploads", "shop-mariadb"]
    orders = by_name["orders-db"]
    assert orders["freshness"] == "late"  # offsite's last good backup is 20 h old (max 12 h)
    assert {r["name"]: r["freshness"] for r in orders["repositories"]} == {
        "local": "ok",
        "offsite": "late",
    }
    assert orders["last_success"]["snapshot_id"] == "aa11"
    assert orders["last_failure"]["error"] == "Fatal: unable to open repository"
    assert orders["last_drill"]["rto_s"] == 90
    assert orders["source"]["server"] == "db.internal:5432"
    assert by_name["uploads"]["running"][0]["progress"]["fraction"] == 0.5
    assert by_name["uploads"]["freshness"] == "never"
    for secret in SECRETS:
        assert secret not in resp.text
    assert "***" in resp.text  # the offsite URL, masked


def test_one_policy_with_recent_runs(seeded: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    body = client.get("/api/v1/backups/orders-db").json()
    assert body["name"] == "orders-db"
    assert [r["kind"] for r in body["runs"]] == ["backup", "backup", "backup", "drill"]
    assert body["runs"][0]["status"] == "failed"
    assert len(client.get("/api/v1/backups/orders-db?limit=1").json()["runs"]) == 1


def test_runs_filter_by_policy_kind_and_status(seeded: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")

    def runs(query: str) -> list[dict[str, object]]:
        resp = client.get(f"/api/v1/backups/runs?{query}")
        assert resp.status_code == 200, resp.text
        found: list[dict[str, object]] = resp.json()["runs"]
        return found

    assert len(runs("")) == 5
    assert len(runs("policy=orders-db")) == 4
    assert [r["kind"] for r in runs("kind=drill")] == ["drill"]
    assert [r["policy"] for r in runs("status=running")] == ["uploads"]
    assert len(runs("limit=2")) == 2
    bad = client.get("/api/v1/backups/runs?kind=dance")
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "kind" in bad.text


def test_runbook_is_markdown_and_downloads(seeded: AppContext, sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    resp = client.get("/api/v1/backups/orders-db/runbook")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/markdown")
    assert "content-disposition" not in resp.headers
    assert resp.text.startswith("# Disaster recovery runbook: orders-db")
    assert (
        "restic dump latest --tag policy=orders-db --path /orders.pgdump /orders.pgdump"
        in resp.text
    )
    for secret in SECRETS:
        assert secret not in resp.text
    download = client.get("/api/v1/backups/orders-db/runbook?download=1")
    assert download.headers["content-disposition"] == (
        'attachment; filename="runbook-orders-db.md"'
    )
    assert download.text.startswith("# Disaster recovery runbook: orders-db")


@pytest.mark.parametrize("path", ["/api/v1/backups/nope", "/api/v1/backups/nope/runbook"])
def test_unknown_policy_is_a_404_problem(seeded: AppContext, sign_in: SignIn, path: str) -> None:
    client = sign_in("vera", "viewer")
    resp = client.get(path)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert 'no backup policy "nope"' in resp.json()["detail"]


def test_no_plan_gives_an_empty_overview(sign_in: SignIn) -> None:
    client = sign_in("vera", "viewer")
    assert client.get("/api/v1/backups").json() == {"policies": []}


def test_anonymous_callers_are_refused(seeded: AppContext, server: LiveServer) -> None:
    for path in ("/api/v1/backups", "/api/v1/backups/runs", "/api/v1/backups/orders-db/runbook"):
        assert httpx.get(server.url + path).status_code == 401
