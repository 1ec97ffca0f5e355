"""The ``watchkeeper training`` commands: where everyone stands in the required trainings
(exit status 1 when one is expired or missing), the sessions held, recording a session,
and a person's onboarding checklist. They work on the store, as the API does, and are
audited as the operating-system user who runs them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

training_app = typer.Typer(
    help="Training records: status, sessions, record a session, onboarding.",
    no_args_is_help=True,
)
MARKS = {"current": "[green]✓[/] ", "expiring": "[yellow]![/] ", "expired": "[red]✗[/] "}


@training_app.command("status")
def training_status_cmd() -> None:
    """Show people × required trainings (exit status 1 when one is expired or missing)."""
    from watchkeeper.cli import _store, out
    from watchkeeper.store.tables import utcnow
    from watchkeeper.tasks.training_status import matrix

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        found = matrix(db, utcnow())
    if not found.trainings:
        out.print("no required training (declare them under tasks.trainings)", highlight=False)
        return
    table = Table("person", *(t.name for t in found.trainings))
    for person in found.people:
        cells = []
        for t in found.trainings:
            c = found.cells[person.name][t.name]
            if c is None:
                cells.append("—")
            elif c.state == "missing":
                cells.append("[red]✗ never[/]")
            else:
                day = c.expires if c.state in ("expired", "expiring") else c.attended
                cells.append(f"{MARKS[c.state]}{day}")
        table.add_row(escape(person.name), *cells)
    out.print(table)
    bad = found.count("expired") + found.count("missing")
    if bad:
        out.print(f"{bad} training(s) expired or missing", highlight=False)
        raise typer.Exit(1)


@training_app.command("sessions")
def training_sessions(
    course: Annotated[str, typer.Option("--course", help="Only this training.")] = "",
    person: Annotated[str, typer.Option("--person", help="Only sessions they attended.")] = "",
) -> None:
    """List the sessions held, newest first."""
    from watchkeeper.cli import _store, out
    from watchkeeper.tasks.training import list_sessions

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        rows = list_sessions(db, course, person, limit=1000)
    if not rows:
        out.print("no training session recorded", highlight=False)
        return
    table = Table("id", "day", "course", "trainer", "attendees")
    for s in rows:
        table.add_row(
            str(s.id),
            s.held_on.isoformat(),
            escape(s.course),
            escape(s.trainer),
            escape(", ".join(s.attendees)),
        )
    out.print(table)


@training_app.command("record")
def training_record(
    course: Annotated[str, typer.Argument(help="The required training's name.")],
    held_on: Annotated[str, typer.Option("--date", help="The day it was held (YYYY-MM-DD).")],
    attendee: Annotated[list[str], typer.Option("--attendee", "-a", help="Who attended (repeat).")],
    trainer: Annotated[str, typer.Option("--trainer")] = "",
    material: Annotated[str, typer.Option("--material", help="Link to the material.")] = "",
    title: Annotated[str, typer.Option("--title", help="Default: the training's title.")] = "",
) -> None:
    """Record a training session and who attended."""
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.exceptions import ValidationFailed
    from watchkeeper.tasks.training import NewSession, record_session

    try:
        day = date.fromisoformat(held_on)
    except ValueError:
        fatal(f'--date "{held_on}": use a day such as 2026-03-01')
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        new = NewSession(course, day, attendee, title, trainer, material)
        try:
            view = record_session(db, _cli_actor(), new)
        except ValidationFailed as exc:
            fatal("; ".join(f"{f}: {m}" for f, m in exc.errors) or str(exc))
        db.commit()
    out.print(
        f"recorded session {view.id}: {escape(view.title)} on {view.held_on} "
        f"({len(view.attendees)} attendee(s))",
        highlight=False,
    )


@training_app.command("onboarding")
def training_onboarding(
    person: Annotated[str, typer.Argument(help="A user or on-call member name.")],
) -> None:
    """Show a person's onboarding checklist (exit status 1 while steps are left)."""
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.exceptions import NotFoundError
    from watchkeeper.store.tables import utcnow
    from watchkeeper.tasks.training_status import onboarding

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            found = onboarding(db, person, utcnow())
        except NotFoundError as exc:
            fatal(str(exc))
    for step in found.steps:
        mark = "[green]☑[/]" if step.done else "[red]☐[/]"
        detail = f" ({escape(step.detail)})" if step.detail else ""
        out.print(f"{mark} {escape(step.text)}{detail}", highlight=False)
    if not found.steps:
        out.print("nothing to do", highlight=False)
    if found.left:
        raise typer.Exit(1)
