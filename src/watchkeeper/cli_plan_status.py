"""``watchkeeper compliance plan``: whether each section of the plan is being followed, as
the home page shows it. It prints the latest snapshot the server's plan-compliance service
kept (every minute) when it is at most :data:`FRESH` old, else evaluates the plan now from
the store (the log store belongs to the server: the logs section is then unknown).

Exit status: 0 when every section in the plan is followed, 1 when one is not or cannot be
judged (and for errors), so cron and CI can act on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

FRESH = timedelta(minutes=5)
STYLE = {"ok": "green", "failing": "bold red", "unknown": "yellow", "empty": "dim"}
LABEL = {
    "ok": "followed",
    "failing": "NOT followed",
    "unknown": "unknown",
    "empty": "nothing to judge",
}
LISTED = 5  # failing objects printed per section


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def compliance_plan(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    now: Annotated[
        bool,
        typer.Option("--now", help="Evaluate now even when the server kept a recent snapshot."),
    ] = False,
) -> None:
    """Show whether each section of the plan is being followed: status, score, evidence and
    the failing objects. Exit 0 when the whole plan is followed, 1 otherwise."""
    from watchkeeper.cli import _store, out
    from watchkeeper.security.compliance import plan_status
    from watchkeeper.security.compliance.evaluator_probe import EvaluatorProbe
    from watchkeeper.security.compliance.plan_sections import TITLES
    from watchkeeper.security.compliance.plan_sections.base import Live
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        moment = utcnow()
        status = None if now else plan_status.latest(db)
        if status is None or moment - status.evaluated_at > FRESH:
            live = Live(
                moment,
                plan_status.plan_settings(db),
                metrics=ctx.metrics,
                evaluator=EvaluatorProbe(),
            )
            status = plan_status.evaluate_plan(db, live)
            db.rollback()
    if as_json:
        out.print_json(json.dumps(plan_status.to_json(status)))
        raise typer.Exit(0 if status.followed else 1)
    score = "–" if status.score is None else f"{status.score:.0f}%"
    origin = "snapshot of the server" if status.stored else "evaluated now"
    out.print(
        f"[bold]Plan compliance {score}[/] ({origin}, {_time(status.evaluated_at)}); "
        f"fully followed: {'now' if status.followed else _time(status.last_all_ok)}",
        highlight=False,
    )
    table = Table("section", "status", "score", "last followed", "evidence and failing objects")
    for s in status.worst_first():
        lines = [escape(e) for e in s.evidence]
        lines += [
            f"[red]✗[/] {escape(f.kind)} {escape(f.name)}: {escape(f.reason)}"
            for f in s.failing[:LISTED]
        ]
        if s.failing_total > LISTED:
            lines.append(f"… and {s.failing_total - LISTED} more")
        lines += [
            f"[yellow]?[/] {escape(u.kind)} {escape(u.name)}: {escape(u.reason)}" for u in s.unknown
        ]
        table.add_row(
            TITLES.get(s.section, s.section),
            f"[{STYLE[s.status]}]{LABEL[s.status]}[/]",
            "" if s.score is None else f"{s.score:.0f}%",
            "" if s.status == "empty" else ("now" if s.status == "ok" else _time(s.last_ok)),
            "\n".join(lines),
        )
    out.print(table)
    raise typer.Exit(0 if status.followed else 1)


def register(app: typer.Typer) -> None:
    """Add ``plan`` to ``app`` (the ``watchkeeper compliance`` group)."""
    app.command("plan")(compliance_plan)
