"""The ``watchkeeper`` command. Commands are thin: parse, call a service, print with rich."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from watchkeeper import __version__
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logging_setup import configure_logging, register_secret
from watchkeeper.settings import Settings, environment, load_settings

if TYPE_CHECKING:
    from watchkeeper.runtime.context import AppContext

app = typer.Typer(
    help="Watchkeeper: your maintenance plan as one YAML file that runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plan_app = typer.Typer(help="Check, compare, apply and export the plan file.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_options: dict[str, str | None] = {}

PlanFile = Annotated[Path, typer.Argument(help="Plan file, e.g. watchkeeper.yaml.")]


def fatal(message: str, code: int = 1) -> NoReturn:
    """Print a one-line reason and exit non-zero."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings(
    plan_path: Path | None = None, listen: str | None = None, database_url: str | None = None
) -> Settings:
    try:
        settings = load_settings(
            home=_options.get("home"),
            log_format=_options.get("log_format"),
            plan_path=plan_path,
            listen=listen,
            database_url=database_url,
        )
    except WatchkeeperError as exc:
        fatal(str(exc))
    register_secret(settings.secret_key_value)
    configure_logging(settings.log_format, settings.log_level)
    return settings


@app.callback()
def main_options(
    home: Annotated[str | None, typer.Option(help="Data directory (env WATCHKEEPER_HOME).")] = None,
    log_format: Annotated[
        str | None, typer.Option(help="Log format: text or json (env WATCHKEEPER_LOG_FORMAT).")
    ] = None,
) -> None:
    _options.update(home=home, log_format=log_format)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"watchkeeper {__version__}")


@app.command()
def up(
    plan: Annotated[
        Path | None, typer.Option("--plan", "-p", help="Plan file to run (env WATCHKEEPER_PLAN).")
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            help="host:port to listen on (env WATCHKEEPER_LISTEN; default 127.0.0.1:8470)."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Store URL (env WATCHKEEPER_DATABASE_URL; default SQLite in the data dir)."
        ),
    ] = None,
) -> None:
    """Run Watchkeeper: migrate the store, apply the plan, serve the UI and API."""
    from watchkeeper.plan.loader import PlanInvalid
    from watchkeeper.runtime.context import AppContext
    from watchkeeper.runtime.server import serve

    settings = _settings(plan_path=plan, listen=listen, database_url=database_url)
    if settings.plan_path and not settings.plan_path.exists():
        fatal(f"plan file {settings.plan_path} does not exist")
    try:
        register_secret(settings.secret_key())
        ctx = AppContext.create(settings, environment())
        asyncio.run(serve(ctx, lambda line: out.print(line, highlight=False, soft_wrap=True)))
    except PlanInvalid as exc:
        for problem in exc.problems:
            err.print(str(problem), highlight=False, soft_wrap=True)
        fatal(f"the plan file has {len(exc.problems)} problem(s); nothing was started")
    except (WatchkeeperError, OSError) as exc:
        fatal(str(exc))
    except KeyboardInterrupt:
        pass


def _load(file: Path):  # type: ignore[no-untyped-def]
    from watchkeeper.plan.loader import PlanInvalid, load_plan_file

    try:
        return load_plan_file(file, env=environment())
    except PlanInvalid as exc:
        for problem in exc.problems:
            err.print(str(problem), highlight=False, soft_wrap=True)
        fatal(f"{file}: {len(exc.problems)} problem(s)")


@contextlib.contextmanager
def _store(migrate: bool | None) -> Iterator[AppContext]:
    """Open the store for a command; ``migrate``: True upgrades, False requires current,
    None accepts any state. Store and settings errors end the command with one line."""
    from watchkeeper.runtime.context import AppContext
    from watchkeeper.store.migrate import current_revision, head_revision, upgrade

    settings = _settings()
    try:
        ctx = AppContext.create(settings, environment())
    except WatchkeeperError as exc:
        fatal(str(exc))
    try:
        if migrate:
            upgrade(ctx.engine)
        elif migrate is False and current_revision(ctx.engine) != head_revision():
            fatal("the store is not at the current schema; run `watchkeeper db upgrade`")
        yield ctx
    except WatchkeeperError as exc:
        fatal(str(exc))
    finally:
        ctx.engine.dispose()


@plan_app.command("check")
def plan_check(file: PlanFile) -> None:
    """Validate a plan file; print every problem with file:line:column. Exit 1 if any."""
    from watchkeeper.plan.objects import plan_objects

    loaded = _load(file)
    count = sum(1 for _ in plan_objects(loaded.plan))
    out.print(f"[green]ok[/] {file}: {count} object(s)", highlight=False)


