"""GET /api/v1/plan/compliance and its history over a real server: the latest snapshot
(or one evaluated for the answer, never stored by a GET), the trend, and bad input as
problem+json naming the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from tests.helpers import LiveServer
from tests.security.plan_compliance.support import apply_text, declared_at
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.compliance.plan_service import PlanComplianceService
from watchkeeper.store.tables import CheckStatus, PlanComplianceSnapshot, utcnow

CHECKS = """
checks:
  - {name: api, type: tcp, host: 127.0.0.1, port: 1, interval: 30s}
  - {name: web, type: tcp, host: 127.0.0.1, port: 2, interval: 30s}
"""


def _snapshots(ctx: AppContext) -> int:
    with ctx.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(PlanComplianceSnapshot)) or 0)


def test_compliance_and_its_history(
    ctx: AppContext, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    now = utcnow()
    with ctx.sessions() as db:
        apply_text(db, CHECKS)
        declared_at(db, now - timedelta(days=1))
        db.add(CheckStatus(name="api", status="up", last_run_at=now))
        db.add(CheckStatus(name="web", status="down", last_run_at=now, last_message="refused"))
        db.commit()
    viewer = sign_in("vera", "viewer")

    fresh = viewer.get("/api/v1/plan/compliance")
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert body["stored"] is False and body["score"] == 50.0 and body["followed"] is False
    sections = {s["section"]: s for s in body["sections"]}
    checks = sections["checks"]
    assert checks["status"] == "failing" and checks["title"] == "Health checks"
    assert checks["failing"] == [
        {
            "kind": "check",
            "name": "web",
            "reason": checks["failing"][0]["reason"],
            "link": "/checks/web",
        }
    ]
    assert checks["failing"][0]["reason"].endswith(": refused")
    assert sections["backups"]["status"] == "empty" and sections["backups"]["score"] is None
    assert _snapshots(ctx) == 0  # a GET stores nothing

    service = PlanComplianceService(ctx.sessions, clock=lambda: now)
    service.run_once()
    stored = viewer.get("/api/v1/plan/compliance").json()
    assert stored["stored"] is True and stored["evaluated_at"].startswith(now.isoformat()[:19])

    since = (now - timedelta(hours=1)).isoformat()
    history = viewer.get("/api/v1/plan/compliance/history", params={"since": since, "step": "1h"})
    assert history.status_code == 200, history.text
    points = history.json()["points"]
    assert len(points) == 1 and points[0]["score"] == 50.0
    assert points[0]["sections"]["checks"] == {"status": "failing", "score": 50.0}
    assert viewer.get("/api/v1/plan/compliance/history").json()["step"] is None

    bad = viewer.get("/api/v1/plan/compliance/history", params={"step": "soon"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert [e["field"] for e in bad.json()["errors"]] == ["step"]
    backwards = viewer.get(
        "/api/v1/plan/compliance/history",
        params={"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()},
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "since"

    anonymous = httpx.get(f"{server.url}/api/v1/plan/compliance")
    assert anonymous.status_code == 401
