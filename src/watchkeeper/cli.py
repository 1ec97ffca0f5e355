"""The ``watchkeeper`` command. Commands are thin: parse, call a service, print with rich."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from watchkeeper import __version__
from watchkeeper.cli_backup import backup_app
from watchkeeper.cli_capacity import capacity_app
from watchkeeper.cli_db import register as register_db_commands
from watchkeeper.cli_dora import register as register_dora
from watchkeeper.cli_errors import errors_app
from watchkeeper.cli_hardening import tls_app
from watchkeeper.cli_incidents import drill_app, incident_app, oncall_app
from watchkeeper.cli_knowledge import knowledge_app
from watchkeeper.cli_logs import logs_app
from watchkeeper.cli_releases import deploy_app
from watchkeeper.cli_restore import restore_app
from watchkeeper.cli_runbooks import runbook_app
from watchkeeper.cli_security import compliance_app, security_app
from watchkeeper.cli_tasks import tasks_app
from watchkeeper.cli_training import training_app
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logging_setup import configure_logging, register_secret
from watchkeeper.settings import Settings, environment, load_settings

if TYPE_CHECKING:
    from watchkeeper.auth.audit import Actor
    from watchkeeper.runtime.context import AppContext

app = typer.Typer(
    help="Watchkeeper: your maintenance plan as one YAML file that runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plan_app = typer.Typer(help="Check, compare, apply and export the plan file.", no_args_is_help=True)
db_app = typer.Typer(
    help="Manage the store (upgrade) and the plan's databases (status, collect, advise, "
    "maintain, runs, dismiss, restore).",
    no_args_is_help=True,
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="Check and export the audit trail.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(db_app, name="db")
register_db_commands(db_app)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
secrets_app = typer.Typer(help="Manage the encryption of stored secrets.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
silence_app = typer.Typer(help="Silence alerts: add, list, expire.", no_args_is_help=True)
app.add_typer(silence_app, name="silence")
alerts_app = typer.Typer(help="Show alerts.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
rules_app = typer.Typer(help="Unit-test alert rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(security_app, name="security")
app.add_typer(compliance_app, name="compliance")
app.add_typer(incident_app, name="incident")
app.add_typer(drill_app, name="drill")
app.add_typer(oncall_app, name="oncall")
app.add_typer(logs_app, name="logs")
app.add_typer(backup_app, name="backup")
app.add_typer(restore_app, name="restore")
app.add_typer(tls_app, name="tls")
app.add_typer(runbook_app, name="runbook")
app.add_typer(tasks_app, name="tasks")
app.add_typer(training_app, name="training")
app.add_typer(deploy_app, name="deploy")
app.add_typer(errors_app, name="errors")
register_dora(app)
app.add_typer(capacity_app, name="capacity")
app.add_typer(knowledge_app, name="knowledge")
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


def _loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's runner where it exists (the loop uvicorn would choose itself: event loop and
    socket transports in C, a sixth less CPU per small request), asyncio's elsewhere."""
    try:
        import uvloop
    except ImportError:  # Windows
        return asyncio.run
    return uvloop.run


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
    from watchkeeper.runtime import malloc_tuning
    from watchkeeper.runtime.context import AppContext
    from watchkeeper.runtime.server import serve

    malloc_tuning.keep_freed_memory()  # before any thread starts: they share its heap
    settings = _settings(plan_path=plan, listen=listen, database_url=database_url)
    if settings.plan_path and not settings.plan_path.exists():
        fatal(f"plan file {settings.plan_path} does not exist")
    try:
        register_secret(settings.secret_key())
        ctx = AppContext.create(settings, environment())
        run = _loop_runner()
        run(serve(ctx, lambda line: out.print(line, highlight=False, soft_wrap=True)))
    except PlanInvalid as exc:
        for problem in exc.problems:
            err.print(str(problem), highlight=False, soft_wrap=True)
        fatal(f"the plan file has {len(exc.problems)} problem(s); nothing was started")
    except (WatchkeeperError, OSError) as exc:
        fatal(str(exc))
    except KeyboardInterrupt:
        pass