@plan_app.command("diff")
def plan_diff(file: PlanFile) -> None:
    """Show what applying the plan file would change in the store."""
    from watchkeeper.plan.apply import diff_plan
    from watchkeeper.store.migrate import current_revision

    loaded = _load(file)
    with _store(migrate=None) as ctx:
        if current_revision(ctx.engine) is None:
            from watchkeeper.plan.objects import plan_objects

            out.print("[dim]store is empty (never migrated): everything would be created[/]")
            for rec in plan_objects(loaded.plan):
                out.print(f"[green]+ {rec.kind}/{rec.name}[/]", highlight=False)
            return
        with ctx.sessions() as db:
            changes = diff_plan(db, loaded)
    colours = {"create": "green", "update": "yellow", "adopt": "yellow", "delete": "red"}
    for change in changes.changes:
        out.print(f"[{colours[change.action]}]{change}[/]", highlight=False)
    out.print(f"{len(changes.changes)} change(s), {changes.unchanged} unchanged", highlight=False)


@plan_app.command("apply")
def plan_apply(file: PlanFile) -> None:
    """Apply the plan file to the store (idempotent)."""
    from watchkeeper.plan.apply import apply_plan

    loaded = _load(file)
    with _store(migrate=True) as ctx, ctx.sessions() as db:
        changes = apply_plan(db, loaded, actor="cli")
        db.commit()
    for change in changes.changes:
        out.print(str(change), highlight=False)
    out.print(
        f"applied: {changes.count('create')} created, "
        f"{changes.count('update') + changes.count('adopt')} updated, "
        f"{changes.count('delete')} deleted, {changes.unchanged} unchanged",
        highlight=False,
    )


@plan_app.command("export")
def plan_export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Write every stored object (from the plan and from the UI) as a plan file."""
    from watchkeeper.plan.apply import export_plan

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        text = export_plan(db)
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the store to the current schema."""
    from watchkeeper.store.engine import display_url
    from watchkeeper.store.migrate import upgrade

    with _store(migrate=None) as ctx:
        before, after = upgrade(ctx.engine)
        settings = ctx.settings
    where = display_url(settings.database_url)
    if before == after:
        out.print(f"{where} is already at {after}", highlight=False)
    else:
        out.print(f"{where}: {before or 'empty'} -> {after}", highlight=False)


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            source = sys.stdin if str(password_file) == "-" else None
            text = source.read() if source else password_file.read_text(encoding="utf-8")
        except OSError as exc:
            fatal(f"cannot read {password_file}: {exc.strerror}")
        return text.rstrip("\r\n")
    if not sys.stdin.isatty():
        fatal("no terminal to ask for the password; use --password-file FILE (or - for stdin)")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Repeat password", hide_input=True) != first:
        fatal("the passwords differ")
    return str(first)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="viewer, responder, operator or admin.")] = "viewer",
    password_file: Annotated[
        Path | None,
        typer.Option(
            help="Read the password from this file (- for standard input) instead of asking."
        ),
    ] = None,
) -> None:
    """Create a user (asks for the password; never pass it on the command line)."""
    from watchkeeper.auth.users import create_user
    from watchkeeper.exceptions import ValidationFailed

    password = _read_password(password_file)
    with _store(migrate=True) as ctx, ctx.sessions() as db:
        try:
            user = create_user(db, username, password, role)
        except ValidationFailed as exc:
            fatal("; ".join(f"{field} {message}" for field, message in exc.errors))
        db.commit()
    out.print(f"created {user.role} {user.username}", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """List users."""
    from watchkeeper.auth.users import list_users

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        users = list_users(db)
    table = Table("user", "role", "created", "last sign-in", "state")
    for u in users:
        table.add_row(
            u.username,
            u.role,
            u.created_at.strftime("%Y-%m-%d"),
            u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never",
            "disabled" if u.disabled else "active",
        )
    out.print(table)


def main() -> None:
    logging.captureWarnings(True)
    try:
        app()
    except Exception as exc:  # a bug: one line for the user, the traceback in the debug log
        logging.getLogger("watchkeeper").debug("internal error", exc_info=exc)
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (set "
            "WATCHKEEPER_LOG_LEVEL=DEBUG for the traceback)",
            highlight=False,
        )
        sys.exit(70)
