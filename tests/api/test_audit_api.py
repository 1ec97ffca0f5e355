"""The audit API: search with filters and pages, JSON-lines export, chain check; admin only.
Changes made through the API are recorded with the user and their address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import login, make_user
from tests.helpers import LiveServer
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.tables import AuditEntry

CHECK = {"name": "cache", "type": "tcp", "host": "cache.internal", "port": 6379}


def entries(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    resp = client.get("/api/v1/audit", params=params)
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["entries"]
    return found


@pytest.fixture
def changes(admin: httpx.Client) -> httpx.Client:
    """The admin created, updated and deleted an object through the API."""
    assert admin.post("/api/v1/objects/checks", json=CHECK).status_code == 201
    resp = admin.put("/api/v1/objects/checks/cache", json={**CHECK, "port": 6380})
    assert resp.status_code == 200, resp.text
    assert admin.delete("/api/v1/objects/checks/cache").status_code == 204
    return admin


def test_api_object_changes_are_recorded_with_user_address_and_before_after(
    changes: httpx.Client,
) -> None:
    newest = entries(changes, action="object.")
    assert [e["action"] for e in newest] == ["object.delete", "object.update", "object.create"]
    assert {e["actor"] for e in newest} == {"admin"}
    assert {e["client_addr"] for e in newest} == {"127.0.0.1"}
    assert {e["target"] for e in newest} == {"checks/cache"}
    deleted, updated, created = newest
    assert updated["detail"] == {"changes": {"port": {"before": 6379, "after": 6380}}}
    assert created["detail"]["changes"]["host"] == {"before": None, "after": "cache.internal"}
    assert deleted["detail"]["changes"]["port"] == {"before": 6380, "after": None}
    assert updated["prev_hash"] == created["hash"]


def test_a_refused_change_is_not_recorded(admin: httpx.Client) -> None:
    assert admin.post("/api/v1/objects/checks", json={**CHECK, "port": 0}).status_code == 422
    assert admin.delete("/api/v1/objects/checks/nope").status_code == 404
    assert entries(admin, action="object.") == []


def test_filters(changes: httpx.Client) -> None:
    everything = entries(changes)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert "login" in {e["action"] for e in everything}
    assert {e["actor"] for e in entries(changes, actor="admin")} == {"admin"}
    assert entries(changes, actor="nobody") == []
    assert [e["action"] for e in entries(changes, action="object.upd")] == ["object.update"]
    assert len(entries(changes, target="checks/")) == 3
    assert entries(changes, target="users/") == []
    first = datetime.fromisoformat(everything[-1]["at"])
    assert len(entries(changes, since=first.isoformat())) == len(everything)
    assert entries(changes, until=first.isoformat()) == []  # until is exclusive
    future = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert entries(changes, since=future) == []  # a time without offset is UTC
    assert len(entries(changes, until=future)) == len(everything)
    bad = changes.get("/api/v1/audit", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_pages_follow_before_id_to_the_oldest_entry(changes: httpx.Client) -> None:
    everything = [e["id"] for e in entries(changes)]
    assert len(everything) >= 4
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = changes.get("/api/v1/audit", params=params).json()
        assert len(page["entries"]) <= 2
        seen += [e["id"] for e in page["entries"]]
        if page["next_before_id"] is None:
            break
        assert page["next_before_id"] == seen[-1]
        params["before_id"] = page["next_before_id"]
    assert seen == everything
    assert changes.get("/api/v1/audit", params={"limit": 0}).status_code == 422
    assert changes.get("/api/v1/audit", params={"limit": 501}).status_code == 422


def test_export_streams_json_lines_oldest_first(changes: httpx.Client) -> None:
    resp = changes.get("/api/v1/audit/export")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-ndjson"
    assert "attachment" in resp.headers["content-disposition"]
    assert resp.text.endswith("\n")
    docs = [json.loads(line) for line in resp.text.splitlines()]
    assert [d["id"] for d in docs] == sorted(e["id"] for e in entries(changes))
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(docs, docs[1:], strict=False))

    only = changes.get("/api/v1/audit/export", params={"action": "object.", "actor": "admin"})
    assert [json.loads(x)["action"] for x in only.text.splitlines()] == [
        "object.create",
        "object.update",
        "object.delete",
    ]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert changes.get("/api/v1/audit/export", params={"since": future}).text == ""


def test_verify_reports_the_chain(ctx: AppContext, changes: httpx.Client) -> None:
    ok = changes.get("/api/v1/audit/verify").json()
    assert ok["ok"] is True and ok["bad_id"] is None and ok["reason"] == "chain intact"
    assert ok["checked"] == len(entries(changes))

    victim = entries(changes, action="object.update")[0]["id"]
    with ctx.sessions() as db:
        db.execute(update(AuditEntry).where(AuditEntry.id == victim).values(actor="mallory"))
        db.commit()
    bad = changes.get("/api/v1/audit/verify").json()
    assert bad == {
        "ok": False,
        "checked": bad["checked"],
        "bad_id": victim,
        "reason": "content does not match its hash",
    }


@pytest.mark.parametrize("role", ["viewer", "responder", "operator"])
def test_only_admins_read_the_audit_trail(ctx: AppContext, server: LiveServer, role: str) -> None:
    make_user(ctx, "someone", role)
    client = login(server.url, "someone")
    try:
        for path in ("/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify"):
            resp = client.get(path)
            assert resp.status_code == 403, path
            assert "admin" in resp.json()["detail"]
            assert httpx.get(server.url + path).status_code == 401
    finally:
        client.close()


@pytest.fixture
def plan_server(database_url: str, engine: Any, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: prod\nchecks:\n  - {name: db, type: tcp, host: h, port: 1}\n")
    settings = load_settings(
        env={}, home=tmp_path / "home", database_url=database_url, plan_path=plan
    )
    context = AppContext.create(settings, env={})
    try:
        make_user(context, "admin", "admin")
        with LiveServer(create_app(context)) as live:
            yield plan, live.url
    finally:
        context.engine.dispose()


def test_plan_apply_through_the_api_is_recorded_for_the_user(
    plan_server: tuple[Path, str],
) -> None:
    plan, url = plan_server
    client = login(url, "admin")
    try:
        resp = client.post("/api/v1/plan/apply")
        assert resp.status_code == 200, resp.text
        plan.write_text("name: prod\nchecks: []\n")
        assert client.post("/api/v1/plan/apply").json()["deleted"] == 1
        applies = entries(client, action="plan.apply")
        assert [(e["actor"], e["client_addr"]) for e in applies] == [("admin", "127.0.0.1")] * 2
        assert applies[0]["detail"]["changes"] == ["- checks/db"]
        assert applies[0]["detail"]["deleted"] == 1
        assert applies[1]["detail"]["changes"] == ["+ checks/db"]
        assert applies[1]["target"] == "plan/prod"
    finally:
        client.close()
