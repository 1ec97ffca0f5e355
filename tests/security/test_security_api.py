"""The security API on a real server: findings (filters, paging, one with its record),
the summary, suppressions (operators only, audited, reason and a future expiry required),
the patch plan and marking an action applied, OS updates; bad input answered with
problem+json naming the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from tests.helpers import LiveServer
from tests.security.findings_support import add_finding, add_inventory, add_record
from watchkeeper.runtime.context import AppContext
from watchkeeper.security import patches
from watchkeeper.store.tables import AuditEntry, PatchAction, utcnow

PROBLEM = "application/problem+json"


@pytest.fixture
def seeded(ctx: AppContext) -> dict[str, int]:
    """Findings on two hosts (times relative to now, as the API judges them), a record,
    OS updates, and the patch plan refreshed."""
    now = utcnow()
    with ctx.sessions() as db:
        crit = add_finding(
            db,
            "GHSA-j8r2-6x86-q33q",
            aliases=["CVE-2023-32681"],
            severity="critical",
            score=9.1,
            first_seen=now - timedelta(days=45),
            last_seen=now,
        )
        add_finding(db, "GHSA-low", severity="low", score=3.1, first_seen=now, last_seen=now)
        add_finding(db, "GHSA-db", host="db-1", first_seen=now, last_seen=now)
        add_finding(db, "GHSA-gone", host="db-1", first_seen=now, last_seen=now, resolved_at=now)
        add_record(db, "GHSA-j8r2-6x86-q33q")
        add_inventory(
            db,
            [
                [
                    "openssl",
                    "3.0.15-1~deb12u1",
                    "3.0.14-1~deb12u2",
                    "Debian-Security:12/stable-security",
                ],
                ["tzdata", "2025b-0+deb12u1", "2024a-0+deb12u1", "Debian:12.9/stable"],
            ],
            ecosystem="os-updates",
            location="apt",
            collected_at=now - timedelta(hours=2),
        )
        patches.refresh(db, now)
        db.commit()
        action = db.scalars(select(PatchAction).where(PatchAction.host == "web-1")).one()
        return {"finding": crit.id, "action": action.id}


def _problem(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = resp.json()
    return body


def test_viewer_reads_findings_summary_plan_and_os_updates(
    seeded: dict[str, int], sign_in: Callable[..., httpx.Client], server: LiveServer
) -> None:
    assert httpx.get(f"{server.url}/api/v1/security/findings").status_code == 401
    vera = sign_in("vera", "viewer")
    listed = vera.get("/api/v1/security/findings").json()
    assert listed["total"] == 3  # the open ones unless another status is asked for
    assert [f["vuln_id"] for f in listed["findings"]] == [
        "GHSA-j8r2-6x86-q33q",
        "GHSA-db",
        "GHSA-low",
    ]
    first = listed["findings"][0]
    assert first["fixed_version"] == "2.31.0" and first["fix_available"] is True
    assert first["overdue"] is True and first["status"] == "open"
    page = vera.get("/api/v1/security/findings", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and [f["vuln_id"] for f in page["findings"]] == ["GHSA-db"]
    resolved = vera.get("/api/v1/security/findings", params={"status": "resolved"}).json()
    assert [f["vuln_id"] for f in resolved["findings"]] == ["GHSA-gone"]
    by_host = vera.get("/api/v1/security/findings", params={"host": "db-1"}).json()
    assert [f["vuln_id"] for f in by_host["findings"]] == ["GHSA-db"]
    alias = vera.get("/api/v1/security/findings", params={"vulnerability": "CVE-2023-32681"})
    assert alias.json()["total"] == 1
    spec = vera.get("/api/v1/openapi.json").json()["paths"]["/api/v1/security/findings"]["get"]
    params = {p["name"]: p for p in spec["parameters"]}
    assert params["status"]["schema"]["default"] == "open"
    assert all(params[name].get("description") for name in ("status", "limit", "offset"))

    detail = vera.get(f"/api/v1/security/findings/{seeded['finding']}").json()
    refs = [r["url"] for r in detail["record"]["references"]]
    assert "https://nvd.nist.gov/vuln/detail/CVE-2023-32681" in refs
    assert detail["record"]["vectors"][0].startswith("CVSS_V3: CVSS:3.1/")
    assert detail["elsewhere"] == []

    summary = vera.get("/api/v1/security/summary").json()
    assert summary["by_severity"]["critical"] == 1 and summary["open"] == 3
    assert [h["name"] for h in summary["hosts"]] == ["web-1", "db-1"]
    assert summary["packages"][0]["name"] == "requests" and summary["packages"][0]["hosts"] == 2

    plan = vera.get("/api/v1/security/patches").json()["actions"]
    web = next(a for a in plan if a["host"] == "web-1")
    assert web["title"] == "upgrade requests 2.25.0 → 2.31.0 fixes 2 vulnerabilities"
    assert web["status"] == "planned" and web["severity"] == "critical" and web["score"] == 9.1
    assert vera.get("/api/v1/security/patches", params={"status": "verified"}).json() == {
        "actions": []
    }

    [host] = vera.get("/api/v1/security/os-updates").json()["hosts"]
    assert (host["host"], host["count"], host["security_count"]) == ("web-1", 2, 1)
    assert host["updates"][0]["name"] == "openssl" and host["updates"][0]["security"] is True


def test_only_operators_suppress_and_mark_applied_audited(
    seeded: dict[str, int], sign_in: Callable[..., httpx.Client], ctx: AppContext
) -> None:
    vera = sign_in("vera", "viewer")
    body = {"vulnerability": "CVE-2023-32681", "reason": "Proxies are not used."}
    denied = _problem(vera.post("/api/v1/security/suppressions", json=body), 403)
    assert "operator" in str(denied["detail"])
    _problem(vera.post(f"/api/v1/security/patches/{seeded['action']}/applied"), 403)

    olga = sign_in("olga", "operator")
    expires = (utcnow() + timedelta(days=30)).date().isoformat()
    made = olga.post(
        "/api/v1/security/suppressions",
        json={**body, "host": "web-*", "expires_at": expires},
    )
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["source"] == "api" and created["actor"] == "olga"
    assert created["findings"] == 1 and created["active"] is True
    hidden = vera.get(f"/api/v1/security/findings/{seeded['finding']}").json()["finding"]
    assert hidden["status"] == "suppressed"
    assert hidden["suppression"]["reason"] == "Proxies are not used."
    listed = vera.get("/api/v1/security/suppressions").json()
    assert [s["id"] for s in listed] == [created["id"]]

    applied = olga.post(f"/api/v1/security/patches/{seeded['action']}/applied")
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "applied" and applied.json()["applied_by"] == "olga"
    again = _problem(olga.post(f"/api/v1/security/patches/{seeded['action']}/applied"), 409)
    assert "not planned" in str(again["detail"])
    _problem(olga.post("/api/v1/security/patches/999999/applied"), 404)

    assert olga.delete(f"/api/v1/security/suppressions/{created['id']}").status_code == 204
    _problem(olga.delete(f"/api/v1/security/suppressions/{created['id']}"), 404)
    with ctx.sessions() as db:
        audited = db.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.like("security.%"))
            .order_by(AuditEntry.id)
        ).all()
        assert audited == [
            "security.suppression_create",
            "security.patch_applied",
            "security.suppression_delete",
        ]
        assert (
            db.scalars(select(AuditEntry.actor).where(AuditEntry.action.like("security.%"))).all()
            == ["olga"] * 3
        )


BAD_SUPPRESSIONS: list[tuple[dict[str, str], str]] = [
    ({"vulnerability": "CVE-1"}, "body.reason"),
    ({"vulnerability": "CVE-1", "reason": ""}, "body.reason"),
    ({"reason": "x"}, "body.vulnerability"),
    ({"vulnerability": "CVE-1", "reason": "x", "expires_at": "soon"}, "body.expires_at"),
    ({"vulnerability": "CVE-1", "reason": "x", "colour": "red"}, "body.colour"),
    ({"vulnerability": "CVE-1", "reason": "   "}, "reason"),
    ({"vulnerability": "CVE-1", "reason": "x", "expires_at": "2020-01-01"}, "expires"),
]
BAD_QUERIES = [
    ("/api/v1/security/findings", {"status": "fixed"}, 422),
    ("/api/v1/security/findings", {"severity": "severe"}, 422),
    ("/api/v1/security/findings", {"limit": "0"}, 422),
    ("/api/v1/security/findings", {"offset": "-1"}, 422),
    ("/api/v1/security/patches", {"status": "done"}, 422),
    ("/api/v1/security/findings/0", {}, 422),
    ("/api/v1/security/findings/424242", {}, 404),
]


def test_bad_input_is_refused_naming_the_field(sign_in: Callable[..., httpx.Client]) -> None:
    olga = sign_in("olga", "operator")
    for body, field in BAD_SUPPRESSIONS:
        problem = _problem(olga.post("/api/v1/security/suppressions", json=body), 422)
        fields = [e["field"] for e in problem["errors"]]  # type: ignore[attr-defined]
        assert field in fields, (body, problem)
    for path, params, status in BAD_QUERIES:
        problem = _problem(olga.get(path, params=params), status)
        assert problem["detail"], (path, params)
        if status == 422:
            assert problem["errors"], (path, params)
    assert olga.get("/api/v1/security/suppressions").json() == []
