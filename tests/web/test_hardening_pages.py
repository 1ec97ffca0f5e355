"""The hardening pages over real runs: the hosts list (worst first, index and trend), a host
page (failed checks first with rationale and remediation, the history chart's data), an
unknown host, and "audit now" from the page (admins only, queued, audited)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

import httpx
from sqlalchemy import select

from tests.conftest import form_token
from watchkeeper.runtime.context import AppContext
from watchkeeper.security.hardening import runs
from watchkeeper.store.tables import AuditEntry, utcnow

SignIn = Callable[..., httpx.Client]


def _seed(ctx: AppContext) -> None:
    now = utcnow()
    with ctx.sessions() as db:
        for days, root in ((3, "fail"), (2, "fail"), (1, "pass")):
            runs.record_results(
                db,
                "web-1",
                "base",
                now - timedelta(days=days),
                [
                    {"id": "SSH-ROOT-LOGIN", "status": root, "detail": "PermitRootLogin ..."},
                    {"id": "SSH-PASSWORD-AUTH", "status": "fail", "detail": "yes (default)"},
                    {"id": "NET-FIREWALL", "status": "skip", "detail": "needs root"},
                ],
            )
        runs.record_results(
            db,
            "db-1",
            "base",
            now - timedelta(hours=2),
            [{"id": "CRYPT-DISK", "status": "fail", "detail": "/srv is not on dm-crypt"}],
        )
        db.commit()


def test_hosts_list_and_host_page(ctx: AppContext, sign_in: SignIn) -> None:
    _seed(ctx)
    viewer = sign_in("viewer", "viewer")
    page = viewer.get("/security/hardening")
    assert page.status_code == 200
    html = page.text
    assert html.index("db-1") < html.index("web-1")  # worst first
    assert 'href="/security/hardening/web-1"' in html
    assert '<svg class="sparkline idx-trend idx-fair"' in html  # web-1 at 5 of 9 points
    assert 'aria-current="page">Hardening</a>' in html
    assert "Audit server and endpoints now" not in html  # admins only

    host = viewer.get("/security/hardening/web-1")
    assert host.status_code == 200
    text = host.text
    assert text.index("SSH accepts no passwords") < text.index("SSH does not let root log in")
    assert "Set <code>PasswordAuthentication no</code>" in text  # the remediation
    chart = re.search(r'id="hardening-chart-data">(.*?)</script>', text)
    assert chart
    data = json.loads(chart.group(1))
    assert data["index"] == [0.0, 0.0, 55.6]
    assert data["points"] == [0, 0, 5] and data["possible"] == [9, 9, 9]

    missing = viewer.get("/security/hardening/" + quote("tls://nowhere:443", safe=""))
    assert missing.status_code == 404
    assert "has no hardening audit" in missing.text


def test_audit_now_from_the_page(ctx: AppContext, sign_in: SignIn) -> None:
    _seed(ctx)
    admin = sign_in("admin", "admin")
    token = form_token(admin, "/security/hardening/web-1")
    done = admin.post("/security/hardening/run", data={"host": "web-1", "csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == "/security/hardening/web-1?done=requested"
    notice = admin.get(done.headers["location"]).text
    assert "Asked the agent to audit" in notice
    assert ">Audit queued</button>" in notice and "audit queued</span>" in notice
    queued = admin.post("/security/hardening/run", data={"csrf_token": token})
    assert queued.headers["location"] == "/security/hardening?done=queued"
    listed = admin.get(queued.headers["location"]).text
    assert "Audit queued: the results arrive within about a minute" in listed
    assert ">Audit queued</button>" in listed  # the server's audit has not run yet
    assert listed.count('title="An audit now was asked and has not run yet">queued') == 1
    viewer = sign_in("viewer", "viewer")
    refused = viewer.post(
        "/security/hardening/run",
        data={"host": "web-1", "csrf_token": form_token(viewer, "/security/hardening")},
    )
    assert refused.status_code == 403
    with ctx.sessions() as db:
        entries = list(db.scalars(select(AuditEntry).where(AuditEntry.action.like("hardening%"))))
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("hardening.request", "web-1", "admin"),
        ("hardening.request", "server and endpoints", "admin"),
    ]
