"""Recurring tasks: list them with their on-time rate, read one and its history, list the
instances (due and overdue first), complete one with its evidence (JSON, or a multipart
form when files are attached), skip one with a reason, download an evidence file (checked
against its SHA-256). Viewers read; responders complete and skip."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData, UploadFile

from watchkeeper.api.deps import Db, get_ctx, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.source import format_path
from watchkeeper.plan.types import format_duration
from watchkeeper.store.tables import utcnow
from watchkeeper.tasks import completion, evidence_files, views
from watchkeeper.tasks.evidence_files import MAX_FILE_BYTES, MAX_FILES, TamperedEvidence, Upload
from watchkeeper.tasks.schedule import get_task

router = APIRouter(prefix="/api/v1", tags=["tasks"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
TaskName = Annotated[str, Path(min_length=1, max_length=128, description="The task's name.")]
InstanceId = Annotated[int, Path(ge=1, le=2**62, description="A task instance's id.")]
MAX_FORM = MAX_FILES * MAX_FILE_BYTES + 1024 * 1024


def _size_limit(request: Request) -> None:
    limit_size(request)


SizeLimit = Annotated[None, Depends(_size_limit)]


class RateOut(BaseModel):
    due: int = Field(description="Instances due (due time passed, or completed).")
    on_time: int = Field(description="Of those, completed on or before their due time.")
    late: int
    missed: int = Field(description="Still open past their due time.")
    skipped: int = Field(description="Skipped with a reason (not in the rate).")
    percent: float | None = Field(description="on_time ÷ due × 100; null: none due yet.")


class TaskOut(BaseModel):
    name: str
    title: str
    kind: str
    owner: str
    recurrence: str
    due_after: str = Field(description="How long after each occurrence it is due.")
    evidence: list[str]
    enabled: bool
    source: str = Field(description="plan (the plan file) or ui (made in the UI).")
    next_at: datetime | None = Field(description="The next occurrence.")
    open: int
    overdue: int
    next_due: datetime | None = Field(description="The oldest open instance's due time.")
    last_done: datetime | None
    rate: RateOut
    url: str


class TaskFull(TaskOut):
    description: str = Field(description="Markdown.")
    checklist: list[str]
    links: list[dict[str, str]]
    reminders: list[str]
    channels: list[str]
    escalate_after: str
    value_label: str
    options: dict[str, Any]


class FileOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    url: str


class WorkItemOut(BaseModel):
    key: str
    label: str
    detail: str
    suggested: str
    link: str


class InstanceOut(BaseModel):
    id: int
    task: str
    title: str
    kind: str
    state: str = Field(description="open, overdue, done or skipped.")
    occurrence_at: datetime
    due_at: datetime
    owner: str
    checklist: list[str]
    checked: list[bool]
    worklist: list[WorkItemOut]
    decisions: dict[str, str]
    applied: list[str] = Field(description="What the task kind did on completion.")
    comment: str
    link: str
    value: str
    completed_at: datetime | None
    completed_by: str
    on_time: bool | None
    skip_reason: str
    reminders_sent: int
    files: list[FileOut]
    url: str


class InstanceList(BaseModel):
    items: list[InstanceOut]


class TaskHistory(BaseModel):
    task: str
    rate: RateOut
    items: list[InstanceOut]


class CompleteIn(BaseModel):
    """Evidence of a completion (files need the multipart form instead)."""

    model_config = ConfigDict(extra="forbid")
    comment: str = Field("", max_length=20_000)
    link: str = Field("", max_length=2000)
    value: str = Field("", max_length=500)
    checked: list[bool] = Field(
        default_factory=list, max_length=500, description="One flag per checklist step."
    )
    decisions: dict[str, str] = Field(
        default_factory=dict, description="Worklist item key -> decision (task kinds)."
    )


class SkipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="Why it is skipped.")


def _rate(rate: views.Rate) -> RateOut:
    return RateOut(
        due=rate.due,
        on_time=rate.on_time,
        late=rate.late,
        missed=rate.missed,
        skipped=rate.skipped,
        percent=rate.percent,
    )


def _task(s: views.TaskSummary) -> dict[str, Any]:
    spec = s.task.spec
    return {
        "name": spec.name,
        "title": spec.title,
        "kind": spec.kind,
        "owner": spec.owner,
        "recurrence": spec.recurrence.describe(),
        "due_after": format_duration(spec.due),
        "evidence": list(spec.evidence),
        "enabled": spec.enabled,
        "source": "plan" if s.task.managed else "ui",
        "next_at": s.next_at,
        "open": s.open,
        "overdue": s.overdue,
        "next_due": s.next_due,
        "last_done": s.last_done,
        "rate": _rate(s.rate),
        "url": f"/tasks/{spec.name}",
    }


def instance_out(v: views.InstanceView) -> InstanceOut:
    base = f"/api/v1/task-instances/{v.id}/files"
    return InstanceOut(
        id=v.id,
        task=v.task,
        title=v.title,
        kind=v.kind,
        state=v.state,
        occurrence_at=v.occurrence_at,
        due_at=v.due_at,
        owner=v.owner,
        checklist=v.checklist,
        checked=v.checked,
        worklist=[WorkItemOut(**w.to_json()) for w in v.worklist],
        decisions=v.decisions,
        applied=v.applied,
        comment=v.comment,
        link=v.link,
        value=v.value,
        completed_at=v.completed_at,
        completed_by=v.completed_by,
        on_time=v.on_time,
        skip_reason=v.skip_reason,
        reminders_sent=v.reminders_sent,
        files=[
            FileOut(
                id=f.id,
                filename=f.filename,
                content_type=f.content_type,
                size=f.size,
                sha256=f.sha256,
                uploaded_by=f.uploaded_by,
                uploaded_at=f.uploaded_at,
                url=f"{base}/{f.id}",
            )
            for f in v.files
        ],
        url=v.url,
    )


@router.get("/tasks", response_model=list[TaskOut], summary="List recurring tasks")
def list_tasks(db: Db, _: Viewer) -> list[TaskOut]:
    return [TaskOut(**_task(s)) for s in views.summaries(db, utcnow())]


@router.get("/tasks/{name}", response_model=TaskFull, summary="Get a recurring task")
def get_task_route(name: TaskName, db: Db, _: Viewer) -> TaskFull:
    task = get_task(db, name)
    summary = views.summaries(db, utcnow(), [task])[0]
    spec = task.spec
    return TaskFull(
        **_task(summary),
        description=spec.description,
        checklist=spec.checklist,
        links=[{"title": link.title, "url": link.url} for link in spec.links],
        reminders=[format_duration(r) for r in spec.reminders],
        channels=list(spec.channels),
        escalate_after=format_duration(spec.escalate_after),
        value_label=spec.value_label,
        options=spec.options,
    )


@router.get(
    "/tasks/{name}/instances",
    response_model=TaskHistory,
    summary="A task's instances, newest first, with its on-time rate",
)
def task_instances(
    name: TaskName,
    db: Db,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> TaskHistory:
    get_task(db, name)
    rate, rows = views.history(db, name, utcnow(), limit)
    return TaskHistory(task=name, rate=_rate(rate), items=[instance_out(v) for v in rows])


@router.get(
    "/task-instances",
    response_model=InstanceList,
    summary="Task instances: open ones first by due time (overdue first), then finished",
)
def list_instances(
    db: Db,
    _: Viewer,
    state: Annotated[
        list[str] | None,
        Query(description="open, overdue, done, skipped (repeatable); default: all."),
    ] = None,
    task: Annotated[str, Query(max_length=128, description="A task name or glob.")] = "",
    owner: Annotated[str, Query(max_length=160)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> InstanceList:
    states = state or []
    bad = [s for s in states if s not in views.STATES]
    if bad:
        raise ValidationFailed(
            "invalid state", [("state", f'"{bad[0]}" is not one of {", ".join(views.STATES)}')]
        )
    rows = views.list_instances(
        db, utcnow(), task=task, states=states, owner=owner, limit=limit, offset=offset
    )
    return InstanceList(items=[instance_out(v) for v in rows])


@router.get("/task-instances/{instance_id}", response_model=InstanceOut, summary="A task instance")
def get_instance(instance_id: InstanceId, db: Db, _: Viewer) -> InstanceOut:
    return instance_out(views.get_instance(db, instance_id, utcnow()))


def limit_size(request: Request) -> None:
    """Refuse a completion larger than its files may be (413), or a multipart one without
    its length (411), before anything reads it (a dependency listed before the role's)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM:
        raise HTTPException(413, "the request is too large")
    if request.headers.get("content-type", "").startswith("multipart/form-data") and not (
        declared.isdigit()
    ):
        raise HTTPException(411, "send the Content-Length of a multipart upload")


async def completion_from_form(form: FormData) -> completion.Completion:
    """The completion a form sends: ``comment``, ``link``, ``value``, ``checked`` (the
    indexes of the ticked steps, repeated), ``decision.<key>`` and ``files``."""
    checked_idx: set[int] = set()
    for raw in form.getlist("checked"):
        if isinstance(raw, str) and raw.isdigit():
            checked_idx.add(int(raw))
    steps = max(checked_idx, default=-1) + 1
    uploads: list[Upload] = []
    for part in form.getlist("files"):
        if isinstance(part, UploadFile) and part.filename:
            content = await part.read(MAX_FILE_BYTES + 1)
            uploads.append(
                Upload(part.filename, content, part.content_type or "application/octet-stream")
            )

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    return completion.Completion(
        comment=text("comment"),
        link=text("link"),
        value=text("value"),
        checked=[i in checked_idx for i in range(min(steps, 500))],
        decisions={
            key[len("decision.") :]: value
            for key, value in form.multi_items()
            if key.startswith("decision.") and isinstance(value, str)
        },
        files=uploads,
    )


async def read_completion(request: Request) -> completion.Completion:
    """A completion from a JSON body or a multipart/urlencoded form; raise ValidationFailed
    naming the bad field."""
    limit_size(request)
    kind = request.headers.get("content-type", "")
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=MAX_FILES + 1, max_fields=2000)
        try:
            return await completion_from_form(form)
        finally:
            await form.close()
    raw = await request.body()
    try:
        body = CompleteIn.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ValidationFailed(
            "the request has invalid fields",
            [(format_path(tuple(e["loc"])) or "body", e["msg"]) for e in exc.errors()],
        ) from None
    return completion.Completion(
        comment=body.comment,
        link=body.link,
        value=body.value,
        checked=body.checked,
        decisions=body.decisions,
    )


