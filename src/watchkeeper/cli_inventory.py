"""``watchkeeper security inventory`` (collect this machine's inventories of installed
software, as an agent would, and store them: the server's own host needs no agent) and
``watchkeeper security inventories`` (list the stored ones)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from watchkeeper.runtime.context import AppContext
    from watchkeeper.security.inventory.model import Collected
    from watchkeeper.security.inventory.spec import InventorySpec
    from watchkeeper.security.inventory.wire import PackagesResult

HostOpt = Annotated[
    str | None,
    typer.Option("--host", help="Host name the inventories are stored under (default: this one)."),
]
PlanOpt = Annotated[
    Path | None,
    typer.Option("--plan", "-p", help="Read security.inventories from this plan file."),
]
PrintOpt = Annotated[
    bool,
    typer.Option("--print", help="Print every package collected instead of storing them."),
]


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _host(host: str | None) -> str:
    from watchkeeper.agent.wire import HOST_RE
    from watchkeeper.cli import fatal

    name = host or socket.gethostname()
    if not HOST_RE.fullmatch(name):
        fatal(f'host name "{name}" is not usable (letters, digits, ".", "-", "_", ":"); use --host')
    return name


def _spec(ctx: AppContext | None, plan: Path | None, host: str) -> InventorySpec:
    from watchkeeper.cli import _load, fatal
    from watchkeeper.security.inventory.spec import spec_for_host
    from watchkeeper.security.inventory_store import spec_for

    if plan is not None:
        spec = spec_for_host(_load(plan).plan.security.inventories, host)
    else:
        assert ctx is not None
        with ctx.sessions() as db:
            spec = spec_for(db, host)
    if spec.empty:
        where = plan or "the applied plan"
        fatal(f'no inventory of {where} (security.inventories) applies to host "{host}"')
    return spec


def _collect(spec: InventorySpec) -> list[Collected]:
    from watchkeeper.cli import err
    from watchkeeper.security.inventory.collect import collect

    with err.status("collecting inventories…"):
        return collect(spec)


def _print(found: list[Collected]) -> None:
    from watchkeeper.cli import out

    for c in found:
        where = escape(f"{c.ecosystem} {c.location}")
        if c.error:
            out.print(f"[bold]{where}[/]: [red]{escape(c.error)}[/]")
            continue
        distro = f" (distro {escape(c.distro)})" if c.distro else ""
        out.print(f"[bold]{where}[/]{distro}: {len(c.packages)} package(s)")
        for row in c.packages:
            out.print("  " + escape(" ".join(row)), highlight=False)


def security_inventory(
    host: HostOpt = None, plan: PlanOpt = None, print_: PrintOpt = False
) -> None:
    """Collect this machine's inventories of installed software (the plan's
    security.inventories whose hosts match) and store them, as an agent reports them. Exit 1
    when a location could not be read (the others are stored)."""
    from watchkeeper.cli import _store, fatal, out

    name = _host(host)
    if print_ and plan is not None:
        _print(_collect(_spec(None, plan, name)))
        return
    with _store(migrate=False) as ctx:
        found = _collect(_spec(ctx, plan, name))
        if print_:
            _print(found)
            return
        result = _store_found(ctx, name, found)
    table = Table("ecosystem")
    table.add_column("location", overflow="fold")  # a path cut short would be useless
    table.add_column("packages", justify="right")
    table.add_column("result", overflow="fold")
    for c in found:
        state = f"[red]{escape(c.error)}[/]" if c.error else "collected"
        count = "" if c.error else str(len(c.packages))
        table.add_row(c.ecosystem, escape(c.location), count, state)
    out.print(table)
    out.print(
        f"{result.stored} changed and stored, {result.unchanged} unchanged, "
        f"{result.gone} gone, {result.failed} failed"
    )
    if result.failed:
        fatal(f"{result.failed} location(s) could not be read")


def _store_found(ctx: AppContext, host: str, found: list[Collected]) -> PackagesResult:
    from watchkeeper import __version__
    from watchkeeper.cli import err
    from watchkeeper.security.inventory.wire import PackagesReport, report_entry
    from watchkeeper.security.inventory_store import record_report
    from watchkeeper.security.scan import run_scan
    from watchkeeper.store.tables import utcnow

    now = utcnow()
    report = PackagesReport.model_validate(
        {
            "host": host,
            "collected_at": now,
            "complete": True,
            "agent_version": __version__,
            "inventories": [report_entry(c, full=True) for c in found],
        }
    )
    with ctx.sessions() as db:
        result = record_report(db, report, now)
        db.commit()
        if result.stored or result.gone:
            try:
                run_scan(db, now, report.host)
            except Exception as exc:  # stored all the same; say so, without a traceback
                db.rollback()
                err.print(f"[yellow]warning:[/] the scan after storing failed: {escape(str(exc))}")
    return result


def security_inventories(
    host: Annotated[str | None, typer.Option("--host", help="Only this host.")] = None,
) -> None:
    """List the stored inventories: the latest of every host and location."""
    from watchkeeper.cli import _store, out
    from watchkeeper.security.inventory_store import list_latest

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        found = list_latest(db, host)
    if not found:
        out.print("no inventories stored" + (f" for host {escape(host)}" if host else ""))
        return
    table = Table("id", "host", "ecosystem")
    table.add_column("location", overflow="fold")
    table.add_column("packages", justify="right")
    for title in ("collected", "since"):
        table.add_column(title, no_wrap=True)
    table.add_column("error", overflow="fold")
    for item in found:
        table.add_row(
            str(item.id),
            escape(item.host),
            item.ecosystem,
            escape(item.location),
            str(item.package_count),
            _time(item.collected_at),
            _time(item.first_seen_at),
            f"[red]{escape(item.error)}[/]" if item.error else "",
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the inventory commands to ``app`` (the ``watchkeeper security`` group)."""
    app.command("inventory")(security_inventory)
    app.command("inventories")(security_inventories)
