"""/api/v1/tasks and /api/v1/task-instances over real HTTP: viewers read, responders
complete (JSON, or multipart with files) and skip; missing evidence is a 422 naming the
field; a finished instance answers 409; an evidence file downloads verified, and a tampered
one answers 409."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers import LiveServer
from tests.tasks.support import Clock, apply_tasks, instances
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.runtime.context import AppContext
from watchkeeper.tasks import evidence_files
from watchkeeper.tasks.service import TasksService

SignIn = Callable[..., httpx.Client]
MONDAY = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def seed(ctx: AppContext) -> dict[str, int]:
    with ctx.sessions() as db:
        apply_tasks(db)
    TasksService(ctx.sessions, clock=Clock(MONDAY)).run_once()
    with ctx.sessions() as db:
        return {r.task: r.id for r in instances(db)}


@pytest.mark.parametrize("role", ["viewer", "responder"])
def test_roles(ctx: AppContext, server: LiveServer, sign_in: SignIn, role: str) -> None:
    ids = seed(ctx)
    client = sign_in("someone", role)
    reads = [
        "/api/v1/tasks",
        "/api/v1/tasks/log-review",
        "/api/v1/tasks/log-review/instances",
        "/api/v1/task-instances?state=overdue",
        f"/api/v1/task-instances/{ids['log-review']}",
    ]
    for path in reads:
        assert client.get(path).status_code == 200, path
        assert httpx.get(server.url + path).status_code == 401, path
    body = {"comment": "done", "checked": [True, True]}
    resp = client.post(f"/api/v1/task-instances/{ids['log-review']}/complete", json=body)
    skipped = client.post(
        f"/api/v1/task-instances/{ids['access-review']}/skip", json={"reason": "audit instead"}
    )
    if role == "viewer":
        assert resp.status_code == 403
        assert resp.json()["detail"] == "this needs the responder role; you are viewer"
        assert skipped.status_code == 403
    else:
        assert resp.status_code == 200, resp.text
        assert resp.json()["state"] == "done"
        assert resp.json()["on_time"] is False  # completed long after its due time
        assert skipped.json()["skip_reason"] == "audit instead"


def test_list_orders_overdue_first_with_the_on_time_rate(ctx: AppContext, sign_in: SignIn) -> None:
    seed(ctx)
    client = sign_in("viewer", "viewer")
    tasks = client.get("/api/v1/tasks").json()
    assert [t["name"] for t in tasks] == ["log-review", "access-review"]  # older due first
    assert tasks[0]["overdue"] == 1
    assert tasks[0]["rate"] == {
        "due": 1,
        "on_time": 0,
        "late": 0,
        "missed": 1,
        "skipped": 0,
        "percent": 0.0,
    }
    full = client.get("/api/v1/tasks/log-review").json()
    assert full["recurrence"] == "cron 0 9 * * 1 (Europe/Paris)"
    assert full["reminders"] == ["1d", "4h"]
    assert client.get("/api/v1/tasks/nope").status_code == 404
    bad = client.get("/api/v1/task-instances?state=late")
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "state", "message": '"late" is not one of overdue, open, done, skipped'}
    ]


def test_missing_evidence_is_422_naming_the_field_and_finished_is_409(
    ctx: AppContext, sign_in: SignIn
) -> None:
    ids = seed(ctx)
    client = sign_in("resp", "responder")
    url = f"/api/v1/task-instances/{ids['log-review']}/complete"
    resp = client.post(url, json={"checked": [True, True]})
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"] == [
        {"field": "comment", "message": "this task needs a comment as evidence"}
    ]
    wrong = client.post(url, json={"comment": "x", "checked": "yes"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "checked"
    assert client.post(url, json={"comment": "ok", "checked": [True, True]}).status_code == 200
    again = client.post(url, json={"comment": "ok", "checked": [True, True]})
    assert again.status_code == 409
    assert again.json()["detail"] == f"task instance {ids['log-review']} is done already (by resp)"


def test_multipart_files_download_verified_and_tampering_is_409(
    ctx: AppContext, sign_in: SignIn
) -> None:
    ids = seed(ctx)
    client = sign_in("resp", "responder")
    url = f"/api/v1/task-instances/{ids['access-review']}/complete"
    resp = client.post(
        url,
        data={"comment": "reviewed with the auditors"},
        files=[
            ("files", ("accounts.csv", b"alice,admin,keep\n", "text/csv")),
            ("files", ("sign-off.txt", b"signed: bob\n", "text/plain")),
        ],
    )
    assert resp.status_code == 200, resp.text
    files = resp.json()["files"]
    assert [f["filename"] for f in files] == ["accounts.csv", "sign-off.txt"]
    got = client.get(files[0]["url"])
    assert got.status_code == 200
    assert got.content == b"alice,admin,keep\n"
    assert got.headers["x-content-sha256"] == files[0]["sha256"]
    assert "attachment" in got.headers["content-disposition"]

    stored = evidence_files.folder(ctx.settings.home)
    path = stored / files[0]["sha256"][:2] / files[0]["sha256"]
    path.write_bytes(b"alice,admin,keep\nmallory,admin,keep\n")
    tampered = client.get(files[0]["url"])
    assert tampered.status_code == 409
    assert "does not match its recorded SHA-256" in tampered.json()["detail"]


def test_a_task_made_in_the_ui_is_listed_as_such(ctx: AppContext, sign_in: SignIn) -> None:
    from watchkeeper.plan import catalog

    spec = {"name": "dr-test", "title": "Restore drill", "rrule": "FREQ=YEARLY;BYMONTH=3,9"}
    with ctx.sessions() as db:
        catalog.create_object(db, "tasks.tasks", spec, "admin")
        db.commit()
    client = sign_in("viewer", "viewer")
    task = client.get("/api/v1/tasks/dr-test").json()
    assert (task["source"], task["recurrence"]) == ("ui", "RRULE FREQ=YEARLY;BYMONTH=3,9 (UTC)")
    with ctx.sessions() as db, pytest.raises(ValidationFailed) as caught:
        catalog.create_object(db, "tasks.tasks", {**spec, "name": "x", "rrule": "FREQ=NO"}, "a")
    assert caught.value.errors[0][1].startswith("rrule: not an RRULE")
