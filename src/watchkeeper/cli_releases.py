"""The ``watchkeeper deploy`` commands: record a deploy (from a CI/CD job on a machine that
reaches the store), list deploys, print a service's changelog. They work against the store
and the applied plan, like the API; thin, like the rest of the CLI."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

deploy_app = typer.Typer(
    help="Deploys: record one (from CI/CD), list them, print a service's changelog.",
    no_args_is_help=True,
)


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _read_changes(changes: str, changes_file: Path | None) -> str:
    from watchkeeper.cli import fatal

    if changes_file is None:
        return changes
    if changes:
        fatal("give --changes or --changes-file, not both")
    try:
        return sys.stdin.read() if str(changes_file) == "-" else changes_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fatal(f"--changes-file {changes_file}: cannot read it ({exc})")


@deploy_app.command("record")
def deploy_record(
    service: Annotated[str, typer.Option("--service", "-s", help="A service of the plan.")],
    version: Annotated[str, typer.Option("--version", "-v", help="The version deployed.")],
    environment: Annotated[
        str, typer.Option("--environment", "-e", help="Default: the service's first.")
    ] = "",
    commit: Annotated[str, typer.Option("--commit", help="The commit SHA deployed.")] = "",
    commit_time: Annotated[
        list[str] | None,
        typer.Option("--commit-time", help="Time of a commit brought (repeatable, ISO 8601)."),
    ] = None,
    first_commit_at: Annotated[
        str | None, typer.Option("--first-commit-at", help="Time of the oldest commit brought.")
    ] = None,
    author: Annotated[str, typer.Option("--author", help="Who deployed.")] = "",
    link: Annotated[str, typer.Option("--link", help="The CI/CD run or release page.")] = "",
    changes: Annotated[str, typer.Option("--changes", help="What changed (Markdown).")] = "",
    changes_file: Annotated[
        Path | None, typer.Option("--changes-file", help="Read the changes from a file (- stdin).")
    ] = None,
    host: Annotated[
        list[str] | None, typer.Option("--host", help="A host deployed to (repeatable).")
    ] = None,
    status: Annotated[
        str, typer.Option("--status", help="started, succeeded, failed or rolled_back.")
    ] = "succeeded",
    deployed_at: Annotated[
        str | None, typer.Option("--deployed-at", help="When (ISO 8601, UTC); default now.")
    ] = None,
) -> None:
    """Record a deploy; print its id. The version must follow the service's convention."""
    from watchkeeper.cli import _cli_actor, _store, _when, err, fatal
    from watchkeeper.exceptions import ValidationFailed
    from watchkeeper.releases import deploys
    from watchkeeper.releases.section import load_section
    from watchkeeper.store.tables import utcnow

    text = _read_changes(changes, changes_file)
    times = [t for t in (_when(v, "--commit-time") for v in commit_time or []) if t is not None]
    data = deploys.DeployInput(
        service=service,
        version=version,
        environment=environment,
        commit_sha=commit,
        commit_times=times,
        first_commit_at=_when(first_commit_at, "--first-commit-at"),
        author=author,
        link=link,
        changes=text,
        hosts=host or [],
        status=status,
        deployed_at=_when(deployed_at, "--deployed-at"),
    )
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            deploy = deploys.record(db, load_section(db), data, _cli_actor(), utcnow())
        except ValidationFailed as exc:
            fatal("; ".join(f"--{_option(f)}: {m}" for f, m in exc.errors))
        db.commit()
        number, gate, freeze = deploy.id, deploy.gate, deploy.in_freeze
        replaced = deploy.previous_version
    notes = [f"replaces {replaced}" if replaced else "first deploy there"]
    if gate == "pending":
        notes.append("release gate pending")
    if freeze:
        notes.append(f"[yellow]inside freeze period {freeze}[/]")
    err.print(f"recorded deploy #{number} ({'; '.join(notes)})", highlight=False)
    typer.echo(number)


def _option(field: str) -> str:
    """The CLI option a domain field comes from."""
    name = field.split("[", 1)[0]
    return {
        "commit_sha": "commit",
        "commit_times": "commit-time",
        "hosts": "host",
    }.get(name, name.replace("_", "-"))


@deploy_app.command("list")
def deploy_list(
    service: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Only this service (repeatable).")
    ] = None,
    environment: Annotated[str, typer.Option("--environment", "-e")] = "",
    host: Annotated[list[str] | None, typer.Option("--host", help="Deploys to this host.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """List deploys, newest first."""
    from watchkeeper.cli import _store, out
    from watchkeeper.releases import deploys
    from watchkeeper.releases.section import load_section

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        rows, total = deploys.list_deploys(
            db,
            load_section(db),
            services=service or (),
            hosts=host or (),
            environment=environment,
            limit=limit,
        )
        table = Table("#", "service", "version", "environment", "deployed", "by", "status", "gate")
        for d in rows:
            gate = d.gate + (f" → incident #{d.incident_id}" if d.incident_id else "")
            table.add_row(
                str(d.id),
                d.service,
                d.version + (f" (was {d.previous_version})" if d.previous_version else ""),
                d.environment,
                _time(d.deployed_at) + (f" [yellow]freeze {d.in_freeze}[/]" if d.in_freeze else ""),
                d.author,
                d.status.replace("_", " "),
                gate,
            )
    if not rows:
        out.print("no deploys recorded", highlight=False)
        return
    out.print(table)
    if total > len(rows):
        out.print(f"showing {len(rows)} of {total}", highlight=False)


@deploy_app.command("changelog")
def deploy_changelog(
    service: Annotated[str, typer.Argument(help="A service of the plan.")],
    environment: Annotated[
        str, typer.Option("--environment", "-e", help="Default: the service's first.")
    ] = "",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 1000,
) -> None:
    """Print a service's changelog (Markdown), assembled from its deploys, newest first."""
    from watchkeeper.cli import _store, fatal
    from watchkeeper.exceptions import NotFoundError, ValidationFailed
    from watchkeeper.releases import changelog
    from watchkeeper.releases.section import find_service, load_section

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            found = find_service(load_section(db), service)
            environment = environment or found.environments[0]
            items = changelog.entries(db, found, environment, limit)
        except NotFoundError as exc:
            fatal(str(exc))
        except ValidationFailed as exc:
            fatal("; ".join(f"--{f}: {m}" for f, m in exc.errors))
        text = changelog.markdown(found, environment, items)
    typer.echo(text, nl=False)
