"""The audit log page: admins read, filter, page back, export and verify; object changes made
in the web editor are recorded for the operator who made them."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import form_token, login, make_user
from tests.helpers import LiveServer
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry

CHECK = "name: cache\ntype: tcp\nhost: 127.0.0.1\nport: 6379\n"


@pytest.fixture
def operator(ctx: AppContext, server: LiveServer) -> Iterator[httpx.Client]:
    make_user(ctx, "olivia", "operator")
    client = login(server.url, "olivia")
    client.headers.pop("X-CSRF-Token")  # forms carry the token in a field
    try:
        yield client
    finally:
        client.close()


def rows(page: str) -> list[str]:
    """The table rows of the audit page, as text."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    found = re.findall(r"<tr id=\"entry-\d+\">(.*?)</tr>", body, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in found]


def test_editor_changes_are_recorded_and_shown_before_and_after(
    operator: httpx.Client, admin: httpx.Client
) -> None:
    token = form_token(operator, "/objects/checks/new")
    resp = operator.post("/objects/checks/new", data={"spec": CHECK, "csrf_token": token})
    assert resp.status_code == 303
    edited = CHECK.replace("6379", "6380")
    resp = operator.post("/objects/checks/cache/edit", data={"spec": edited, "csrf_token": token})
    assert resp.status_code == 303
    resp = operator.post("/objects/checks/cache/delete", data={"csrf_token": token})
    assert resp.status_code == 303

    page = admin.get("/audit", params={"actor": "olivia"})
    assert page.status_code == 200
    shown = rows(page.text)
    assert len(shown) == 4  # newest first: delete, update, create, sign-in
    assert "object.delete checks/cache" in shown[0] and "port 6380" in shown[0]
    assert "→" not in shown[0]  # removed fields show their last value only
    assert "olivia 127.0.0.1 object.update checks/cache port 6379 → 6380" in shown[1]
    assert "object.create checks/cache" in shown[2] and "host 127.0.0.1" in shown[2]
    assert "login user/olivia" in shown[3]
    assert all(r.split()[2] == "olivia" for r in shown)


def test_filter_form_keeps_values_and_feeds_the_export_link(admin: httpx.Client) -> None:
    page = admin.get("/audit", params={"action": "login", "target": "user/"}).text
    assert 'name="action" value="login"' in page
    assert 'name="target" value="user/"' in page
    assert 'href="/api/v1/audit/export?action=login&amp;target=user%2F"' in page
    assert ">Clear<" in page
    assert [r.split()[4] for r in rows(page)] == ["login"]  # date, time, actor, address
    assert admin.get("/api/v1/audit/export", params={"action": "login"}).text.count("\n") == 1

    none = admin.get("/audit", params={"actor": "nobody"}).text
    assert "No entries match these filters." in none

    bad = admin.get("/audit", params={"since": "last tuesday"})
    assert bad.status_code == 200
    assert "is not a date or time (since)" in html.unescape(bad.text)

    dated = admin.get("/audit", params={"since": "2000-01-01 00:00", "until": "2999-01-01"})
    assert len(rows(dated.text)) == 1


def test_older_pages_until_the_first_entry(ctx: AppContext, admin: httpx.Client) -> None:
    with ctx.sessions() as db:
        for i in range(60):
            audit.record(db, Actor("robot", "192.0.2.1"), "object.update", f"checks/n{i}")
        db.commit()
    first = admin.get("/audit", params={"actor": "robot"}).text
    assert len(rows(first)) == 50
    assert "checks/n59" in rows(first)[0]
    older = re.search(r'<a class="button" href="([^"]+)">Older', first)
    assert older
    link = html.unescape(older.group(1))
    assert "actor=robot" in link and "before_id=" in link
    second = admin.get(link).text
    assert [r.split()[-1] for r in rows(second)] == [f"checks/n{i}" for i in range(9, -1, -1)]
    assert "Older" not in second
    assert 'href="/audit?actor=robot">← Newest' in second


def test_verify_button_shows_the_result(ctx: AppContext, admin: httpx.Client) -> None:
    page = admin.get("/audit").text
    assert 'hx-get="/audit/verify"' in page and ">Verify chain<" in page

    full = admin.get("/audit/verify")
    assert full.status_code == 200 and "<html" in full.text
    assert "Chain intact." in full.text
    fragment = admin.get("/audit/verify", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and "Chain intact." in fragment.text

    with ctx.sessions() as db:
        (entry,) = audit.search(db, action="login", limit=1)
        db.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(target="x"))
        db.commit()
    broken = admin.get("/audit/verify", headers={"HX-Request": "true"}).text
    assert "The audit trail was tampered with." in broken
    assert f"Entry #{entry.id}: content does not match its hash" in re.sub(r"<[^>]+>", "", broken)
    assert f'href="/audit?before_id={entry.id + 1}#entry-{entry.id}"' in broken


def test_only_admins_see_the_audit_log(operator: httpx.Client, admin: httpx.Client) -> None:
    assert operator.get("/audit").status_code == 403
    assert operator.get("/audit/verify").status_code == 403
    assert 'href="/audit"' not in operator.get("/").text
    nav = admin.get("/").text
    assert '<a href="/audit" class="">Audit log</a>' in nav
    assert 'href="/audit"' in admin.get("/access").text
    anonymous = httpx.get(str(admin.base_url) + "/audit", follow_redirects=False)
    assert anonymous.status_code == 303 and "/login?next=/audit" in anonymous.headers["location"]
