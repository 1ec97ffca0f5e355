"""``watchkeeper dora``: DORA's four keys of every service, a team or a service over a window,
with their bands and each service's figures (or the API's JSON with ``--json``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

BAND_STYLE = {"elite": "bold green", "high": "cyan", "medium": "yellow", "low": "bold red"}


def _band(band: str | None) -> str:
    return f"[{BAND_STYLE[band]}]{band}[/]" if band else "[dim]no data[/]"


def dora(
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="A service declared in the plan.")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", "-t", help="A team.")] = None,
    window: Annotated[
        str, typer.Option("--window", "-w", help="Length of the window: 30d, 12w, 90d, …")
    ] = "90d",
    end: Annotated[
        str | None,
        typer.Option(help="End of the window (a date or RFC 3339 time, exclusive). Default: now."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON, as the API answers.")
    ] = False,
) -> None:
    """Show DORA's four keys (deployment frequency, lead time for changes, change failure
    rate, time to restore) of production deploys and incidents, with their bands."""
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.exceptions import NotFoundError, ValidationFailed
    from watchkeeper.incidents.figures import parse_when
    from watchkeeper.releases import dora_query
    from watchkeeper.releases.dora import parse_window
    from watchkeeper.store.tables import utcnow
    from watchkeeper.web.dora import tiles

    try:
        span = parse_window(window)
        last = parse_when("end", end, end=True)
    except ValidationFailed as exc:
        fatal("; ".join(f"--{f}: {m}" for f, m in exc.errors) or str(exc))
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            figures = dora_query.report(
                db, utcnow(), service=service, team=team, window=span, end=last
            )
        except ValidationFailed as exc:
            fatal("; ".join(f"--{f}: {m}" for f, m in exc.errors) or str(exc))
        except NotFoundError as exc:
            fatal(f"--service: {exc}")
    if as_json:
        out.print_json(json.dumps(dora_query.to_json(figures)))
        return
    out.print(
        f"[bold]DORA metrics · {escape(figures.scope.label)}[/] · "
        f"{figures.start:%Y-%m-%d %H:%M} – {figures.end:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    keys = Table("key", "value", "band", "how")
    for tile in tiles(figures.keys):
        keys.add_row(tile["title"], tile["value"], _band(tile["band"]), escape(tile["detail"]))
    out.print(keys)
    if figures.scope.kind == "service" or not figures.services:
        return
    table = Table("service", "team", "deploy frequency", "lead time", "change failure", "restore")
    for row in figures.services:
        cells = [f"{t['value']} {_band(t['band'])}" for t in tiles(row.keys)]
        table.add_row(escape(row.service), escape(row.team), *cells)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``dora`` to ``app`` (the ``watchkeeper`` command)."""
    app.command("dora")(dora)
