"""Runbook pages over real HTTP: a runbook rendered safely (no script, no event handler, no
javascript: link), linked from the alert, incident and check pages and from the plan's
services; the list's search and "review due" tab; the editor's problems by line; history
and diff; and runbook slugs in alert notifications."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.alerts.alert_rows import add_alert
from tests.conftest import form_token
from tests.helpers import LiveServer
from watchkeeper.auth.audit import Actor
from watchkeeper.incidents import service as incidents
from watchkeeper.knowledge import runbooks
from watchkeeper.knowledge.runbook_links import notification_runbook, runbook_link
from watchkeeper.knowledge.runbook_refs import runbooks_for
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import IncidentAlert, utcnow

SignIn = Callable[..., httpx.Client]
HOSTILE = """---
title: Disk full
services: [db]
alerts: [DiskFull]
tags: [disk]
---

# Disk full

<script>alert("xss")</script>

<img src="x" onerror="alert('xss')">

[click me](javascript:alert(1)) [or me](JAVASCRIPT:alert(2)) <javascript:alert(3)>
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)

1. Run `du -sh /var/*`.
"""
PLAN = """
version: 1
checks:
  - {name: db-port, type: tcp, host: 127.0.0.1, port: 9, runbook: disk-full}
alerts:
  rules:
    - {name: DiskFull, expr: "disk_free_ratio < 0.1", runbook: disk-full}
    - {name: Inline, expr: "up == 0", runbook: "## Restart it\\n\\nThen check."}
releases:
  services:
    - {name: db, runbooks: [disk-full, missing-one, "https://wiki.example.com/db"]}
