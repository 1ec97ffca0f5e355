"""The ``watchkeeper db`` commands for the plan's databases (next to ``db upgrade``, which
migrates Watchkeeper's own store): their health, collecting one now, the advisor's
recommendations and dismissals, running a maintenance task (with progress) and listing the
runs. They run on this machine against the store and the applied plan (or ``--plan FILE``),
like the server's database service would; thin, like the rest of the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from watchkeeper.alerts.config import MaintenanceWindow
    from watchkeeper.dbmaint.config import DatabasesSection
    from watchkeeper.runtime.context import AppContext

NameArg = Annotated[str, typer.Argument(help="The database's name in the plan.")]
PlanOpt = Annotated[
    Path | None,
    typer.Option("--plan", "-p", help="Read the databases from this plan file, not the store."),
]
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


@dataclass
class _Context:
    ctx: AppContext
    section: DatabasesSection
    windows: dict[str, MaintenanceWindow]


@contextmanager
def _open(plan: Path | None) -> Iterator[_Context]:
    """The store, and the databases section and windows (of the store or ``plan``)."""
    from watchkeeper.cli import _load, _store
    from watchkeeper.dbmaint.section import load_section, load_windows

    with _store(migrate=False) as ctx:
        if plan is not None:
            loaded = _load(plan).plan
            section = loaded.databases
            windows = {w.name: w for w in loaded.alerts.maintenance_windows}
        else:
            with ctx.sessions() as db:
                section, windows = load_section(db), load_windows(db)
        yield _Context(ctx, section, windows)


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _size(n: float | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def _severity(severity: str) -> str:
    return f"[{SEVERITY_STYLE.get(severity, '')}]{severity}[/]"


def db_status(plan: PlanOpt = None) -> None:
    """Show the plan's databases: status, health score, size, growth and top finding."""
    from watchkeeper.cli import out
    from watchkeeper.dbmaint.views import list_databases

    with _open(plan) as c, c.ctx.sessions() as db:
        found = list_databases(db, c.ctx.metrics, section=c.section)
    if not found:
        out.print("the plan has no databases (section `databases`)", highlight=False)
        return
    table = Table("database", "type", "status", "score", "size", "growth/day", "top finding")
    table.add_column("collected")
    for d in found:
        status = {"ok": "[green]ok[/]", "unreachable": "[bold red]unreachable[/]"}.get(
            d.status, f"[yellow]{d.status}[/]" if d.status == "failing" else d.status
        )
        top = d.top_finding
        table.add_row(
            d.name,
            d.type,
            status,
            "" if d.score is None else str(d.score),
            _size(d.size_bytes),
            ""
            if d.growth_per_day is None
            else f"{'+' if d.growth_per_day >= 0 else '-'}{_size(abs(d.growth_per_day))}",
            f"{_severity(top.severity)} {escape(top.title)}" if top else "",
            _time(d.collected_at),
        )
    out.print(table)
    for d in found:
        if d.error:
            out.print(f"[red]{d.name}:[/] {escape(d.error[:500])}", highlight=False)


def db_collect(name: NameArg, plan: PlanOpt = None) -> None:
    """Collect NAME's health now, keep it, and print its findings; exit 1 if it failed."""
    from watchkeeper.cli import fatal, out
    from watchkeeper.dbmaint.collection import collect_and_store
    from watchkeeper.dbmaint.section import find_target
    from watchkeeper.exceptions import WatchkeeperError

    with _open(plan) as c:
        try:
            target = find_target(c.section, name)
        except WatchkeeperError as exc:
            fatal(str(exc))
        outcome = asyncio.run(collect_and_store(c.ctx.sessions, c.ctx.metrics, target))
    if not outcome.ok:
        fatal(f"collecting {name} failed: {outcome.error}")
    out.print(
        f"{name}: score {outcome.score}, {len(outcome.findings)} finding(s), "
        f"collected in {outcome.duration_s:.2f} s",
        highlight=False,
    )
    if outcome.findings:
        table = Table("severity", "finding", "evidence", "key")
        for f in outcome.findings:
            table.add_row(
                _severity(str(f.get("severity"))),
                escape(str(f.get("title", ""))),
                escape(str(f.get("evidence", ""))),
                escape(str(f.get("key", ""))),
            )
        out.print(table)


