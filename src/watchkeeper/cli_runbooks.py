"""The ``watchkeeper runbook`` commands: list and search runbooks, show one (as Markdown, as
it would be printed during an outage), mark one reviewed. They work on the store, as the API
does, and a review is audited as the operating-system user who runs it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

runbook_app = typer.Typer(
    help="Runbooks: list and search, show, mark reviewed.", no_args_is_help=True
)
SlugArg = Annotated[str, typer.Argument(help="The runbook's slug (as in /runbooks/<slug>).")]


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


@runbook_app.command("list")
def runbook_list(
    search: Annotated[
        str, typer.Option("--search", "-q", help="Words in the title, tags or text.")
    ] = "",
    tag: Annotated[str, typer.Option("--tag", help="Only runbooks with this tag.")] = "",
    service: Annotated[str, typer.Option("--service", help="Only runbooks of this service.")] = "",
    due: Annotated[
        bool, typer.Option("--due", help="Only runbooks past their review period.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
) -> None:
    """List runbooks (by title; with --due, the longest overdue first)."""
    from watchkeeper.cli import _store, out
    from watchkeeper.knowledge.runbooks import list_runbooks
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        page = list_runbooks(
            db,
            utcnow(),
            q=search,
            tag=tag,
            service=service,
            due=due,
            sort="review" if due else "title",
            limit=limit,
        )
    if not page.rows:
        out.print("no runbooks" + (" due for review" if due else ""), highlight=False)
        return
    table = Table("slug", "title", "services", "tags", "owner", "last reviewed", "source")
    for r in page.rows:
        reviewed = _day(r.last_reviewed_at)
        if r.review_due:
            reviewed += " [red](review due)[/]"
        table.add_row(
            escape(r.slug),
            escape(r.title),
            escape(", ".join(r.services)),
            escape(", ".join(r.tags)),
            escape(r.owner),
            reviewed,
            "folder" if r.read_only else "store",
        )
    out.print(table)
    if page.total > len(page.rows):
        out.print(f"showing {len(page.rows)} of {page.total}", highlight=False)
    if page.due and not due:
        out.print(f"{page.due} due for review (--due lists them)", highlight=False)


@runbook_app.command("show")
def runbook_show(
    slug: SlugArg,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="An older revision.")
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the document as stored, front matter included.")
    ] = False,
) -> None:
    """Print a runbook's Markdown, after a one-line summary on stderr."""
    from watchkeeper.cli import _store, err, fatal
    from watchkeeper.exceptions import NotFoundError
    from watchkeeper.knowledge.runbook_doc import RunbookInvalid, parse_runbook
    from watchkeeper.knowledge.runbooks import get_runbook, revision
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            rb = get_runbook(db, slug, utcnow())
            content, body = rb.content, rb.body
            if version is not None and version != rb.version:
                content = revision(db, slug, version).content
                try:
                    body = parse_runbook(content, fallback_title=slug).body
                except RunbookInvalid:
                    body = content
        except NotFoundError as exc:
            fatal(str(exc))
    state = "review due" if rb.review_due else f"next review by {_day(rb.review_due_at)}"
    err.print(
        f"{rb.title} · v{version or rb.version} · last reviewed {_day(rb.last_reviewed_at)}"
        + (f" by {rb.last_reviewed_by}" if rb.last_reviewed_by else "")
        + f" · {state}",
        highlight=False,
        markup=False,
    )
    typer.echo(content if raw else body, nl=not (content if raw else body).endswith("\n"))


@runbook_app.command("review")
def runbook_review(
    slug: SlugArg,
    note: Annotated[str, typer.Option("--note", "-m", help="What was checked.")] = "",
) -> None:
    """Mark a runbook reviewed: still correct (resolves its RunbookReviewDue)."""
    from watchkeeper.cli import _cli_actor, _store, err, fatal
    from watchkeeper.exceptions import NotFoundError, ValidationFailed
    from watchkeeper.knowledge.runbooks import review_runbook
    from watchkeeper.store.tables import utcnow

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            row = review_runbook(db, slug, _cli_actor(), utcnow(), note=note)
        except (NotFoundError, ValidationFailed) as exc:
            fatal(str(exc))
        title = row.title
        db.commit()
    err.print(f"marked {slug} ({title}) reviewed", highlight=False, markup=False)
