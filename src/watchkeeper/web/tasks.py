"""Task pages: the list (instances due and overdue first, every task with its on-time rate),
one task (its description, recurrence, next occurrences and history), and one instance with
its checklist, worklist and evidence form, or the evidence it was completed with (each file
checked against its SHA-256)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.api.deps import Db, get_ctx, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.api.tasks import SizeLimit, read_completion
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.plan.types import format_duration
from watchkeeper.store.tables import utcnow
from watchkeeper.tasks import completion, evidence_files, views
from watchkeeper.tasks.kinds import KindError, get_kind
from watchkeeper.tasks.schedule import get_task, load_tasks
from watchkeeper.web.alerts import markdown, safe_url
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageResponder = Annotated[SessionInfo, require("responder", page=True)]
TaskName = Annotated[str, Path(min_length=1, max_length=128)]
InstanceId = Annotated[int, Path(ge=1, le=2**62)]
NOTICES = {
    "completed": "Completed: the evidence is recorded.",
    "skipped": "Skipped: the reason is recorded.",
}


def _instance_path(task: str, instance_id: int) -> str:
    return f"/tasks/{quote(task, safe='')}/instances/{instance_id}"


def _roughly(delta: timedelta) -> str:
    """``delta`` in its largest whole unit: 3 days, 5 hours, 12 minutes."""
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = int(delta.total_seconds() // seconds)
        if count >= 1:
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return "less than a minute"


@router.get("/tasks")
def tasks_page(request: Request, db: Db, user: PageUser) -> Response:
    now = utcnow()
    tasks = load_tasks(db)
    due = views.list_instances(db, now, states=("overdue", "open"), limit=200)
    return render(
        request,
        "tasks.html",
        summaries=views.summaries(db, now, tasks),
        due=due,
        overdue=sum(1 for d in due if d.state == "overdue"),
        now=now,
        can_edit=role_allows(user.role, "operator"),
        fmt_duration=format_duration,
        active="tasks",
        page_title="Tasks",
    )


@router.get("/tasks/{name}")
def task_page(request: Request, name: TaskName, db: Db, user: PageUser) -> Response:
    now = utcnow()
    task = get_task(db, name)
    summary = views.summaries(db, now, [task])[0]
    rate, history = views.history(db, name, now)
    upcoming: list[datetime] = []
    at = max(now, task.added_at)
    while task.spec.enabled and len(upcoming) < 5:
        nxt = task.spec.recurrence.next_after(at)
        if nxt is None:
            break
        upcoming.append(nxt)
        at = nxt
    return render(
        request,
        "task.html",
        task=task,
        spec=task.spec,
        summary=summary,
        rate=rate,
        history=history,
        upcoming=upcoming,
        description=markdown(task.spec.description) if task.spec.description else "",
        links=[(link.title, safe_url(link.url)) for link in task.spec.links],
        fmt_duration=format_duration,
        can_edit=role_allows(user.role, "operator") and not task.managed,
        now=now,
        active="tasks",
        page_title=task.spec.title,
    )


def _instance_page(
    request: Request,
    db: Db,
    user: SessionInfo,
    name: str,
    instance_id: int,
    *,
    problems: list[tuple[str, str]] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    now = utcnow()
    inst = views.get_instance(db, instance_id, now)
    if inst.task != name:
        return RedirectResponse(_instance_path(inst.task, inst.id), status_code=303)
    try:
        task = get_task(db, name)
        spec = task.spec
    except NotFoundError:  # the task left the plan: its instance is still shown
        spec = None
    decisions: tuple[str, ...] = ()
    if inst.kind:
        try:
            decisions = get_kind(inst.kind).decisions
        except KindError:
            decisions = ()
    home = get_ctx(request).settings.home
    return render(
        request,
        "task_instance.html",
        status=status,
        inst=inst,
        spec=spec,
        description=markdown(spec.description) if spec and spec.description else "",
        links=[(link.title, safe_url(link.url)) for link in spec.links] if spec else [],
        decisions=decisions,
        file_states=evidence_files.states(db, home, inst.id),
        can_complete=role_allows(user.role, "responder") and not inst.finished,
        problems=problems or [],
        error=error,
        notice=NOTICES.get(request.query_params.get("done", "")),
        late_by=_roughly(now - inst.due_at),
        fmt_duration=format_duration,
        now=now,
        active="tasks",
        page_title=f"{inst.title} · {inst.occurrence_at:%Y-%m-%d}",
    )


@router.get("/tasks/{name}/instances/{instance_id}")
def instance_page(
    request: Request, name: TaskName, instance_id: InstanceId, db: Db, user: PageUser
) -> Response:
    return _instance_page(request, db, user, name, instance_id)


@router.post("/tasks/{name}/instances/{instance_id}/complete")
async def complete_form(
    request: Request,
    name: TaskName,
    instance_id: InstanceId,
    _: SizeLimit,
    db: Db,
    user: PageResponder,
) -> Response:
    try:
        done = replace(await read_completion(request), role=user.role)
        completion.complete(
            db, get_ctx(request).settings.home, instance_id, done, _actor(request, user), utcnow()
        )
    except ValidationFailed as exc:
        db.rollback()
        return _instance_page(request, db, user, name, instance_id, problems=exc.errors, status=422)
    except ConflictError as exc:
        db.rollback()
        return _instance_page(request, db, user, name, instance_id, error=str(exc), status=409)
    db.commit()
    return RedirectResponse(f"{_instance_path(name, instance_id)}?done=completed", status_code=303)


@router.post("/tasks/{name}/instances/{instance_id}/skip")
def skip_form(
    request: Request,
    name: TaskName,
    instance_id: InstanceId,
    db: Db,
    user: PageResponder,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        completion.skip(db, instance_id, reason, _actor(request, user), utcnow())
    except ValidationFailed as exc:
        db.rollback()
        return _instance_page(request, db, user, name, instance_id, problems=exc.errors, status=422)
    except ConflictError as exc:
        db.rollback()
        return _instance_page(request, db, user, name, instance_id, error=str(exc), status=409)
    db.commit()
    return RedirectResponse(f"{_instance_path(name, instance_id)}?done=skipped", status_code=303)
