"""The ``watchkeeper security`` commands of the patch plan and the suppressions: list the
patch actions, suppress a vulnerability with a reason, mark an action applied. They work on
the store, as the API does, and are audited as the operating-system user who runs them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "unknown": "dim",
}
STATUSES = ("planned", "applied", "verified", "obsolete")


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def patches_list(
    status: Annotated[
        str | None,
        typer.Option(
            "--status", "-s", help="Only this status: planned, applied, verified, obsolete."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Only this host.")] = None,
) -> None:
    """Show the patch plan: best rank first, with the window each action is planned into."""
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.security.patch_board import list_actions
    from watchkeeper.security.section import load_section
    from watchkeeper.store.tables import utcnow

    if status is not None and status not in STATUSES:
        fatal(f'--status "{status}" is not one of {", ".join(STATUSES)}')
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        actions = list_actions(db, load_section(db), utcnow(), status=status, host=host)
    if not actions:
        out.print("no patch actions" + (f" {status}" if status else ""), highlight=False)
        return
    table = Table("id", "status", "severity", "host", "upgrade", "fixes", "planned for")
    for a in actions:
        style = SEVERITY_STYLE.get(a.severity, "")
        upgrade = f"{a.package} {a.from_version} → {a.to_version or '(no fix yet)'}"
        when = _time(a.scheduled_for)
        if a.window and when:
            when = f"{a.window}: {when}"
        if a.status == "applied":
            when = f"applied by {a.applied_by} {_time(a.applied_at)}"
        elif a.status == "verified":
            when = f"verified {_time(a.verified_at)}"
        table.add_row(
            str(a.id),
            a.status,
            f"[{style}]{a.severity}[/]",
            escape(a.host) + (" [red](exposed)[/]" if a.exposed else ""),
            escape(upgrade),
            str(len(a.vulns)),
            escape(when),
        )
    out.print(table)


def _expiry(value: str | None) -> datetime | None:
    """``--expires``: a duration from now (``90d``), a day (the suppression stops applying
    when it begins, UTC) or an ISO 8601 time."""
    from watchkeeper.cli import fatal
    from watchkeeper.plan.types import parse_duration
    from watchkeeper.store.tables import utcnow

    if not value:
        return None
    try:
        return utcnow() + parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fatal(f'--expires "{value}" is not a duration (90d), a date (2026-12-31) or an ISO time')
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def suppress(
    vulnerability: Annotated[
        str, typer.Argument(help="OSV id or alias (CVE-2024-1234, GHSA-…); globs allowed.")
    ],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it is accepted.")],
    package: Annotated[str, typer.Option("--package", help="Package name glob.")] = "*",
    host: Annotated[str, typer.Option("--host", help="Host name glob.")] = "*",
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="When it stops applying: 90d, 2026-12-31 or a time."),
    ] = None,
) -> None:
    """Suppress a vulnerability (for a package and hosts) with a reason, until it expires."""
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.exceptions import WatchkeeperError
    from watchkeeper.security import patches, suppressions
    from watchkeeper.store.tables import utcnow

    when = _expiry(expires)
    now = utcnow()
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            row = suppressions.create(
                db,
                _cli_actor(),
                vulnerability=vulnerability,
                reason=reason,
                package=package,
                host=host,
                expires_at=when,
                now=now,
            )
            patches.replan(db, now)
            db.commit()
        except WatchkeeperError as exc:
            fatal(str(exc))
        shown = f" until {_time(when)}" if when else ""
        out.print(
            f"suppressed {vulnerability} for package {package} on hosts {host}{shown} "
            f"(suppression {row.id})",
            highlight=False,
        )


def applied(
    action_id: Annotated[
        int, typer.Argument(help="The patch action's id (see `security patches`).")
    ],
) -> None:
    """Mark a planned patch action applied; the host's next inventory verifies it."""
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.exceptions import WatchkeeperError
    from watchkeeper.security import patches
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            row = patches.mark_applied(db, _cli_actor(), action_id, utcnow())
            db.commit()
        except WatchkeeperError as exc:
            fatal(str(exc))
        out.print(
            f"patch {row.id} applied: {row.package} {row.from_version} → {row.to_version} "
            f"on {row.host}; the next inventory verifies it",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add the patch plan and suppression commands to ``app`` (``watchkeeper security``)."""
    app.command("patches")(patches_list)
    app.command("suppress")(suppress)
    app.command("applied")(applied)
