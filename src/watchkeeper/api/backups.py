"""Backups API (read-only): the policies with their freshness, last backups, drills and runs
in progress; one policy with its recent runs; the runs table; a policy's DR runbook.

Nothing here returns a secret: repository URLs are masked and database URLs are reduced to
their host and port.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.backups import views
from watchkeeper.backups.runbook import render_runbook
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1/backups", tags=["backups"])
Viewer = Annotated[SessionInfo, require("viewer")]
PolicyName = Annotated[str, Path(max_length=128, description="The policy's name in the plan.")]
Kind = Literal["backup", "copy", "forget", "check", "drill", "restore"]
Status = Literal["running", "succeeded", "failed"]
RESTORE_COMMAND = False  # set when `watchkeeper restore` exists (cli_backup.py)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProgressOut(_Out):
    fraction: float = Field(description="0..1")
    bytes_done: int
    bytes_total: int
    seconds_remaining: float | None


class RunOut(_Out):
    id: int
    policy: str
    repository: str
    kind: str = Field(description="backup, copy, forget, check, drill or restore.")
    status: str = Field(description="running, succeeded or failed.")
    trigger: str = Field(description='"schedule" or the user who started it.')
    started_at: datetime
    finished_at: datetime | None
    snapshot_id: str
    bytes_total: int = Field(description="Bytes the backup read.")
    bytes_added: int = Field(description="New bytes stored in the repository.")
    files: int
    duration_s: float | None
    rto_s: float | None = Field(description="Drills: measured restore time, seconds.")
    rpo_s: float | None = Field(description="Drills: snapshot age at restore, seconds.")
    error: str
    progress: ProgressOut | None = Field(description="While running.")


class SourceOut(_Out):
    type: str
    summary: str
    targets: list[str] = Field(description="Databases, paths or the SQLite file.")
    server: str = Field(description="host:port of a database server (no credentials).")


class RepositoryOut(_Out):
    name: str
    url: str = Field(description="Repository location, credentials masked.")
    last_success: RunOut | None
    last_failure: RunOut | None
    age_s: float | None = Field(description="Age of the last good backup, seconds.")
    freshness: str = Field(description="ok, late or never.")
    size_change_pct: float | None


class PolicyOut(_Out):
    name: str
    description: str
    source: SourceOut
    schedule: str
    next_run: datetime
    max_age_s: float = Field(description="Age past which the last good backup is late.")
    freshness: str = Field(description="ok, late or never (the worst of its repositories).")
    repositories: list[RepositoryOut]
    last_success: RunOut | None
    last_failure: RunOut | None
    size_change_pct: float | None = Field(description="Last good backup vs the one before.")
    size_change_alert: bool = Field(description="The change exceeds freshness.max_size_change.")
    last_drill: RunOut | None
    last_check: RunOut | None
    running: list[RunOut]


class PolicyDetailOut(PolicyOut):
    runs: list[RunOut] = Field(description="Recent runs, newest first.")


class OverviewOut(BaseModel):
    policies: list[PolicyOut]


class RunsOut(BaseModel):
    runs: list[RunOut]


def policy_detail(db: Session, name: str) -> views.PolicyView:
    """The view of policy ``name``; raise NotFoundError when the plan has none."""
    section = views.load_section(db)
    return views.policy_view(db, section, views.find_policy(section, name))


def runbook_text(db: Session, name: str) -> str:
    """The runbook of policy ``name`` in Markdown; raise NotFoundError when unknown."""
    section = views.load_section(db)
    now = utcnow()
    view = views.policy_view(db, section, views.find_policy(section, name), now)
    return render_runbook(section, view, now=now, restore_command=RESTORE_COMMAND)


@router.get("", response_model=OverviewOut, summary="Backup policies and their state")
async def list_policies(db: Db, _: Viewer) -> OverviewOut:
    found = await run_in_threadpool(views.overview, db)
    return OverviewOut(policies=[PolicyOut.model_validate(p) for p in found])


@router.get("/runs", response_model=RunsOut, summary="Backup runs, newest first")
async def list_runs(
    db: Db,
    _: Viewer,
    policy: Annotated[str | None, Query(max_length=128)] = None,
    kind: Kind | None = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunsOut:
    found = await run_in_threadpool(
        lambda: views.list_runs(db, policy=policy, kind=kind, status=status, limit=limit)
    )
    return RunsOut(runs=[RunOut.model_validate(r) for r in found])


@router.get("/{policy}", response_model=PolicyDetailOut, summary="One policy with recent runs")
async def get_policy(
    db: Db,
    _: Viewer,
    policy: PolicyName,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> PolicyDetailOut:
    def work() -> PolicyDetailOut:
        view = policy_detail(db, policy)
        runs = views.list_runs(db, policy=policy, limit=limit)
        base = PolicyOut.model_validate(view)
        return PolicyDetailOut(**dict(base), runs=[RunOut.model_validate(r) for r in runs])

    return await run_in_threadpool(work)


@router.get(
    "/{policy}/runbook",
    summary="The policy's disaster-recovery runbook (Markdown)",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}},
)
async def get_runbook(
    db: Db,
    _: Viewer,
    policy: PolicyName,
    download: Annotated[bool, Query(description="Send as a file to save.")] = False,
) -> Response:
    text = await run_in_threadpool(runbook_text, db, policy)
    headers = {"Cache-Control": "no-store"}
    if download:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in policy)
        headers["Content-Disposition"] = f'attachment; filename="runbook-{safe}.md"'
    return Response(text, media_type="text/markdown; charset=utf-8", headers=headers)