@app.command()
def agent(
    server: Annotated[
        str | None,
        typer.Option(help="Watchkeeper server URL (env WATCHKEEPER_AGENT_SERVER)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="API token, role operator (env WATCHKEEPER_AGENT_TOKEN). Others on the host "
            "can see command lines: prefer --token-file."
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(help="Read the API token from this file (env WATCHKEEPER_AGENT_TOKEN_FILE)."),
    ] = None,
    interval: Annotated[str, typer.Option(help="Time between two collections.")] = "10s",
    spool_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where batches wait for the server (default $WATCHKEEPER_HOME/agent-spool, "
            "else ~/.watchkeeper-agent/spool)."
        ),
    ] = None,
    spool_max_bytes: Annotated[
        str, typer.Option(help="Bound of the spool; the oldest batches go first (100MB, 1GiB).")
    ] = "100MB",
    host_name: Annotated[
        str | None, typer.Option(help="Report as this host (default: the system's host name).")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Collect once, send the spool, and exit.")
    ] = False,
    tail: Annotated[
        list[str] | None,
        typer.Option(
            "--tail",
            metavar="GLOB",
            help="Also tail the files matching GLOB (repeatable; labels source=file and "
            "filename), besides the plan's logs.files for this host.",
        ),
    ] = None,
) -> None:
    """Run the host agent: collect this host's metrics, inventory and logs, push them to the
    server through an on-disk spool (nothing is lost while the server is away)."""
    from watchkeeper.agent.config import load_agent_config
    from watchkeeper.agent.run import run_agent

    try:
        config = load_agent_config(
            environment(),
            server=server,
            token=token,
            token_file=token_file,
            interval=interval,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            host_name=host_name,
            home=_options.get("home"),
            log_format=_options.get("log_format"),
            tail=tail,
        )
    except WatchkeeperError as exc:
        fatal(str(exc))
    register_secret(config.token)
    configure_logging(config.log_format, config.log_level)
    try:
        code = asyncio.run(run_agent(config, once=once))
    except WatchkeeperError as exc:
        fatal(str(exc))
    except KeyboardInterrupt:
        code = 0
    if code:
        fatal("the server did not take every batch; they stay in the spool", code)


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
    from watchkeeper.store.schema_head import at_head

    settings = _settings()
    try:
        ctx = AppContext.create(settings, environment())
    except WatchkeeperError as exc:
        fatal(str(exc))
    try:
        if migrate:
            from watchkeeper.store.migrate import upgrade

            upgrade(ctx.engine)
        elif migrate is False and not at_head(ctx.engine):
            from watchkeeper.store.migrate import check_not_newer, current_revision

            current_revision(ctx.engine)  # an unreachable store says so
            check_not_newer(ctx.engine)
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
    from watchkeeper.auth.accounts import add_user
    from watchkeeper.auth.audit import Actor
    from watchkeeper.exceptions import ValidationFailed

    password = _read_password(password_file)
    with _store(migrate=True) as ctx, ctx.sessions() as db:
        try:
            user = add_user(db, Actor("cli"), username, password, role)
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


def _when(value: str | None, option: str) -> datetime | None:
    """Parse an ISO 8601 date or time (UTC unless it names an offset)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fatal(f"{option} {value!r} is not an ISO 8601 date or time, e.g. 2025-01-31T12:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain. Exit 1, naming the first bad entry, if broken."""
    from watchkeeper.auth.audit import verify

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        result = verify(db)
    if not result.ok:
        where = f"entry {result.bad_id}" if result.bad_id is not None else "after the last entry"
        fatal(
            f"audit trail tampered: {where}: {result.reason} "
            f"({result.checked} entries before it are intact)"
        )
    out.print(f"ok: {result.checked} entries, chain intact", highlight=False)


