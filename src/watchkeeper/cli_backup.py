"""The ``watchkeeper backup`` commands: run a policy's backup now (with a progress bar),
list recent runs, list snapshots, show or apply retention, check repositories, copy
snapshots into the copy targets. They run on
this machine against the store and the applied plan (or ``--plan FILE``), like the server's
scheduler would; thin, like the rest of the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

if TYPE_CHECKING:
    from watchkeeper.backups.config import BackupsSection
    from watchkeeper.backups.restic import Restic
    from watchkeeper.backups.runner import BackupRunner
    from watchkeeper.runtime.context import AppContext

backup_app = typer.Typer(
    help="Backups: run a policy now, list runs and snapshots, retention, checks, copies.",
    no_args_is_help=True,
)
PolicyArg = Annotated[str, typer.Argument(help="The backup policy's name in the plan.")]
PlanOpt = Annotated[
    Path | None,
    typer.Option("--plan", "-p", help="Read the policies from this plan file, not the store."),
]
RepoOpt = Annotated[
    str | None, typer.Option("--repository", "-r", help="Only this repository of the policy.")
]
T = TypeVar("T")


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _size(n: int | float | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


@contextmanager
def plan_section(
    plan: Path | None, section: BackupsSection | None = None
) -> Iterator[tuple[BackupsSection, AppContext]]:
    """The backups section (``section`` when the caller read it already, else of ``plan``,
    else of the applied plan) and the store's context."""
    from watchkeeper.cli import _store

    with _store(migrate=False) as ctx:
        if section is None and plan is not None:
            section = _plan_backups(plan)
        if section is None:
            from watchkeeper.backups.views import load_section

            with ctx.sessions() as db:
                section = load_section(db)
        yield section, ctx


def _plan_backups(plan: Path) -> BackupsSection:
    """The backups section of the plan file ``plan``, validated on its own (the rest of the
    file is `watchkeeper plan check`'s business): a fraction of a full load's start-up."""
    from watchkeeper.backups.config import BackupsSection, broken_references
    from watchkeeper.cli import err, fatal
    from watchkeeper.plan.section import load_section
    from watchkeeper.plan.source import PlanInvalid
    from watchkeeper.settings import environment

    try:
        return load_section(
            plan, "backups", BackupsSection, env=environment(), references=broken_references
        )
    except PlanInvalid as exc:
        for problem in exc.problems:
            err.print(str(problem), highlight=False, soft_wrap=True)
        fatal(f"{plan}: {len(exc.problems)} problem(s) in its backups section")


def restic_for(ctx: AppContext) -> Restic:
    return restic_at(ctx.settings.home)


def restic_at(home: Path) -> Restic:
    """The engine, with its cache in Watchkeeper's home directory ``home``."""
    from watchkeeper.backups.restic import Restic

    return Restic(cache_dir=home / "cache" / "restic")


@contextmanager
def _runner(plan: Path | None) -> Iterator[tuple[BackupsSection, BackupRunner]]:
    """The plan's backups section and a runner on the store (the CLI's context)."""
    from watchkeeper.backups.runner import BackupRunner

    with plan_section(plan) as (section, ctx):
        runner = BackupRunner(
            ctx.sessions, restic_for(ctx), max_parallel=section.max_parallel, settings=ctx.settings
        )
        yield section, runner