"""


def seed(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN), actor="plan")
        runbooks.create_runbook(db, HOSTILE, Actor("alice"), utcnow())
        db.commit()


def test_rendering_neutralises_scripts_handlers_and_javascript_links(
    ctx: AppContext, sign_in: SignIn
) -> None:
    seed(ctx)
    page = sign_in("val", "viewer").get("/runbooks/disk-full")
    assert page.status_code == 200
    article = re.search(
        r'<article class="card markdown rb-body" id="runbook">(.*?)</article>', page.text, re.S
    )
    assert article, page.text
    html = article.group(1)
    assert "<script" not in html and "&lt;script&gt;" in html  # shown as text
    assert "<img" not in html and "onerror=&quot;" in html  # the attribute is inert text
    assert not re.search(r"href=\"(javascript|data):", html, re.I)
    assert "[click me](javascript:alert(1))" in html  # a refused link stays plain text
    assert "<code>du -sh /var/*</code>" in html
    # The page runs only its own scripts, from /static/.
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts and all('src="/static/' in s for s in scripts)


def test_a_runbook_lists_what_it_covers(ctx: AppContext, sign_in: SignIn) -> None:
    seed(ctx)
    with ctx.sessions() as db:
        alert = add_alert(db, "DiskFull", labels={"instance": "db-1"})
        db.commit()
        alert_id = alert.id
    page = sign_in("val", "viewer").get("/runbooks/disk-full").text
    assert 'href="/releases/services/db">db</a>' in page
    assert "<code>DiskFull</code>" in page
    assert 'href="/checks/db-port">db-port</a>' in page
    assert f'<a href="/alerts/{alert_id}">DiskFull</a>' in page  # firing now


def test_alert_incident_and_check_pages_link_their_runbooks(
    ctx: AppContext, sign_in: SignIn
) -> None:
    seed(ctx)
    with ctx.sessions() as db:
        disk = add_alert(db, "DiskFull", labels={"instance": "db-1", "service": "db"})
        inline = add_alert(db, "Inline")
        incident = incidents.open_incident(
            db, title="Disk trouble", severity="SEV3", actor=Actor("alice"), services=["db"]
        )
        db.add(IncidentAlert(incident_id=incident.id, alert_id=disk.id, joined_at=utcnow()))
        db.commit()
        ids = disk.id, inline.id, incident.id
    client = sign_in("val", "viewer")
    alert_page = client.get(f"/alerts/{ids[0]}").text
    assert '<a href="/runbooks/disk-full">Disk full</a>' in alert_page
    assert "front matter, service db, rule DiskFull" in alert_page
    assert "<p>disk-full</p>" not in alert_page  # the slug is a link, not inline Markdown
    inline_page = client.get(f"/alerts/{ids[1]}").text
    assert "<h2>Restart it</h2>" in inline_page  # inline Markdown runbooks still render
    incident_page = client.get(f"/incidents/{ids[2]}").text
    assert '<a href="/runbooks/disk-full">Disk full</a>' in incident_page
    assert "no such runbook" in incident_page and "missing-one" in incident_page
    assert 'href="https://wiki.example.com/db"' in incident_page
    check_page = client.get("/checks/db-port").text
    assert 'href="/runbooks/disk-full" rel="noopener">runbook</a>' in check_page


def test_runbooks_for_joins_front_matter_and_plan(ctx: AppContext) -> None:
    seed(ctx)
    with ctx.sessions() as db:
        refs = runbooks_for(db, service="db")
        assert [(r.slug, r.exists, r.why) for r in refs] == [
            ("disk-full", True, ["front matter", "service db"]),
            ("missing-one", False, ["service db"]),
            ("", True, ["service db"]),
        ]
        assert [r.slug for r in runbooks_for(db, alert="DiskFull")] == ["disk-full"]
        assert runbooks_for(db, alert="Inline") == []
        assert runbooks_for(db) == []


def test_links_and_notifications() -> None:
    assert runbook_link("disk-full") == "/runbooks/disk-full"
    assert runbook_link("https://wiki/x") == "https://wiki/x"
    assert runbook_link("javascript:alert(1)") == "" and runbook_link("//evil") == ""
    assert notification_runbook("", "disk-full", "https://wk.example.com/") == (
        "https://wk.example.com/runbooks/disk-full",
        "",
    )
    assert notification_runbook("https://wiki/x", "disk-full", "https://wk") == (
        "https://wiki/x",
        "",
    )
    assert notification_runbook("", "## Steps\n1. a", "https://wk") == ("", "## Steps\n1. a")


def test_list_search_and_review_due_tab(ctx: AppContext, sign_in: SignIn) -> None:
    seed(ctx)
    with ctx.sessions() as db:
        old = utcnow() - timedelta(days=200)
        runbooks.create_runbook(
            db, "---\ntags: [tls]\n---\n# Renew certificates\n", Actor("a"), old
        )
        db.commit()
    client = sign_in("val", "viewer")
    listed = client.get("/runbooks").text
    assert "Disk full" in listed and "Renew certificates" in listed
    assert 'Review due <span class="count">1</span>' in listed
    due = client.get("/runbooks", params={"tab": "due"}).text
    assert "Renew certificates" in due and "Disk full" not in due
    searched = client.get("/runbooks", params={"q": "du -sh"}).text
    assert "Disk full" in searched and "Renew certificates" not in searched
    tagged = client.get("/runbooks", params={"tag": "tls"}).text
    assert "Renew certificates" in tagged and ">Disk full<" not in tagged
    assert "New runbook" not in listed  # viewers cannot write


def test_edit_in_the_browser_forms(ctx: AppContext, server: LiveServer, sign_in: SignIn) -> None:
    client = sign_in("rita", "responder")
    token = form_token(client, "/runbooks/new")
    bad = client.post(
        "/runbooks/new",
        data={"csrf_token": token, "content": "---\nowner: [x]\n---\n# T\n", "slug": ""},
    )
    assert bad.status_code == 422
    assert "line 2:8 owner: input should be a valid string" in bad.text
    made = client.post(
        "/runbooks/new",
        data={"csrf_token": token, "content": "# Restart api\n\nRun it.\n", "note": "v1"},
    )
    assert (
        made.status_code == 303 and made.headers["location"] == "/runbooks/restart-api?done=created"
    )
    edit = client.get("/runbooks/restart-api/edit")
    assert 'name="base_version" value="1"' in edit.text
    saved = client.post(
        "/runbooks/restart-api/edit",
        data={
            "csrf_token": token,
            "content": "# Restart api\n\nRun it twice.\n",
            "note": "twice",
            "base_version": "1",
        },
    )
    assert saved.headers["location"] == "/runbooks/restart-api?done=saved"
    stale = client.post(
        "/runbooks/restart-api/edit",
        data={"csrf_token": token, "content": "# Restart api\n\nx\n", "base_version": "1"},
    )
    assert stale.status_code == 409 and "changed meanwhile" in stale.text
    history = client.get("/runbooks/restart-api/history").text
    assert "twice" in history and "v1" in history and "v2" in history
    diff = client.get("/runbooks/restart-api/diff", params={"from": 1, "to": 2}).text
    assert '<tr class="del"><td class="ln">3</td>' in diff and "Run it twice." in diff
    old = client.get("/runbooks/restart-api", params={"version": 1}).text
    assert "Version 1" in old and "<p>Run it.</p>" in old
    preview = client.post("/runbooks/preview", data={"content": "# Hi\n\n<b>x</b>"})
    assert "&lt;b&gt;x&lt;/b&gt;" in preview.text and "<h1>" not in preview.text
    reviewed = client.post("/runbooks/restart-api/review", data={"csrf_token": token})
    assert reviewed.headers["location"] == "/runbooks/restart-api?done=reviewed"
    assert "Marked reviewed" in client.get("/runbooks/restart-api?done=reviewed").text
    # Deleting needs an operator.
    assert (
        client.post("/runbooks/restart-api/delete", data={"csrf_token": token}).status_code == 403
    )


def test_folder_runbooks_have_no_edit_button(
    ctx: AppContext, sign_in: SignIn, tmp_path: Path
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "from-git.md").write_text("# From git\n")
    plan = tmp_path / "watchkeeper.yaml"
    plan.write_text("runbooks: {folder: runbooks}\n")
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(plan.read_text(), file=str(plan), base_dir=tmp_path), "plan")
        db.commit()
    client = sign_in("rita", "operator")
    page = client.get("/runbooks/from-git").text
    assert "Read from <code>from-git.md</code>" in page
    assert "/runbooks/from-git/edit" not in page and "Delete runbook" not in page
    assert "Still correct" in page
    assert client.get("/runbooks/from-git/edit").status_code == 409


@pytest.mark.parametrize("path", ["/runbooks", "/runbooks/new", "/runbooks/x/history"])
def test_pages_need_sign_in(server: LiveServer, path: str) -> None:
    resp = httpx.get(server.url + path, follow_redirects=False, timeout=30)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