@audit_app.command("export")
def audit_export(
    since: Annotated[
        str | None, typer.Option(help="Only entries at or after this ISO 8601 time (UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only entries before this ISO 8601 time (UTC).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Write audit entries, oldest first, as JSON lines (one object per line)."""
    from rich.progress import Progress

    from watchkeeper.auth.audit import as_json_lines, count, entries

    start, end = _when(since, "--since"), _when(until, "--until")
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        lines = as_json_lines(entries(db, since=start, until=end))
        if output is None:
            for line in lines:
                sys.stdout.write(line)
            return
        total, written = count(db, since=start, until=end), 0
        try:
            with (
                output.open("w", encoding="utf-8") as fh,
                Progress(console=err, transient=True) as progress,
            ):
                task = progress.add_task(f"writing {output}", total=total)
                for line in lines:
                    fh.write(line)
                    written += 1
                    progress.advance(task)
        except OSError as exc:
            fatal(f"cannot write {output}: {exc.strerror}")
    err.print(f"wrote {written} entries to {output}", highlight=False)


def _cli_actor() -> Actor:
    """Who runs a command, for the audit trail: the operating-system user on this host."""
    import getpass

    from watchkeeper.auth.audit import Actor

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(f"cli:{who}"[:150], "local")


@user_app.command("unlock")
def user_unlock(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Lift a sign-in lock after too many failed attempts."""
    from watchkeeper.auth.accounts import get_user, unlock

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            get_user(db, username)
        except WatchkeeperError as exc:
            fatal(str(exc))
        forgotten = unlock(db, _cli_actor(), username)
        db.commit()
    out.print(f"unlocked {username} ({forgotten} failed attempt(s) forgotten)", highlight=False)


@user_app.command("set-role")
def user_set_role(
    username: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Argument(help="viewer, responder, operator or admin.")],
) -> None:
    """Change a user's role; their sessions end (they sign in again with the new role)."""
    from watchkeeper.auth.accounts import update_user
    from watchkeeper.exceptions import ValidationFailed

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            view, ended = update_user(db, _cli_actor(), username, {"role": role})
        except ValidationFailed as exc:
            fatal("; ".join(f"{field} {message}" for field, message in exc.errors))
        except WatchkeeperError as exc:
            fatal(str(exc))
        db.commit()
    out.print(f"{view.username} is now {view.role} ({ended} session(s) ended)", highlight=False)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="Owner: a user or service account.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. ci-deploy.")],
    role: Annotated[
        str,
        typer.Option("--role", help="viewer, responder, operator or admin (at most the owner's)."),
    ] = "viewer",
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime such as 30d or 12h (default: never).")
    ] = None,
) -> None:
    """Make an API token and print it once (only its hash is stored)."""
    from watchkeeper.auth.accounts import get_user
    from watchkeeper.auth.tokens import create_token
    from watchkeeper.exceptions import ValidationFailed
    from watchkeeper.plan.types import parse_duration

    try:
        lifetime = parse_duration(expires) if expires else None
    except ValueError:
        fatal(f'--expires "{expires}" is not a duration (use 30d, 12h)')
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            owner = get_user(db, user)
            new = create_token(db, _cli_actor(), owner, name, role, expires_in=lifetime)
        except ValidationFailed as exc:
            fatal("; ".join(f"{field} {message}" for field, message in exc.errors))
        except WatchkeeperError as exc:
            fatal(str(exc))
        db.commit()
    until = new.view.expires_at.strftime("%Y-%m-%d %H:%M UTC") if new.view.expires_at else "never"
    err.print(
        f"token {new.view.name!r} for {owner.username} ({role}, expires {until}); "
        "shown only now, store it safely:",
        highlight=False,
    )
    sys.stdout.write(new.token + "\n")


@secrets_app.command("reseal")
def secrets_reseal() -> None:
    """Re-encrypt every stored secret with the current secret key (after a key rotation:
    set the old key in WATCHKEEPER_SECRET_KEY_PREVIOUS first)."""
    from rich.progress import Progress

    from watchkeeper.auth import audit
    from watchkeeper.auth.audit import Actor
    from watchkeeper.auth.rekey import reseal_all
    from watchkeeper.plan.catalog import seal_stored

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        register_secret(ctx.settings.secret_key())
        for key in ctx.settings.secret_key_previous:
            register_secret(key)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("re-sealing", total=None)
            resealed, total = reseal_all(db, ctx.secret_box, lambda n: progress.advance(task, n))
            objects, _ = seal_stored(db)  # plan secrets: opened with any key, sealed anew
            resealed, total = resealed + objects, total + objects
        audit.record(
            db, Actor("cli"), "secrets.reseal", "secrets", {"resealed": resealed, "total": total}
        )
        db.commit()
    out.print(
        f"re-sealed {resealed} of {total} stored secret(s) with the current key", highlight=False
    )