def _call(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work``; unknown policy/repository and tool errors end with one line."""
    from watchkeeper.cli import fatal
    from watchkeeper.exceptions import WatchkeeperError

    try:
        return asyncio.run(work())
    except WatchkeeperError as exc:
        fatal(str(exc))


@backup_app.command("run")
def backup_run(policy: PolicyArg, plan: PlanOpt = None) -> None:
    """Back up POLICY now, to each of its repositories; exit 1 if any of them failed."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    from watchkeeper.backups.engine import Progress
    from watchkeeper.cli import _cli_actor, err, out

    with _runner(plan) as (section, runner):
        bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        tasks: dict[str, TaskID] = {}

        def on_progress(repository: str, p: Progress) -> None:
            if repository not in tasks:
                tasks[repository] = bar.add_task(f"{policy} → {repository}", total=None)
            bar.update(tasks[repository], completed=p.bytes_done, total=p.bytes_total or None)

        with bar:
            outcomes = _call(
                lambda: runner.backup(
                    section, policy, trigger=_cli_actor().name, progress=on_progress
                )
            )
    table = Table("repository", "status", "snapshot", "size", "added", "files", "error")
    for o in outcomes:
        table.add_row(
            o.repository,
            "[green]succeeded[/]" if o.ok else "[red]failed[/]",
            o.results[-1].snapshot_id[:8] if o.results else "",
            _size(sum(r.bytes_total for r in o.results)) if o.ok else "",
            _size(sum(r.bytes_added for r in o.results)) if o.ok else "",
            str(sum(r.files for r in o.results)) if o.ok else "",
            _escape(o.error),
        )
    out.print(table)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@backup_app.command("list")
def backup_list(
    policy: Annotated[str | None, typer.Option("--policy", help="Only this policy.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="backup, forget, check, drill, restore, copy.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 30,
) -> None:
    """List recent backup runs (newest first)."""
    from sqlalchemy import select

    from watchkeeper.cli import _store, out
    from watchkeeper.store.tables import BackupRun

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        query = select(BackupRun).order_by(BackupRun.started_at.desc(), BackupRun.id.desc())
        if policy:
            query = query.where(BackupRun.policy == policy)
        if kind:
            query = query.where(BackupRun.kind == kind)
        rows = list(db.scalars(query.limit(limit)))
        errors: list[tuple[int, str]] = []
        table = Table(
            "#", "policy", "repository", "kind", "status", "started", "took", "size", "snapshot"
        )
        for r in rows:
            status = {"succeeded": "[green]succeeded[/]", "failed": "[red]failed[/]"}.get(
                r.status, r.status
            )
            progress = (r.details or {}).get("progress") if r.status == "running" else None
            if progress:
                status += f" {float(progress.get('fraction', 0)) * 100:.0f}%"
            table.add_row(
                str(r.id),
                r.policy,
                r.repository,
                r.kind,
                status,
                _time(r.started_at),
                f"{r.duration_s:.1f}s" if r.duration_s is not None else "",
                _size(r.bytes_total) if r.kind == "backup" and r.status == "succeeded" else "",
                r.snapshot_id[:8],
            )
            if r.error:
                errors.append((r.id, r.error))
    if not rows:
        out.print("no backup runs yet", highlight=False)
        return
    out.print(table)
    # Errors are long (paths, the tool's own words): below the table, never cut by a column.
    for run_id, error in errors:
        out.print(f"[red]run {run_id}:[/] {_escape(error[:500])}", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@backup_app.command("snapshots")
def backup_snapshots(policy: PolicyArg, repository: RepoOpt = None, plan: PlanOpt = None) -> None:
    """List POLICY's snapshots in each of its repositories (oldest first)."""
    from watchkeeper.cli import err, out

    with _runner(plan) as (section, runner):
        found = _call(lambda: runner.snapshots(section, policy, repository))
    failed = False
    for repo, snaps in found.items():
        if isinstance(snaps, str):
            err.print(f"[red]{repo}:[/] {_escape(snaps)}", highlight=False)
            failed = True
            continue
        table = Table("snapshot", "time", "tags", "paths", title=f"{repo}: {len(snaps)}")
        for s in snaps:
            table.add_row(s.id[:8], _time(s.time), ", ".join(s.tags), ", ".join(s.paths))
        out.print(table)
    if failed:
        raise typer.Exit(1)


@backup_app.command("retention")
def backup_retention(
    policy: PolicyArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Only show what would be removed.")
    ] = False,
    repository: RepoOpt = None,
    plan: PlanOpt = None,
) -> None:
    """Apply POLICY's retention (`forget --prune`), or with --dry-run show the snapshots it
    would keep and remove in each repository."""
    from watchkeeper.cli import _cli_actor, out

    with _runner(plan) as (section, runner):
        outcomes = _call(
            lambda: runner.retention(
                section, policy, dry_run=dry_run, trigger=_cli_actor().name, repository=repository
            )
        )
    for o in outcomes:
        if not o.ok or o.forget is None:
            out.print(f"[red]{o.repository}: failed:[/] {_escape(o.error)}", highlight=False)
            continue
        verb = "would remove" if dry_run else "removed"
        table = Table(
            "snapshot",
            "time",
            "tags",
            "",
            title=f"{o.repository}: keep {len(o.forget.keep)}, {verb} {len(o.forget.remove)}",
        )
        for s in o.forget.keep:
            table.add_row(s.id[:8], _time(s.time), ", ".join(s.tags), "[green]keep[/]")
        for s in o.forget.remove:
            table.add_row(s.id[:8], _time(s.time), ", ".join(s.tags), f"[red]{verb}[/]")
        out.print(table)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@backup_app.command("check")
def backup_check(
    policy: PolicyArg,
    read_data_subset: Annotated[
        str | None,
        typer.Option("--read-data-subset", help='Share of data read back, "5%" or "1/10".'),
    ] = None,
    repository: RepoOpt = None,
    plan: PlanOpt = None,
) -> None:
    """Check the integrity of POLICY's repositories (`restic check`); exit 1 on problems."""
    from watchkeeper.cli import _cli_actor, out

    with _runner(plan) as (section, runner):
        outcomes = _call(
            lambda: runner.check(
                section,
                policy,
                trigger=_cli_actor().name,
                read_data_subset=read_data_subset,
                repository=repository,
            )
        )
    for o in outcomes:
        if o.ok:
            out.print(f"[green]{o.repository}: no errors found[/]", highlight=False)
        else:
            detail = o.error or o.output
            out.print(f"[red]{o.repository}: problems found:[/] {_escape(detail)}", highlight=False)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


@backup_app.command("copy")
def backup_copy(
    policy: PolicyArg,
    to: Annotated[
        str | None, typer.Option("--to", "-t", help="Only this copy target of the policy.")
    ] = None,
    plan: PlanOpt = None,
) -> None:
    """Copy POLICY's snapshots from its first repository into its copy targets now
    (`restic copy`; snapshots already there are skipped); exit 1 if any copy failed."""
    from watchkeeper.cli import _cli_actor, out

    with _runner(plan) as (section, runner):
        outcomes = _call(lambda: runner.copy(section, policy, trigger=_cli_actor().name, to=to))
    table = Table("repository", "status", "copied", "snapshots held", "error")
    for o in outcomes:
        table.add_row(
            o.repository,
            "[green]succeeded[/]" if o.ok else "[red]failed[/]",
            str(o.copied) if o.ok else "",
            str(o.held) if o.ok else "",
            _escape(o.error),
        )
    out.print(table)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)
