"""``watchkeeper errors``: list error issues, show one, resolve or ignore it; thin, like the
rest of the CLI (the triage is the API's, recorded in the audit trail as the CLI user)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

errors_app = typer.Typer(
    help="Error issues reported over the Sentry protocol: list, show, resolve, ignore.",
    no_args_is_help=True,
)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "–"


def _triage(issue_id: int, body: dict[str, Any]) -> None:
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.errors import triage
    from watchkeeper.exceptions import NotFoundError, ValidationFailed
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            change = triage.parse_change(body)
            done = triage.change_issue(db, issue_id, change, _cli_actor(), utcnow())
        except ValidationFailed as exc:
            fatal("; ".join(f"--{f.replace('_', '-')}: {m}" for f, m in exc.errors) or str(exc))
        except NotFoundError as exc:
            fatal(str(exc))
        db.commit()
    out.print(f"issue {issue_id}: {done.after['status']}")


@errors_app.command("list")
def list_issues(
    project: Annotated[str, typer.Option(help="Only this project's issues.")] = "",
    status: Annotated[
        str, typer.Option(help="unresolved, resolved, resolved_next_release, ignored or all.")
    ] = "unresolved",
    release: Annotated[str, typer.Option(help="Issues with events from this release.")] = "",
    assignee: Annotated[str, typer.Option(help="Issues assigned to this user.")] = "",
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
) -> None:
    """List issues, most recently seen first."""
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.errors import issue_views, views
    from watchkeeper.exceptions import NotFoundError, ValidationFailed

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            found = views.list_issues(
                db,
                project=project,
                status="" if status == "all" else status,
                release=release,
                assignee=assignee,
                per_page=limit,
            )
        except ValidationFailed as exc:
            fatal("; ".join(f"--{f}: {m}" for f, m in exc.errors) or str(exc))
        except NotFoundError as exc:
            fatal(f"--project: {exc}")
        issues = issue_views.with_triage(db, found.issues)
    table = Table("id", "issue", "project", "status", "events", "users", "last seen", "assignee")
    for i in issues:
        badge = f" [red]regressed in {escape(i['regressed_in_release'] or '?')}[/]" * bool(
            i["regressed"]
        )
        table.add_row(
            str(i["id"]),
            escape(i["title"]) + badge,
            escape(i["project"]),
            i["status"],
            str(i["count"]),
            str(i["users"]),
            _when(i["last_seen"]),
            escape(i["assignee"] or "–"),
        )
    out.print(table)
    out.print(f"{found.total} issue(s)" + (f", {len(issues)} shown" if found.total > limit else ""))


@errors_app.command("show")
def show(issue_id: Annotated[int, typer.Argument(help="The issue's id.")]) -> None:
    """Show an issue with its releases and its latest event's stack trace."""
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.errors import issue_views, views
    from watchkeeper.exceptions import NotFoundError

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            issue = issue_views.with_triage(db, [views.get_issue(db, issue_id)])[0]
        except NotFoundError as exc:
            fatal(str(exc))
        try:
            event = views.latest_event(db, issue_id)
        except NotFoundError:
            event = None
    out.print(f"[bold]{escape(issue['title'])}[/]  ({escape(issue['culprit'] or '–')})")
    out.print(
        f"project {escape(issue['project'])} · {issue['status']} · {issue['count']} event(s), "
        f"{issue['users']} user(s) · first {_when(issue['first_seen'])}, "
        f"last {_when(issue['last_seen'])} · assignee {escape(issue['assignee'] or '–')}"
    )
    for r in issue["releases"]:
        out.print(f"  release {escape(r['release'])}: {r['count']} event(s)")
    if event is None:
        return
    shown = issue_views.event_display(event["event"])
    for x in shown["exceptions"]:
        out.print(f"\n[bold]{escape(x['type'])}[/]: {escape(x['value'])}")
        for f in x["frames"]:
            mark = "[cyan]*[/]" if f["in_app"] else " "
            line = f":{f['lineno']}" if f["lineno"] else ""
            out.print(f" {mark} {escape(f['where'])}{line} in {escape(f['function'])}")
    if shown["message"]:
        out.print(f"\n{escape(shown['message'])}")


@errors_app.command("resolve")
def resolve(
    issue_id: Annotated[int, typer.Argument(help="The issue's id.")],
    next_release: Annotated[
        bool,
        typer.Option("--next-release", help="Resolved in the release after the one last seen."),
    ] = False,
) -> None:
    """Mark an issue resolved (a later event reopens it as regressed)."""
    _triage(issue_id, {"status": "resolved_next_release" if next_release else "resolved"})


@errors_app.command("ignore")
def ignore(
    issue_id: Annotated[int, typer.Argument(help="The issue's id.")],
    count: Annotated[
        int | None, typer.Option("--count", help="Until this many more events arrive.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Until this time (RFC 3339, with its zone).")
    ] = None,
) -> None:
    """Ignore an issue: for good, until N more events, or until a time."""
    body: dict[str, Any] = {"status": "ignored"}
    if count is not None:
        body["ignore_until_count"] = count
    if until is not None:
        body["ignore_until"] = until
    _triage(issue_id, body)