def db_advise(
    name: Annotated[str | None, typer.Argument(help="Only this database.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include dismissed ones.")] = False,
    plan: PlanOpt = None,
) -> None:
    """List the recommendations, most urgent first, each with the fix's SQL."""
    from watchkeeper.cli import fatal, out
    from watchkeeper.dbmaint.advisor import recommendations
    from watchkeeper.dbmaint.section import find_target
    from watchkeeper.exceptions import WatchkeeperError

    with _open(plan) as c, c.ctx.sessions() as db:
        try:
            if name is not None:
                find_target(c.section, name)
        except WatchkeeperError as exc:
            fatal(str(exc))
        names = [t.name for t in c.section.targets]
        found = recommendations(db, name, databases=names, include_dismissed=all_)
    if not found:
        out.print("no recommendations", highlight=False)
        return
    for i, r in enumerate(found, 1):
        gain = f", wins {_size(r.impact_bytes)}" if r.impact_bytes else ""
        dismissed = f" [dim](dismissed by {escape(r.dismissal.actor)})[/]" if r.dismissal else ""
        out.print(
            f"{i}. {_severity(r.severity)} [bold]{escape(r.database)}[/]: "
            f"{escape(r.title)}{gain}{dismissed}",
            highlight=False,
        )
        out.print(f"   {escape(r.evidence)}", highlight=False)
        if r.sql:
            out.print(f"   [green]{escape(r.sql)}[/]", highlight=False)
        out.print(f"   [dim]key: {escape(r.key)}[/]", highlight=False)


