"""The compliance API on a real server: controls with evidence and history (viewer), issuing
reports (operator, audited), downloads, verification of an uploaded file, and the problems
bad input gets."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
from sqlalchemy import select

from tests.security.compliance.support import add_user, apply
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.compliance.evaluate import evaluate_all
from watchkeeper.store.tables import AuditEntry, utcnow

PLAN = """
compliance:
  frameworks: [gdpr]
  controls:
    - name: WK-MFA
      title: Administrators sign in with a second factor
      references: [SOC 2 CC6.1]
      evidence: [{query: admins_have_mfa}]
"""


def _prepare(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        apply(db, PLAN)
        add_user(db, "root-admin", mfa="totp")
        db.commit()
        evaluate_all(db, utcnow())
        db.commit()


def test_controls_and_their_history(ctx: AppContext, sign_in: Callable[..., httpx.Client]) -> None:
    _prepare(ctx)
    viewer = sign_in("vera", "viewer")
    found = viewer.get("/api/v1/compliance/controls").json()
    ids = [c["id"] for c in found["controls"]]
    assert ids[-1] == "WK-MFA" and "GDPR-32.1b-ACCESS" in ids
    mfa = found["controls"][-1]
    assert (mfa["framework"], mfa["origin"], mfa["references"]) == ("plan", "plan", ["SOC 2 CC6.1"])
    # vera is an admin-less viewer; the only admin has TOTP.
    assert mfa["status"] == "pass" and mfa["evidence"][0]["query"] == "admins_have_mfa"
    assert mfa["since"] is not None and mfa["last_pass_at"] is not None
    assert sum(found["counts"].values()) == len(ids)
    only = viewer.get("/api/v1/compliance/controls", params={"framework": "plan"}).json()
    assert [c["id"] for c in only["controls"]] == ["WK-MFA"]

    detail = viewer.get("/api/v1/compliance/controls/WK-MFA").json()
    assert [h["status"] for h in detail["history"]] == ["pass"]
    assert detail["history"][0]["evidence"][0]["facts"][0]["subject"] == "root-admin"

    missing = viewer.get("/api/v1/compliance/controls/NOPE-1")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == 'there is no compliance control "NOPE-1" in the plan'
    with httpx.Client(base_url=str(viewer.base_url)) as anonymous:
        assert anonymous.get("/api/v1/compliance/controls").status_code == 401


def test_reports_issue_download_and_verify(
    ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    _prepare(ctx)
    viewer = sign_in("vera", "viewer")
    operator = sign_in("otto", "operator")
    today = utcnow().date().isoformat()
    body = {"from": "2026-11-01", "to": today}
    refused = viewer.post("/api/v1/compliance/reports", json=body)
    assert refused.status_code == 403
    # No signing key before the first report.
    assert viewer.get("/api/v1/compliance/public-key").status_code == 404

    bad = operator.post("/api/v1/compliance/reports", json={"from": today, "to": "2026-11-01"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "to", "message": "must not be before `from`"}]
    missing = operator.post("/api/v1/compliance/reports", json={"to": today})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.from"

    issued = operator.post("/api/v1/compliance/reports", json=body)
    assert issued.status_code == 201, issued.text
    meta = issued.json()
    published = viewer.get("/api/v1/compliance/public-key").json()
    assert published == {"algorithm": "Ed25519", "public_key": meta["public_key"]}
    assert len(meta["signature"]) == 128
    assert meta["title"] == f"Compliance report 2026-11-01 to {today}"
    assert meta["summary"]["pass"] >= 1 and len(meta["sha256"]) == 64
    with ctx.sessions() as db:
        audited = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "compliance.report_issue")
        ).all()
    assert [(a.actor, a.target) for a in audited] == [("otto", f"compliance-report/{meta['id']}")]
    assert audited[0].detail["public_key"] == meta["public_key"]

    listed = viewer.get("/api/v1/compliance/reports").json()["reports"]
    assert [r["id"] for r in listed] == [meta["id"]]
    assert viewer.get(f"/api/v1/compliance/reports/{meta['id']}").json()["sha256"] == meta["sha256"]
    html = viewer.get(meta["html_url"])
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert "attachment" in html.headers["content-disposition"]
    pdf = viewer.get(meta["pdf_url"])
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert viewer.get("/api/v1/compliance/reports/999.pdf").status_code == 404

    raw = viewer.post(
        "/api/v1/compliance/reports/verify",
        content=html.content,
        headers={"Content-Type": "text/html"},
    ).json()
    assert (raw["status"], raw["report_id"], raw["format"]) == ("valid", meta["id"], "html")
    edited = html.content.replace(b"Administrators sign in", b"Administrators log in", 1)
    form = viewer.post(
        "/api/v1/compliance/reports/verify",
        files={"file": ("report.html", edited, "text/html")},
    ).json()
    assert form["status"] == "edited"
    as_pdf = viewer.post(
        "/api/v1/compliance/reports/verify",
        files={"file": ("report.pdf", pdf.content, "application/pdf")},
    ).json()
    assert as_pdf["status"] == "valid"
    empty = viewer.post("/api/v1/compliance/reports/verify", content=b"")
    assert empty.status_code == 422
    wrong_field = viewer.post(
        "/api/v1/compliance/reports/verify", files={"upload": ("r.html", b"x", "text/html")}
    )
    assert wrong_field.status_code == 422
    assert wrong_field.json()["detail"] == 'send the report file in the form field "file"'


def _status_of_raw_post(client: httpx.Client, path: str, headers: dict[str, str]) -> int:
    """POST only ``headers`` (no body) on a raw connection as ``client``'s user, without
    the CSRF header (a browser's form sends it in the form): the status line's code."""
    url = httpx.URL(str(client.base_url))
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.host}:{url.port}", f"Cookie: {cookie}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((url.host, url.port or 80), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return int(sock.recv(64).split()[1])


def test_an_upload_is_bounded_before_it_is_read(sign_in: Callable[..., httpx.Client]) -> None:
    """Over 20 MB is refused on its Content-Length, before the form (or the CSRF check of a
    form) reads a byte of it; a multipart form without a length is refused too."""
    viewer = sign_in("vera", "viewer")
    form = "multipart/form-data; boundary=xyz"
    for path in ("/api/v1/compliance/reports/verify", "/compliance/reports/verify"):
        huge = {"Content-Type": form, "Content-Length": str(1 << 30)}
        assert _status_of_raw_post(viewer, path, huge) == 413
        raw = {"Content-Type": "text/html", "Content-Length": str(30 << 20)}
        assert _status_of_raw_post(viewer, path, raw) == 413
        chunked = {"Content-Type": form, "Transfer-Encoding": "chunked"}
        assert _status_of_raw_post(viewer, path, chunked) == 411
        files = [("file", (f"{n}.html", b"x", "text/html")) for n in ("a", "b")]
        assert viewer.post(path, files=files).status_code == 400
