"""The ``watchkeeper tasks`` commands: list the recurring tasks with their on-time rate, list
the instances due (overdue first), complete one with its evidence (files included, stored
with their SHA-256), skip one with a reason. They work on the store, as the API does, and
are audited as the operating-system user who runs them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

tasks_app = typer.Typer(
    help="Recurring tasks: list, what is due, complete, skip.", no_args_is_help=True
)
InstanceArg = Annotated[int, typer.Argument(help="The instance's id (see `tasks due`).", min=1)]


def _at(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "—"


@tasks_app.command("list")
def tasks_list() -> None:
    """List the recurring tasks: overdue first, then by the next due time."""
    from watchkeeper.cli import _store, out
    from watchkeeper.store.tables import utcnow
    from watchkeeper.tasks.views import summaries

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        rows = summaries(db, utcnow())
    if not rows:
        out.print("no recurring tasks (declare them in the plan's tasks section)", highlight=False)
        return
    table = Table("task", "title", "recurrence", "owner", "next", "on time", "last done")
    for s in rows:
        spec = s.task.spec
        if s.overdue:
            nxt = f"[red]{s.overdue} overdue[/]"
        elif s.open:
            nxt = f"due {_at(s.next_due)}"
        else:
            nxt = _at(s.next_at)
        rate = s.rate
        on_time = (
            "—" if rate.percent is None else f"{rate.percent:.0f}% ({rate.on_time}/{rate.due})"
        )
        table.add_row(
            escape(spec.name),
            escape(spec.title),
            escape(spec.recurrence.describe()),
            escape(spec.owner or "anyone"),
            nxt,
            on_time,
            _at(s.last_done),
        )
    out.print(table)


@tasks_app.command("due")
def tasks_due(
    task: Annotated[str, typer.Option("--task", help="A task name or glob.")] = "",
    owner: Annotated[str, typer.Option("--owner", help="Only instances of this owner.")] = "",
) -> None:
    """List the open instances, overdue first (exit status 1 when one is overdue)."""
    from watchkeeper.cli import _store, out
    from watchkeeper.store.tables import utcnow
    from watchkeeper.tasks.views import list_instances

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        rows = list_instances(
            db, utcnow(), task=task, owner=owner, states=("overdue", "open"), limit=1000
        )
    if not rows:
        out.print("nothing is due", highlight=False)
        return
    table = Table("id", "task", "title", "state", "due (UTC)", "owner", "checklist")
    for r in rows:
        state = "[red]overdue[/]" if r.state == "overdue" else r.state
        steps = f"{sum(r.checked)}/{len(r.checklist)}" if r.checklist else "—"
        table.add_row(
            str(r.id),
            escape(r.task),
            escape(r.title),
            state,
            _at(r.due_at),
            escape(r.owner or "anyone"),
            steps,
        )
    out.print(table)
    if any(r.state == "overdue" for r in rows):
        raise typer.Exit(1)


def _checked(values: list[str], steps: int) -> list[bool]:
    from watchkeeper.cli import fatal

    if "all" in values:
        return [True] * steps
    ticked: set[int] = set()
    for v in values:
        if not v.isdigit() or not 1 <= int(v) <= steps:
            fatal(f"--check {v}: give a step number from 1 to {steps}, or all")
        ticked.add(int(v) - 1)
    return [i in ticked for i in range(steps)]


@tasks_app.command("complete")
def tasks_complete(
    instance: InstanceArg,
    comment: Annotated[str, typer.Option("--comment", "-m", help="What was done.")] = "",
    link: Annotated[str, typer.Option("--link", help="A link as evidence.")] = "",
    value: Annotated[str, typer.Option("--value", help="A value as evidence.")] = "",
    check: Annotated[
        list[str] | None,
        typer.Option("--check", help="A ticked checklist step (1, 2, ...; repeat) or all."),
    ] = None,
    file: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="A file as evidence (repeat).")
    ] = None,
    decision: Annotated[
        list[str] | None,
        typer.Option("--decision", help="KEY=DECISION for a worklist item (repeat)."),
    ] = None,
) -> None:
    """Complete an instance with its evidence."""
    from watchkeeper.cli import _cli_actor, _store, err, fatal
    from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
    from watchkeeper.store.tables import TaskInstance, utcnow
    from watchkeeper.tasks.completion import Completion, complete
    from watchkeeper.tasks.evidence_files import Upload

    uploads = []
    for path in file or []:
        try:
            uploads.append(Upload(path.name, path.read_bytes()))
        except OSError as exc:
            fatal(f"cannot read {path}: {exc.strerror}")
    decisions = {}
    for item in decision or []:
        key, sep, choice = item.partition("=")
        if not sep or not key:
            fatal(f"--decision {item}: use KEY=DECISION")
        decisions[key] = choice
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        row = db.get(TaskInstance, instance)
        steps = len(row.checklist) if row is not None else 0
        done = Completion(
            comment=comment,
            link=link,
            value=value,
            checked=_checked(check or [], steps),
            decisions=decisions,
            files=uploads,
        )
        try:
            row = complete(db, ctx.settings.home, instance, done, _cli_actor(), utcnow())
        except ValidationFailed as exc:
            fatal("; ".join(f"{f}: {m}" for f, m in exc.errors) or str(exc))
        except (NotFoundError, ConflictError) as exc:
            fatal(str(exc))
        when = "on time" if row.on_time else "late"
        title = row.title
        db.commit()
    err.print(f"completed #{instance} ({title}), {when}", highlight=False, markup=False)


@tasks_app.command("skip")
def tasks_skip(
    instance: InstanceArg,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it is skipped.")],
) -> None:
    """Skip an instance, with a reason."""
    from watchkeeper.cli import _cli_actor, _store, err, fatal
    from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
    from watchkeeper.store.tables import utcnow
    from watchkeeper.tasks.completion import skip

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            row = skip(db, instance, reason, _cli_actor(), utcnow())
        except ValidationFailed as exc:
            fatal("; ".join(m for _, m in exc.errors) or str(exc))
        except (NotFoundError, ConflictError) as exc:
            fatal(str(exc))
        title = row.title
        db.commit()
    err.print(f"skipped #{instance} ({title})", highlight=False, markup=False)
