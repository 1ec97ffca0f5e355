"""/api/v1/runbooks over real HTTP: roles (viewers read, responders write, operators
delete), search, create from a document or from fields, edit with a note and a base
version, history, diff, review, and bad input as problem+json naming the field and line."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import make_user
from tests.helpers import LiveServer
from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge import runbooks
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import Runbook, utcnow

SignIn = Callable[..., httpx.Client]
DOC = "---\ntitle: Disk full\nservices: [db]\ntags: [disk]\n---\n\n# Disk full\n\nFree space.\n"


def seed(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        runbooks.create_runbook(db, DOC, Actor("alice"), utcnow())
        db.commit()


READS = [
    ("GET", "/api/v1/runbooks"),
    ("GET", "/api/v1/runbooks/disk-full"),
    ("GET", "/api/v1/runbooks/disk-full/revisions"),
    ("GET", "/api/v1/runbooks/disk-full/revisions/1"),
    ("GET", "/api/v1/runbooks/disk-full/diff?from=1&to=1"),
    ("GET", "/api/v1/runbooks/disk-full/reviews"),
]
WRITES = [
    ("POST", "/api/v1/runbooks", {"content": "# Another\n"}, 201),
    ("PUT", "/api/v1/runbooks/disk-full", {"content": DOC + "More.\n", "note": "more"}, 200),
    ("POST", "/api/v1/runbooks/disk-full/review", {"note": "ok"}, 200),
]


@pytest.mark.parametrize("role", ["viewer", "responder", "operator"])
def test_roles(ctx: AppContext, server: LiveServer, sign_in: SignIn, role: str) -> None:
    seed(ctx)
    client = sign_in("someone", role)
    for method, path in READS:
        assert client.request(method, path).status_code == 200, path
        assert httpx.request(method, server.url + path).status_code == 401, path
    for method, path, body, status in WRITES:
        resp = client.request(method, path, json=body)
        if role == "viewer":
            assert resp.status_code == 403, path
            assert resp.json()["detail"] == "this needs the responder role; you are viewer"
        else:
            assert resp.status_code == status, (path, resp.text)
    deleted = client.delete("/api/v1/runbooks/disk-full")
    assert deleted.status_code == (204 if role == "operator" else 403)


def test_create_edit_history_diff_review(ctx: AppContext, sign_in: SignIn) -> None:
    client = sign_in("rita", "responder")
    created = client.post(
        "/api/v1/runbooks",
        json={
            "slug": "db-failover",
            "title": "Database failover",
            "services": ["api"],
            "alerts": ["PostgresDown"],
            "tags": ["database"],
            "review_period": "90d",
            "markdown": "# Steps\n\n1. Promote the replica.\n",
            "note": "first",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["slug"] == "db-failover" and body["version"] == 1
    assert body["review_period"] == "90d" and body["url"] == "/runbooks/db-failover"
    assert body["content"].startswith("---\ntitle: Database failover\nservices:\n- api\n")
    assert body["covers"] == {"services": ["api"], "alerts": ["PostgresDown"], "checks": []}

    edited = body["content"].replace("1. Promote the replica.", "1. Promote it with patroni.")
    saved = client.put(
        "/api/v1/runbooks/db-failover",
        json={"content": edited, "note": "patroni", "base_version": 1},
    )
    assert saved.status_code == 200 and saved.json()["version"] == 2
    stale = client.put(
        "/api/v1/runbooks/db-failover",
        json={"content": edited + "x", "base_version": 1},
    )
    assert stale.status_code == 409 and "changed meanwhile" in stale.json()["detail"]

    history = client.get("/api/v1/runbooks/db-failover/revisions").json()
    assert [(r["version"], r["author"], r["note"]) for r in history] == [
        (2, "rita", "patroni"),
        (1, "rita", "first"),
    ]
    diff = client.get("/api/v1/runbooks/db-failover/diff", params={"from": 1, "to": 2}).json()
    assert (diff["added"], diff["removed"]) == (1, 1)
    assert "+1. Promote it with patroni.\n" in diff["unified"]

    reviewed = client.post("/api/v1/runbooks/db-failover/review", json={"note": "drill passed"})
    assert reviewed.json()["last_reviewed_by"] == "rita"
    reviews = client.get("/api/v1/runbooks/db-failover/reviews").json()
    assert [(r["by"], r["note"]) for r in reviews] == [("rita", "drill passed")]

    found = client.get("/api/v1/runbooks", params={"q": "patroni"}).json()
    assert [r["slug"] for r in found["items"]] == ["db-failover"] and found["total"] == 1
    assert client.get("/api/v1/runbooks", params={"due": "true"}).json()["items"] == []


def test_bad_input_is_a_problem_naming_the_field(sign_in: SignIn) -> None:
    client = sign_in("rita", "responder")
    bad_doc = client.post("/api/v1/runbooks", json={"content": "---\ntags: 3\n---\n# T\n"})
    assert bad_doc.status_code == 422
    assert bad_doc.headers["content-type"] == "application/problem+json"
    assert bad_doc.json()["errors"] == [
        {"field": "content", "message": "line 2:7 tags: must be a list (got 3)"}
    ]
    bad_fields = client.post(
        "/api/v1/runbooks", json={"markdown": "x", "title": "T", "review_period": "soon"}
    )
    assert bad_fields.status_code == 422
    assert bad_fields.json()["errors"][0]["field"] == "review_period"
    both = client.post("/api/v1/runbooks", json={"markdown": "x", "content": "# T"})
    assert both.status_code == 422 and "either" in both.text
    assert client.get("/api/v1/runbooks/nope").status_code == 404
    assert client.get("/api/v1/runbooks/nope").json()["detail"] == 'no runbook is named "nope"'
    dup = client.post("/api/v1/runbooks", json={"content": "# Same\n"})
    assert dup.status_code == 201
    assert client.post("/api/v1/runbooks", json={"content": "# Same\n"}).status_code == 409


def test_folder_runbooks_refuse_edits(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        db.add(
            Runbook(
                slug="from-git",
                source="folder",
                path="from-git.md",
                content="# From git\n",
                title="From git",
                body="# From git\n",
                search_text="from git",
            )
        )
        db.commit()
    make_user(ctx, "opal", "operator")
    client = sign_in("opal")
    put = client.put("/api/v1/runbooks/from-git", json={"content": "# Changed\n"})
    assert put.status_code == 409 and "edit the file there" in put.json()["detail"]
    assert client.delete("/api/v1/runbooks/from-git").status_code == 409
    assert client.post("/api/v1/runbooks/from-git/review").status_code == 200
    assert client.get("/api/v1/runbooks/from-git").json()["read_only"] is True
