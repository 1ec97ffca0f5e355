"""Backups API: the policies with their freshness, last backups, drills and runs in
progress; one policy with its recent runs; the runs table; a policy's DR runbook; its
restore points, and restores (admins) queued for the backups scheduler to carry out.

Nothing here returns a secret: repository URLs are masked and database URLs are reduced to
their host and port.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.backups import views
from watchkeeper.backups.config import all_repositories
from watchkeeper.backups.restic import Restic
from watchkeeper.backups.restore import restore_points
from watchkeeper.backups.runbook import render_runbook
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.store.tables import BackupRun, utcnow

router = APIRouter(prefix="/api/v1/backups", tags=["backups"])
Viewer = Annotated[SessionInfo, require("viewer")]
PolicyName = Annotated[str, Path(max_length=128, description="The policy's name in the plan.")]
Kind = Literal["backup", "copy", "forget", "check", "drill", "restore"]
Status = Literal["queued", "running", "succeeded", "failed"]
RESTORE_COMMAND = True  # `watchkeeper restore` exists (cli_restore.py)
Operator = Annotated[SessionInfo, require("operator")]
Admin = Annotated[SessionInfo, require("admin")]
_DB_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
_DIR_NAME = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$"


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


class RestorePointOut(BaseModel):
    repository: str
    snapshot: str
    time: datetime
    kind: str = Field(description="database (a dump) or files.")
    source: str
    database: str
    file: str
    what: str
    paths: list[str]


class RestorePointsOut(BaseModel):
    points: list[RestorePointOut] = Field(description="Oldest first.")
    errors: dict[str, str] = Field(description="Repositories that did not answer, and why.")


class RestoreIn(BaseModel):
    """A restore to carry out: a snapshot from the restore points, into a new database or
    a new directory under Watchkeeper's home (``restores/NAME``)."""

    model_config = ConfigDict(extra="forbid")
    repository: str = Field(max_length=128)
    snapshot: str = Field(min_length=8, max_length=64, pattern=r"^[0-9a-f]+$")
    kind: Literal["database", "files"]
    into: str | None = Field(
        None, pattern=_DB_NAME, description="database: the new database's name."
    )
    directory: str | None = Field(
        None, pattern=_DIR_NAME, description="files: a new directory's name under restores/."
    )
    owners: bool = Field(True, description="database: restore ownership and privileges.")


class RestoreQueuedOut(BaseModel):
    run_id: int
    status: str


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


@router.get(
    "/{policy}/restore-points",
    response_model=RestorePointsOut,
    summary="What the policy's snapshots can be restored as (reads the repository)",
)
async def get_restore_points(
    request: Request,
    db: Db,
    _: Operator,
    policy: PolicyName,
    repository: Annotated[str | None, Query(max_length=128)] = None,
) -> RestorePointsOut:
    section = await run_in_threadpool(views.load_section, db)
    engine = Restic(cache_dir=get_ctx(request).settings.home / "cache" / "restic")
    points, errors = await restore_points(engine, section, policy, repository)
    return RestorePointsOut(
        points=[RestorePointOut.model_validate(p.as_json()) for p in reversed(points)],
        errors=errors,
    )


@router.post(
    "/{policy}/restores",
    status_code=202,
    response_model=RestoreQueuedOut,
    summary="Queue a restore; the backups scheduler carries it out (see the run's progress)",
)
async def queue_restore(
    request: Request, db: Db, info: Admin, policy: PolicyName, body: RestoreIn
) -> RestoreQueuedOut:
    run_id = await run_in_threadpool(
        queue_restore_request, db, request_actor(request, info), policy, body
    )
    return RestoreQueuedOut(run_id=run_id, status="queued")


def queue_restore_request(db: Session, actor: Actor, policy: str, body: RestoreIn) -> int:
    """Queue ``body`` as a ``restore`` run of ``policy`` (status ``queued``, claimed by the
    backups scheduler), audited; return the run's id. Raise ValidationFailed for a request
    that cannot be carried out, NotFoundError for an unknown policy."""
    if body.kind == "database" and not body.into:
        raise ValidationFailed(
            "a database restore needs the new database's name",
            [("into", "give a new database name")],
        )
    if body.kind == "files" and not body.directory:
        raise ValidationFailed(
            "a files restore needs a new directory's name",
            [("directory", "give a new directory name")],
        )
    found = views.find_policy(views.load_section(db), policy)
    readable = all_repositories(found)  # the policy's repositories and its copy targets
    if body.repository not in readable:
        raise ValidationFailed(
            f"policy {policy} does not write to repository {body.repository!r}",
            [("repository", f"one of {', '.join(readable)}")],
        )
    row = BackupRun(
        policy=policy,
        repository=body.repository,
        kind="restore",
        status="queued",
        trigger=actor.name,
        started_at=utcnow(),
        snapshot_id=body.snapshot,
        details={"request": body.model_dump(exclude={"repository"})},
    )
    db.add(row)
    db.flush()
    audit.record(db, actor, "backup.restore", policy, {"run_id": row.id, **body.model_dump()})
    db.commit()
    return row.id
