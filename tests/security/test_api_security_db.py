"""The vulnerability-database API on a real server: sources with their last import (the
mirror URL never shown), an import queued by an admin (202, audited, 409 while queued;
forced with ``force=true``) and run by the service, one import, one record; roles and
problem+json errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from tests.conftest import remember_secret
from tests.helpers import LiveServer
from tests.security.osv_dumps import OPENSSL_DSA, REQUESTS_GHSA, write_dump
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.osv.service import OsvService
from watchkeeper.store.tables import AuditEntry


def _plan(ctx: AppContext, dump: Path, token: str) -> None:
    text = f"""
security:
  sources:
    - {{name: osv-all, ecosystem: PyPI, path: "{dump}"}}
    - {{name: npm-mirror, ecosystem: npm, url: "https://mirror.internal/npm/all.zip?t={token}"}}
"""
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(text, env={}))
        db.commit()


def _run_service(ctx: AppContext) -> None:
    async def go() -> None:
        service = OsvService(ctx.sessions)
        await service.run_once()
        await service.wait_idle()

    asyncio.run(go())


def test_sources_import_and_records(
    ctx: AppContext,
    server: LiveServer,
    sign_in: Callable[..., httpx.Client],
    tmp_path: Path,
) -> None:
    token = remember_secret("mirror-token-77aa01bc")
    _plan(ctx, write_dump(tmp_path / "all.zip", REQUESTS_GHSA, OPENSSL_DSA), token)
    viewer = sign_in("vera", "viewer")
    admin = sign_in("ada", "admin")

    listed = viewer.get("/api/v1/security/sources")
    assert listed.status_code == 200, listed.text
    assert token not in listed.text and "mirror.internal" not in listed.text
    sources = {s["name"]: s for s in listed.json()["sources"]}
    assert sources["osv-all"]["kind"] == "file" and sources["osv-all"]["last_import"] is None
    assert sources["npm-mirror"]["kind"] == "mirror" and sources["npm-mirror"]["path"] == ""

    refused = viewer.post("/api/v1/security/sources/osv-all/import")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    queued = admin.post("/api/v1/security/sources/osv-all/import")
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert (body["status"], body["trigger"]) == ("queued", "ada")
    assert queued.headers["location"] == f"/api/v1/security/imports/{body['id']}"
    busy = admin.post("/api/v1/security/sources/osv-all/import")
    assert busy.status_code == 409
    assert 'an import of "osv-all" is queued already' in busy.json()["detail"]
    missing = admin.post("/api/v1/security/sources/nope/import")
    assert missing.status_code == 404
    assert 'there is no vulnerability source "nope"' in missing.json()["detail"]
    with ctx.sessions() as db:
        entry = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "security.source_import")
        ).one()
        assert (entry.actor, entry.target, entry.detail) == (
            "ada", "osv-all", {"import_id": body["id"], "force": False}
        )  # fmt: skip
    forced = admin.post("/api/v1/security/sources/npm-mirror/import", params={"force": "true"})
    assert forced.status_code == 202, forced.text
    assert (forced.json()["forced"], body["forced"]) == (True, False)

    _run_service(ctx)  # the osv leader claims and runs it
    done = viewer.get(f"/api/v1/security/imports/{body['id']}").json()
    assert (done["status"], done["records_added"], done["records_total"]) == ("succeeded", 2, 2)
    sources = {s["name"]: s for s in viewer.get("/api/v1/security/sources").json()["sources"]}
    assert sources["osv-all"]["records"] == 2
    assert sources["osv-all"]["last_good"]["id"] == body["id"]

    record = viewer.get("/api/v1/security/vulnerabilities/DSA-5532-1")
    assert record.status_code == 200, record.text
    data = record.json()
    assert data["aliases"] == ["CVE-2023-5363"] and data["source"] == "osv-all"
    assert data["affected"] == [
        {
            "ecosystem": "Debian:12",
            "package": "openssl",
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
                }
            ],
            "versions": ["3.0.9-1", "3.0.11-1~deb12u1"],
        }
    ]
    assert data["record"]["references"][0]["url"].endswith("dsa-5532")
    unknown = viewer.get("/api/v1/security/vulnerabilities/GHSA-xxxx-yyyy-zzzz")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert viewer.get("/api/v1/security/imports/999999").status_code == 404


def test_signed_out_is_refused(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        for method, path in (
            ("GET", "/api/v1/security/sources"),
            ("POST", "/api/v1/security/sources/x/import"),
            ("GET", "/api/v1/security/imports/1"),
            ("GET", "/api/v1/security/vulnerabilities/GHSA-1"),
        ):
            assert anonymous.request(method, path).status_code == 401
