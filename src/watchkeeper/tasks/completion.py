"""Completing a task instance with the evidence its task requires, or skipping it with a
reason. Both are recorded with who and when, audited, and resolve ``TaskOverdue`` when no
other instance of the task is overdue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.store.tables import TaskInstance
from watchkeeper.tasks import overdue
from watchkeeper.tasks.evidence_files import Upload, check_uploads, store_file
from watchkeeper.tasks.kinds import KindContext, KindError, get_kind, options_of
from watchkeeper.tasks.metrics import TASK_COMPLETIONS
from watchkeeper.tasks.schedule import get_task, previous_occurrence

MAX_COMMENT = 20_000


@dataclass(frozen=True)
class Completion:
    """What the person completing an instance sends. ``checked``: the checklist's state,
    one flag per step (missing ones are unticked); ``decisions``: the kind's worklist
    ``key -> decision``."""

    comment: str = ""
    link: str = ""
    value: str = ""
    checked: list[bool] = field(default_factory=list)
    decisions: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)
    # The caller's effective role (an API token's scope, or the signed-in user's role): what
    # a kind that changes access checks ("" → the account's stored role alone).
    role: str = ""


def _open_row(db: Session, instance_id: int) -> TaskInstance:
    row = db.get(TaskInstance, instance_id, with_for_update=True)
    if row is None:
        raise NotFoundError(f"no task instance {instance_id}")
    if row.status != "open":
        raise ConflictError(
            f"task instance {instance_id} is {row.status} already"
            + (f" (by {row.completed_by})" if row.completed_by else "")
        )
    return row


def _link_ok(link: str) -> bool:
    lowered = link.lower()
    return lowered.startswith(("http://", "https://")) or (
        link.startswith("/") and not link.startswith("//")
    )


def _check(row: TaskInstance, evidence: Sequence[str], done: Completion) -> list[bool]:
    """The checklist state to record; raise ValidationFailed naming each missing piece."""
    steps = len(row.checklist)
    checked = [bool(done.checked[i]) if i < len(done.checked) else False for i in range(steps)]
    problems: list[tuple[str, str]] = []
    if len(done.comment) > MAX_COMMENT:
        problems.append(("comment", f"at most {MAX_COMMENT} characters"))
    if len(done.value) > 500:
        problems.append(("value", "at most 500 characters"))
    if done.link and (len(done.link) > 2000 or not _link_ok(done.link.strip())):
        problems.append(("link", "use an http(s) URL or a path on this server"))
    if "comment" in evidence and not done.comment.strip():
        problems.append(("comment", "this task needs a comment as evidence"))
    if "link" in evidence and not done.link.strip():
        problems.append(("link", "this task needs a link as evidence"))
    if "value" in evidence and not done.value.strip():
        problems.append(("value", "this task needs a value as evidence"))
    if "file" in evidence and not done.files:
        problems.append(("files", "this task needs a file as evidence"))
    if "checklist" in evidence and not all(checked):
        left = [row.checklist[i] for i, c in enumerate(checked) if not c]
        problems.append(("checklist", f"tick every step first (left: {'; '.join(left[:3])})"))
    if problems:
        raise ValidationFailed("the evidence is not complete", problems)
    return checked


def _decisions(
    row: TaskInstance, decisions: dict[str, str], allowed: tuple[str, ...]
) -> dict[str, str]:
    keys = [str(w.get("key", "")) for w in row.worklist or []]
    problems = [
        (f"decisions.{k}", "not an item of this instance's worklist")
        for k in decisions
        if k not in keys
    ]
    problems += [
        (f"decisions.{k}", f'"{v}" is not one of {", ".join(allowed)}')
        for k, v in decisions.items()
        if k in keys and v not in allowed
    ]
    if problems:
        raise ValidationFailed("the decisions are not valid", problems)
    chosen = {}
    for w in row.worklist or []:
        key = str(w.get("key", ""))
        chosen[key] = decisions.get(key) or str(w.get("suggested") or "") or allowed[0]
    return chosen


def complete(
    db: Session,
    home: Path,
    instance_id: int,
    done: Completion,
    actor: Actor,
    now: datetime,
) -> TaskInstance:
    """Complete the open instance ``instance_id`` with ``done``; apply its kind's decisions;
    store its files; audit. Raise NotFoundError, ConflictError (not open) or
    ValidationFailed naming the missing evidence. The caller commits."""
    row = _open_row(db, instance_id)
    try:
        task = get_task(db, row.task)
        evidence: Sequence[str] = task.spec.evidence
        options = task.spec.options
    except NotFoundError:  # the task left the plan: its open instances can still be closed
        evidence, options = [], {}
    check_uploads(done.files)
    checked = _check(row, evidence, done)
    applied: list[str] = list(row.applied or [])
    if row.kind:
        try:
            kind = get_kind(row.kind)
        except KindError as exc:
            raise ConflictError(f"cannot complete: {exc}") from None
        chosen = _decisions(row, done.decisions, kind.decisions)
        try:
            options_model = options_of(kind, options)
        except ValidationError as exc:
            raise ConflictError(
                f"cannot complete: the task's options no longer fit: {exc}"
            ) from None
        context = KindContext(
            task=row.task,
            instance_id=row.id,
            occurrence_at=row.occurrence_at,
            due_at=row.due_at,
            since=previous_occurrence(db, row.task, row.occurrence_at),
            options=options_model,
            now=now,
            role=done.role,
        )
        applied += kind.apply(db, context, chosen, actor)
        row.decisions = chosen
    for upload in done.files:
        store_file(db, home, row.id, upload, actor.name)
    row.status = "done"
    row.checked = checked
    row.comment = done.comment.strip()
    row.link = done.link.strip()
    row.value = done.value.strip()
    row.applied = applied
    row.completed_at = now
    row.completed_by = actor.name
    row.on_time = now <= row.due_at
    files = len(done.files)
    audit.record(
        db,
        actor,
        "task.complete",
        f"task/{row.task}/{row.id}",
        {
            "on_time": row.on_time,
            "checked": sum(checked),
            "steps": len(checked),
            "files": files,
            "applied": applied[-20:],
        },
    )
    overdue.settle(db, row.task, now)
    TASK_COMPLETIONS.labels("on_time" if row.on_time else "late").inc()
    return row


def skip(db: Session, instance_id: int, reason: str, actor: Actor, now: datetime) -> TaskInstance:
    """Skip the open instance with ``reason``; audit. Raise NotFoundError, ConflictError
    or ValidationFailed (an empty reason). The caller commits."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("a reason is needed", [("reason", "say why it is skipped")])
    if len(reason) > 500:
        raise ValidationFailed("reason too long", [("reason", "at most 500 characters")])
    row = _open_row(db, instance_id)
    row.status = "skipped"
    row.skip_reason = reason
    row.completed_at = now
    row.completed_by = actor.name
    audit.record(db, actor, "task.skip", f"task/{row.task}/{row.id}", {"reason": reason})
    overdue.settle(db, row.task, now)
    TASK_COMPLETIONS.labels("skipped").inc()
    return row