def db_maintain(
    name: NameArg,
    task: Annotated[str, typer.Argument(help="The maintenance task's name.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Only show what would run.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run even though none of its windows is open.")
    ] = False,
    plan: PlanOpt = None,
) -> None:
    """Run maintenance TASK of NAME now (with --dry-run: plan it, execute nothing); it is
    refused outside the task's maintenance windows unless --force, and while another run
    of NAME (the server's, or another command's) is going on. Exit 1 if it failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from watchkeeper.cli import _cli_actor, err, fatal, out
    from watchkeeper.dbmaint.claims import RunInProgress
    from watchkeeper.dbmaint.interface import Step
    from watchkeeper.dbmaint.maintenance import run_task
    from watchkeeper.dbmaint.section import find_target, find_task
    from watchkeeper.exceptions import WatchkeeperError
    from watchkeeper.store.tables import utcnow

    with _open(plan) as c:
        try:
            target = find_target(c.section, name)
            found = find_task(target, task)
        except WatchkeeperError as exc:
            fatal(str(exc))
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            transient=True,
        )
        job = bar.add_task(f"{name}/{task}: planning", total=None)

        def on_step(done: int, total: int, step: Step) -> None:
            bar.update(
                job, completed=done, total=total, description=f"{name}/{task}: {step.target}"
            )

        with bar:
            try:
                result = asyncio.run(
                    run_task(
                        c.ctx.sessions,
                        target,
                        found,
                        dry_run=dry_run,
                        trigger=_cli_actor().name[:64],
                        windows=c.windows,
                        now=utcnow(),
                        force=force or dry_run,
                        progress=on_step,
                    )
                )
            except RunInProgress as exc:  # the server's service (or another command) runs it
                bar.stop()
                fatal(f"{name}/{task} not run: {exc}")
    if result.status == "skipped":
        fatal(f"{name}/{task} not run: {result.error} (use --force to run it now)")
    table = Table("step", "status", "reason", "before", "after", "took", "sql")
    for s in result.steps:
        table.add_row(
            escape(s.target),
            {"succeeded": "[green]succeeded[/]", "failed": "[red]failed[/]"}.get(
                s.status, s.status
            ),
            escape(s.reason),
            _figures(s.before),
            _figures(s.after),
            f"{s.duration_s:.1f}s" if s.status in ("succeeded", "failed") else "",
            escape(s.sql),
        )
    verb = "would run" if dry_run else result.status
    out.print(
        f"run {result.run_id}: {name}/{task} ({result.action}) {verb}: {len(result.steps)} step(s)",
        highlight=False,
    )
    if result.steps:
        out.print(table)
    for s in result.steps:
        if s.error:
            out.print(f"[red]{escape(s.target)}:[/] {escape(s.error)}", highlight=False)
    if result.status == "failed":
        fatal(result.error or "the run failed")


def _figures(values: object) -> str:
    if not isinstance(values, dict) or not values:
        return ""
    parts = []
    for key, value in values.items():
        shown = _size(value) if key.endswith("bytes") else f"{value:,.0f}"
        parts.append(f"{key.removesuffix('_bytes')} {shown}")
    return ", ".join(parts)


def db_runs(
    name: Annotated[str | None, typer.Argument(help="Only this database.")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Only this task.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 30,
) -> None:
    """List recent maintenance runs (newest first)."""
    from watchkeeper.cli import _store, out
    from watchkeeper.dbmaint.views import list_runs

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        found = list_runs(db, database=name, task=task, limit=limit)
    if not found:
        out.print("no maintenance runs yet", highlight=False)
        return
    table = Table("#", "database", "task", "action", "status", "by", "started", "took", "steps")
    table.add_column("before → after")
    for r in found:
        status = {"succeeded": "[green]succeeded[/]", "failed": "[red]failed[/]"}.get(
            r.status, r.status
        )
        if r.dry_run:
            status += " (dry run)"
        done = sum(1 for s in r.steps if s.status == "succeeded")
        table.add_row(
            str(r.id),
            r.database,
            r.task,
            r.action,
            status,
            escape(r.trigger),
            _time(r.started_at),
            f"{r.duration_s:.1f}s" if r.duration_s is not None else "",
            f"{done}/{len(r.steps)}",
            f"{_figures(r.before)} → {_figures(r.after)}" if r.after else _figures(r.before),
        )
    out.print(table)
    for r in found:
        if r.error:
            out.print(f"[red]run {r.id}:[/] {escape(r.error[:500])}", highlight=False)


def db_dismiss(
    name: NameArg,
    key: Annotated[str, typer.Argument(help="The recommendation's key (see `db advise`).")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it is dismissed.")],
    until: Annotated[
        str | None,
        typer.Option("--until", help="Show it again after this: a duration (30d) or a date."),
    ] = None,
) -> None:
    """Dismiss a recommendation with a reason (it shows again once it gets worse)."""
    from watchkeeper.cli import _cli_actor, _store, _when, fatal, out
    from watchkeeper.dbmaint.advisor import dismiss
    from watchkeeper.exceptions import WatchkeeperError
    from watchkeeper.plan.types import parse_duration
    from watchkeeper.store.tables import utcnow

    when = None
    if until:
        try:
            when = utcnow() + parse_duration(until)
        except ValueError:
            when = _when(until, "--until")
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            dismiss(db, _cli_actor(), name, key, reason, until=when)
            db.commit()
        except WatchkeeperError as exc:
            fatal(str(exc))
    shown = f" until {_time(when)}" if when else ""
    out.print(f"dismissed {key} of {name}{shown}", highlight=False)


def db_restore(
    name: NameArg,
    key: Annotated[str, typer.Argument(help="The dismissed recommendation's key.")],
) -> None:
    """Show a dismissed recommendation again."""
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.dbmaint.advisor import restore
    from watchkeeper.exceptions import WatchkeeperError

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            restore(db, _cli_actor(), name, key)
            db.commit()
        except WatchkeeperError as exc:
            fatal(str(exc))
    out.print(f"restored {key} of {name}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the database commands to ``app`` (the ``watchkeeper db`` group)."""
    app.command("status")(db_status)
    app.command("collect")(db_collect)
    app.command("advise")(db_advise)
    app.command("maintain")(db_maintain)
    app.command("runs")(db_runs)
    app.command("dismiss")(db_dismiss)
    app.command("restore")(db_restore)
