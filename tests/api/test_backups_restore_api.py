"""Restores through the API on a real server: an operator lists the restore points (read
from a real restic repository), an admin queues a restore, the backups scheduler claims it
and carries it out; bad requests answer 422 problems; viewers and operators cannot restore."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.backups.dbs import REPO_PASSWORD
from tests.backups.restic_support import source_dir
from tests.helpers import LiveServer
from watchkeeper.backups.restic import Restic
from watchkeeper.backups.schedule import BackupScheduler
from watchkeeper.backups.views import load_section
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry, BackupRun

SignIn = Callable[..., httpx.Client]


def _scheduler(ctx: AppContext) -> BackupScheduler:
    engine = Restic(cache_dir=ctx.settings.home / "cache" / "restic")
    return BackupScheduler(ctx.sessions, engine, settings=ctx.settings)


@pytest.fixture
def backed_up(ctx: AppContext, tmp_path: Path) -> tuple[AppContext, Path]:
    """A files policy with one real backup in a local repository; return the source."""
    src = source_dir(tmp_path)
    text = textwrap.dedent(
        f"""
        backups:
          repositories:
            - {{name: local, url: "{tmp_path / "repo"}", password: {REPO_PASSWORD}}}
          policies:
            - name: docs
              source: {{type: files, paths: ["{src}"]}}
              repositories: [local]
        """
    )
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(text, env={}))
        db.commit()
    scheduler = BackupScheduler(
        ctx.sessions,
        Restic(cache_dir=ctx.settings.home / "cache" / "restic"),
        settings=ctx.settings,
    )
    with ctx.sessions() as db:
        section = load_section(db)
    (outcome,) = asyncio.run(scheduler.runner.backup(section, "docs", trigger="test"))
    assert outcome.ok, outcome.error
    return ctx, src


def test_points_queue_and_carry_out(
    backed_up: tuple[AppContext, Path], server: LiveServer, sign_in: SignIn
) -> None:
    ctx, src = backed_up
    operator = sign_in("otto", "operator")
    resp = operator.get("/api/v1/backups/docs/restore-points")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["errors"] == {}
    (point,) = body["points"]
    assert point["kind"] == "files" and point["repository"] == "local"
    assert point["paths"] == [str(src)]
    assert REPO_PASSWORD not in resp.text

    refused = operator.post(
        "/api/v1/backups/docs/restores",
        json={
            "repository": "local",
            "snapshot": point["snapshot"],
            "kind": "files",
            "directory": "x",
        },
    )
    assert refused.status_code == 403

    admin = sign_in("ada", "admin")
    queued = admin.post(
        "/api/v1/backups/docs/restores",
        json={
            "repository": "local",
            "snapshot": point["snapshot"],
            "kind": "files",
            "directory": "docs-back",
        },
    )
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["run_id"]
    with ctx.sessions() as db:
        row = db.get(BackupRun, run_id)
        assert row is not None and (row.status, row.kind, row.trigger) == (
            "queued",
            "restore",
            "ada",
        )
        audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "backup.restore")).one()
        assert audit.actor == "ada" and audit.detail["run_id"] == run_id

    page = admin.get("/api/v1/backups/docs")
    assert [r["status"] for r in page.json()["running"]] == ["queued"]

    scheduler = BackupScheduler(
        ctx.sessions,
        Restic(cache_dir=ctx.settings.home / "cache" / "restic"),
        settings=ctx.settings,
    )

    async def one_pass() -> None:
        await scheduler.run_once()
        await scheduler.wait_idle()

    asyncio.run(one_pass())
    with ctx.sessions() as db:
        row = db.get(BackupRun, run_id)
        assert row is not None and row.status == "succeeded", row.error if row else None
        assert row.snapshot_id.startswith(point["snapshot"][:8]) and row.bytes_total > 0
    restored = ctx.settings.home / "restores" / "docs-back" / str(src).lstrip("/")
    assert (restored / "a.txt").read_text() == "alpha\n"

    # the same directory again: the scheduler refuses to write into it, the row says why
    again = admin.post(
        "/api/v1/backups/docs/restores",
        json={
            "repository": "local",
            "snapshot": point["snapshot"],
            "kind": "files",
            "directory": "docs-back",
        },
    )
    asyncio.run(one_pass())
    with ctx.sessions() as db:
        row = db.get(BackupRun, again.json()["run_id"])
        assert row is not None and row.status == "failed"
        assert "not an empty directory" in row.error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"repository": "local", "snapshot": "abcdef12", "kind": "database"}, "into"),
        ({"repository": "local", "snapshot": "abcdef12", "kind": "files"}, "directory"),
        (
            {"repository": "elsewhere", "snapshot": "abcdef12", "kind": "files", "directory": "d"},
            "repository",
        ),
        (
            {
                "repository": "local",
                "snapshot": "abcdef12",
                "kind": "database",
                "into": "drop table; --",
            },
            "into",
        ),
        (
            {
                "repository": "local",
                "snapshot": "abcdef12",
                "kind": "files",
                "directory": "../../etc",
            },
            "directory",
        ),
        ({"repository": "local", "snapshot": "ZZZ", "kind": "files", "directory": "d"}, "snapshot"),
    ],
)
def test_bad_requests_are_422_problems(
    backed_up: tuple[AppContext, Path],
    server: LiveServer,
    sign_in: SignIn,
    body: dict[str, str],
    field: str,
) -> None:
    admin = sign_in("ada", "admin")
    resp = admin.post("/api/v1/backups/docs/restores", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert field in resp.text
    ctx, _ = backed_up
    with ctx.sessions() as db:
        assert db.scalars(select(BackupRun).where(BackupRun.kind == "restore")).all() == []


def test_unknown_policy_is_404(backed_up: tuple[AppContext, Path], sign_in: SignIn) -> None:
    admin = sign_in("ada", "admin")
    assert admin.get("/api/v1/backups/nope/restore-points").status_code == 404
    resp = admin.post(
        "/api/v1/backups/nope/restores",
        json={"repository": "local", "snapshot": "abcdef12", "kind": "files", "directory": "d"},
    )
    assert resp.status_code == 404