@router.post(
    "/task-instances/{instance_id}/complete",
    response_model=InstanceOut,
    summary="Complete a task instance with its evidence",
    description="JSON (`comment`, `link`, `value`, `checked`, `decisions`) or, to attach "
    "files, a multipart form with the same fields (`checked`: the ticked steps' indexes, "
    "repeated; `decision.<key>`; `files`: one or more files). 422 names the evidence that "
    "is missing; 409 when the instance is not open.",
)
async def complete_instance(
    instance_id: InstanceId, request: Request, _: SizeLimit, db: Db, info: Responder
) -> InstanceOut:
    done = replace(await read_completion(request), role=info.role)
    home = get_ctx(request).settings.home
    completion.complete(db, home, instance_id, done, request_actor(request, info), utcnow())
    db.commit()
    return instance_out(views.get_instance(db, instance_id, utcnow()))


@router.post(
    "/task-instances/{instance_id}/skip",
    response_model=InstanceOut,
    summary="Skip a task instance, with a reason",
)
def skip_instance(
    instance_id: InstanceId, body: SkipIn, request: Request, db: Db, info: Responder
) -> InstanceOut:
    completion.skip(db, instance_id, body.reason, request_actor(request, info), utcnow())
    db.commit()
    return instance_out(views.get_instance(db, instance_id, utcnow()))


def evidence_response(request: Request, db: Db, instance_id: int, file_id: int) -> Response:
    """The evidence file, checked against its SHA-256 (409 when it was changed)."""
    try:
        row, content = evidence_files.read_verified(
            db, get_ctx(request).settings.home, instance_id, file_id
        )
    except TamperedEvidence as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(
        content,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{_header_name(row.filename)}"',
            "X-Content-SHA256": row.sha256,
            "X-Content-Type-Options": "nosniff",
        },
    )


def _header_name(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


@router.get(
    "/task-instances/{instance_id}/files/{file_id}",
    summary="Download an evidence file (409 when it no longer matches its SHA-256)",
    response_class=Response,
)
def download_file(
    instance_id: InstanceId,
    file_id: Annotated[int, Path(ge=1, le=2**62)],
    request: Request,
    db: Db,
    _: Viewer,
) -> Response:
    return evidence_response(request, db, instance_id, file_id)