@rules_app.command("test")
def rules_test(
    files: Annotated[
        list[Path], typer.Argument(help="Rule test files, written like `promtool test rules`.")
    ],
) -> None:
    """Run alert rule unit tests. Exit 1 if a test fails, 2 if a file has problems."""
    from rich.markup import escape

    from watchkeeper.alerts.unittest import RuleTestInvalid, run_rule_test_file

    code = 0
    for file in files:
        out.print(f"Unit testing: {file}", highlight=False, markup=False)
        try:
            result = run_rule_test_file(file, env=environment())
        except RuleTestInvalid as exc:
            for problem in exc.problems:
                err.print(str(problem), highlight=False, soft_wrap=True)
            err.print(f"[bold red]error:[/] {escape(str(file))}: {len(exc.problems)} problem(s)")
            code = 2
            continue
        for group in result.groups:
            counts = ", ".join(
                f"{group.count(s)} {w}"
                for s, w in (("pass", "passed"), ("fail", "failed"), ("skip", "skipped"))
                if group.count(s)
            )
            status = "[bold red]FAIL[/]" if group.failed else "[green]PASS[/]"
            title = escape(group.title)
            out.print(f"  {status} {title} ({counts or 'no tests'})", highlight=False)
            for outcome in group.outcomes:
                if outcome.status != "pass":
                    colour = "red" if outcome.status == "fail" else "yellow"
                    out.print(f"    [{colour}]{escape(outcome.title)}[/]", highlight=False)
                    for line in outcome.lines:
                        out.print(f"      {line}", highlight=False, markup=False)
        code = max(code, int(result.failed))
    if code:
        raise typer.Exit(code)


@silence_app.command("add")
def silence_add(
    matchers: Annotated[
        list[str],
        typer.Argument(help="Label matchers: alertname=DiskFull 'instance=~\"db-.*\"'."),
    ],
    comment: Annotated[str, typer.Option("--comment", "-c", help="Why (required).")],
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="How long: 30m, 2h, 1d (default 2h).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End, ISO 8601 (UTC unless an offset).")
    ] = None,
    author: Annotated[
        str | None, typer.Option("--author", help="Author (default: cli:<your login>).")
    ] = None,
) -> None:
    """Mute the alerts matching every MATCHER from now until the end; print the id."""
    from watchkeeper.alerts import cli_silence, silences
    from watchkeeper.exceptions import ValidationFailed
    from watchkeeper.store.tables import utcnow

    now, actor = utcnow(), _cli_actor()
    try:
        end = cli_silence.end_time(duration, until, now)
    except ValidationFailed as exc:
        fatal(cli_silence.explain(exc, matchers))
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            view = silences.create_silence(
                db,
                actor,
                matchers,
                ends_at=end,
                comment=comment,
                created_by=actor.name if author is None else author,
                now=now,
            )
        except ValidationFailed as exc:
            fatal(cli_silence.explain(exc, matchers))
        db.commit()
    err.print(
        f"silenced {' '.join(view.matchers)} until {view.ends_at:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    sys.stdout.write(view.id + "\n")


@silence_app.command("list")
def silence_list(
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="Also the expired ones (the newest 200).")
    ] = False,
) -> None:
    """List active and pending silences."""
    from watchkeeper.alerts import cli_silence, silences

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        rows = silences.list_silences(db)
    shown = [s for s in rows if all_ or s.state != "expired"]
    if not shown:
        out.print("no silences" if all_ else "no active or pending silences", highlight=False)
        return
    out.print(cli_silence.silences_table(shown))


@silence_app.command("expire")
def silence_expire(silence_id: Annotated[str, typer.Argument(help="The silence's id.")]) -> None:
    """End a silence now."""
    from watchkeeper.alerts import silences

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            silences.expire_silence(db, _cli_actor(), silence_id)
        except WatchkeeperError as exc:
            fatal(str(exc))
        db.commit()
    out.print(f"expired silence {silence_id}", highlight=False)


@alerts_app.command("list")
def alerts_list(
    state: Annotated[
        str, typer.Option(help="active (pending or firing), pending, firing, resolved or all.")
    ] = "active",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Show at most this many.")] = 200,
) -> None:
    """List alerts, most severe first."""
    from typing import get_args

    from watchkeeper.alerts import cli_silence, views

    if state not in get_args(views.StateFilter):
        fatal(f'--state "{state}" is not one of {", ".join(get_args(views.StateFilter))}')
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        result = views.list_alerts(db, state=state, per_page=limit)  # type: ignore[arg-type]
    if not result.rows:
        out.print(f"no {state} alerts" if state != "all" else "no alerts", highlight=False)
        return
    out.print(cli_silence.alerts_table(result.rows))
    if result.total > len(result.rows):
        err.print(f"showing {len(result.rows)} of {result.total}", highlight=False)


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
