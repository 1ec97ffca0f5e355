"""The ``watchkeeper incident``, ``watchkeeper drill`` and ``watchkeeper oncall`` commands:
thin, like the rest of the CLI (parse, call the incidents domain, print with rich)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

incident_app = typer.Typer(
    help="Incidents: open, list, show, acknowledge, resolve.", no_args_is_help=True
)
drill_app = typer.Typer(help="Drills (game days): start one, list runs.", no_args_is_help=True)
oncall_app = typer.Typer(help="On-call schedules: who is on call.", no_args_is_help=True)
IncidentArg = Annotated[int, typer.Argument(min=1, help="The incident's number.")]


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


@incident_app.command("open")
def incident_open(
    title: Annotated[str, typer.Argument(help="What is wrong, in one line.")],
    severity: Annotated[str, typer.Option("--severity", "-s", help="SEV1 … SEV4.")] = "SEV3",
    team: Annotated[str, typer.Option(help="Team the incident belongs to.")] = "",
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Affected service (repeatable).")
    ] = None,
    summary: Annotated[str, typer.Option(help="A longer description.")] = "",
    escalation: Annotated[
        str, typer.Option("--escalation", "-e", help="Start this escalation policy (pages).")
    ] = "",
) -> None:
    """Open an incident by hand; print its number."""
    from watchkeeper.cli import _cli_actor, _store, err, fatal
    from watchkeeper.exceptions import ValidationFailed
    from watchkeeper.incidents import service as incidents

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            incident = incidents.open_incident(
                db,
                title=title,
                severity=severity.upper(),
                actor=_cli_actor(),
                team=team,
                services=service or [],
                summary=summary,
                escalation_policy=escalation,
            )
        except ValidationFailed as exc:
            fatal("; ".join(f"--{f.replace('_policy', '')}: {m}" for f, m in exc.errors))
        db.commit()
        number = incident.id
    err.print(
        f"opened incident #{number}" + (f"; paging through {escalation}" if escalation else ""),
        highlight=False,
    )
    typer.echo(number)


@incident_app.command("list")
def incident_list(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Also resolved ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """List open incidents (newest first)."""
    from watchkeeper.cli import _store, out
    from watchkeeper.incidents import service as incidents

    statuses = () if all_ else ("triggered", "acknowledged")
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        rows, total = incidents.list_incidents(db, status=statuses, limit=limit)
        table = Table("#", "severity", "status", "title", "team", "opened", "acknowledged by")
        for i in rows:
            status = i.status + (" (major)" if i.major else "") + (" (drill)" if i.drill else "")
            table.add_row(
                str(i.id),
                i.severity,
                status,
                i.title,
                i.team,
                _time(i.opened_at),
                i.acknowledged_by,
            )
    if not rows:
        out.print("no incidents" if all_ else "no open incidents", highlight=False)
        return
    out.print(table)
    if total > len(rows):
        out.print(f"showing {len(rows)} of {total}", highlight=False)


@incident_app.command("show")
def incident_show(incident_id: IncidentArg) -> None:
    """Show an incident and its timeline."""
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.exceptions import NotFoundError
    from watchkeeper.incidents import views
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            view = views.incident_view(db, incident_id, utcnow())
        except NotFoundError as exc:
            fatal(str(exc))
        i = view.incident
        out.print(f"[bold]#{i.id} {i.title}[/]  {i.severity} {i.status}", highlight=False)
        out.print(
            f"team {i.team or '-'} · services {', '.join(i.services) or '-'} · opened "
            f"{_time(i.opened_at)} by {i.opened_by}",
            highlight=False,
        )
        table = Table("time", "who", "what", "")
        for e in view.timeline:
            table.add_row(_time(e.at), e.actor, e.kind.replace("_", " "), e.text)
        out.print(table)


def _act(incident_id: int, action: str, text: str = "") -> None:
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.exceptions import WatchkeeperError
    from watchkeeper.incidents import service as incidents

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        actor = _cli_actor()
        try:
            if action == "ack":
                incidents.acknowledge(db, incident_id, actor, via="CLI")
            elif action == "resolve":
                incidents.resolve(db, incident_id, actor, note=text, via="CLI")
            elif action == "reopen":
                incidents.reopen(db, incident_id, actor, text)
            else:
                incidents.add_note(db, incident_id, actor, text)
        except WatchkeeperError as exc:
            fatal(str(exc))
        db.commit()
    done = {"ack": "acknowledged", "resolve": "resolved", "reopen": "reopened", "note": "noted"}
    out.print(f"incident #{incident_id} {done[action]}", highlight=False)


@incident_app.command("ack")
def incident_ack(incident_id: IncidentArg) -> None:
    """Acknowledge an incident: its escalation stops."""
    _act(incident_id, "ack")


@incident_app.command("resolve")
def incident_resolve(
    incident_id: IncidentArg,
    note: Annotated[str, typer.Option("--note", "-n", help="What fixed it.")] = "",
) -> None:
    """Resolve an incident."""
    _act(incident_id, "resolve", note)


@incident_app.command("reopen")
def incident_reopen(
    incident_id: IncidentArg,
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
) -> None:
    """Reopen a resolved incident (its escalation starts again)."""
    _act(incident_id, "reopen", reason)


@incident_app.command("note")
def incident_note(
    incident_id: IncidentArg, text: Annotated[str, typer.Argument(help="The note.")]
) -> None:
    """Add a note to an incident's timeline."""
    _act(incident_id, "note", text)


@drill_app.command("start")
def drill_start(
    name: Annotated[str, typer.Argument(help="A drill of `incidents.drills`.")],
) -> None:
    """Start a drill now: its synthetic alert goes through routing, escalation and paging."""
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.exceptions import WatchkeeperError
    from watchkeeper.incidents import drills
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            run = drills.start(db, name, _cli_actor(), utcnow())
        except WatchkeeperError as exc:
            fatal(str(exc))
        db.commit()
        number = run.id
    out.print(
        f"drill {name} started (run {number}); a running server pages through it", highlight=False
    )


@drill_app.command("list")
def drill_list() -> None:
    """List drill runs with their time to acknowledge."""
    from watchkeeper.cli import _store, out
    from watchkeeper.incidents import drills

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        rows = drills.runs(db)
        table = Table("run", "drill", "started", "result", "time to acknowledge", "by")
        for r in rows:
            tta = (
                f"{(r.acknowledged_at - r.started_at).total_seconds():.0f} s"
                if r.acknowledged_at
                else ""
            )
            table.add_row(str(r.id), r.name, _time(r.started_at), r.result, tta, r.acknowledged_by)
    if not rows:
        out.print("no drills have run", highlight=False)
        return
    out.print(table)


@oncall_app.command("now")
def oncall_now() -> None:
    """Who is on call now, in every schedule."""
    from watchkeeper.cli import _store, out
    from watchkeeper.incidents.overrides import oncall_now as now_on_call

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        found = now_on_call(db)
    if not found:
        out.print("no on-call schedules in the plan", highlight=False)
        return
    table = Table("schedule", "on call")
    for schedule, people in found.items():
        table.add_row(schedule, ", ".join(people) or "[red]nobody (a gap)[/]")
    out.print(table)
