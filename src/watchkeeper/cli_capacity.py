"""``watchkeeper capacity``: the capacity report (what runs out first and when, as a table or
the API's JSON) and a refresh of every forecast now. Thin: parse, call the capacity domain,
print with rich."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from watchkeeper.releases.capacity.report import ForecastView

capacity_app = typer.Typer(
    help="Capacity planning: when hosts, databases and named metrics reach their limits.",
    no_args_is_help=True,
)
STATUS_STYLE = {
    "over": "bold red",
    "soon": "yellow",
    "later": "",
    "never": "green",
    "insufficient": "dim",
    "error": "red",
}


def _reach(v: ForecastView, now_text: str) -> str:
    from watchkeeper.releases.capacity import describe

    if v.status == "over":
        return "[bold red]now[/]"
    if v.reaches_at is not None:
        return f"{describe.day(v.reaches_at)} ({now_text})"
    return "[green]not within horizon[/]" if v.status == "never" else "–"


def _band(v: ForecastView) -> str:
    from watchkeeper.releases.capacity import describe

    if v.status == "over" or (v.reaches_earliest is None and v.reaches_latest is None):
        return ""
    return (
        f"{describe.day(v.reaches_earliest) or '?'} – {describe.day(v.reaches_latest) or 'later'}"
    )


@capacity_app.command("report")
def capacity_report(
    within: Annotated[
        str | None,
        typer.Option("--within", "-w", help="Only what reaches its limit within this (30d, 2w)."),
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="host, database or target.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Host name glob (db-*).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON, as the API answers.")
    ] = False,
) -> None:
    """List the stored forecasts, what runs out first on top: now, limit, trend, when the
    limit is reached and the band's dates."""
    from watchkeeper.api.capacity import ForecastOut, ReportOut
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.exceptions import ValidationFailed
    from watchkeeper.releases.capacity import describe
    from watchkeeper.releases.capacity import report as capacity
    from watchkeeper.store.tables import utcnow

    if kind is not None and kind not in capacity.KINDS:
        fatal(f"--kind: {kind!r} is not one of {', '.join(capacity.KINDS)}")
    try:
        span = capacity.parse_within(within) if within else None
    except ValidationFailed as exc:
        fatal("; ".join(f"--{f}: {m}" for f, m in exc.errors))
    now = utcnow()
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        found = capacity.report(db, now, within=span, kind=kind, host=host)
    if as_json:
        body = ReportOut(
            refreshed_at=found.refreshed_at,
            counts=found.counts,
            items=[ForecastOut.model_validate(v) for v in found.items],
        )
        out.print_json(body.model_dump_json())
        return
    if found.refreshed_at is None:
        out.print(
            "No forecasts yet: `watchkeeper up` refreshes them every capacity.refresh "
            "(or run `watchkeeper capacity refresh`).",
            highlight=False,
        )
        return
    table = Table("what", "status", "now", "limit", "trend", "reaches the limit", "band (±2σ)")
    for v in found.items:
        style = STATUS_STYLE.get(v.status, "")
        status = f"[{style}]{v.status}[/]" if style else v.status
        what = escape(v.title) + (f"\n[dim]{escape(v.detail)}[/]" if v.detail else "")
        table.add_row(
            what,
            status,
            describe.value(v.current, v.unit),
            describe.value(v.limit, v.unit),
            describe.growth(v.per_day, v.unit),
            _reach(v, describe.days_left(v.reaches_at, now)),
            _band(v),
        )
    out.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in found.counts.items() if n)
    out.print(
        f"{len(found.items)} shown · {counts or 'none stored'} · refreshed "
        f"{found.refreshed_at:%Y-%m-%d %H:%M} UTC",
        highlight=False,
        style="dim",
    )


@capacity_app.command("refresh")
def capacity_refresh() -> None:
    """Redo every forecast now on this machine's store (as the server's capacity service
    does every capacity.refresh), raising and resolving CapacityForecast alerts."""
    from watchkeeper.cli import _store, out
    from watchkeeper.releases.capacity.refresh import refresh
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx:
        done = refresh(ctx.sessions, ctx.metrics, utcnow())
    soon = sum(1 for i in done.items if i.status in ("over", "soon"))
    out.print(
        f"{len(done.items)} forecast(s) refreshed in {done.seconds:.1f} s; {soon} reach their "
        f"limit within alert_within; {len(done.firing)} CapacityForecast alert(s) firing",
        highlight=False,
    )
