"""The ``watchkeeper compliance`` commands of the controls and reports: the controls with
their status and evidence, issuing a signed report for a period (HTML or PDF), the public
key that checks the signatures, and checking a report file — against the store, or
anywhere with the public key alone. They run on this machine against the store and the
applied plan, like the server's compliance service; thin, like the rest of the CLI."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from watchkeeper.security.compliance.report_verify import Verification

STATUS_STYLE = {"pass": "green", "fail": "bold red", "unknown": "yellow", "pending": "dim"}
FRAMEWORK_CHOICES = ("soc2", "iso27001", "gdpr", "plan")


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else ""


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def compliance_status(
    framework: Annotated[
        str | None,
        typer.Option(help="Only the controls of this framework (soc2, iso27001, gdpr, plan)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Gather the evidence now (and record it) first.")
    ] = False,
) -> None:
    """Show the compliance controls that apply: status, since, last pass and evidence."""
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.security.compliance.evaluate import evaluate_all
    from watchkeeper.security.compliance.views import list_controls
    from watchkeeper.store.tables import utcnow

    if framework is not None and framework not in FRAMEWORK_CHOICES:
        fatal(f'unknown framework "{framework}" (use {", ".join(FRAMEWORK_CHOICES)})')
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        if evaluate:
            evaluate_all(db, utcnow())
            db.commit()
        controls = list_controls(db, framework)
    if as_json:
        rows = [{**asdict(c), "summary": c.summary} for c in controls]
        out.print_json(json.dumps(rows, default=_json_default))
        return
    if not controls:
        out.print(
            "no compliance control applies (plan section `compliance`: frameworks, controls)",
            highlight=False,
        )
        return
    table = Table("control", "framework", "status", "since", "last pass", "evidence")
    for c in controls:
        style = STATUS_STYLE.get(c.status, "")
        table.add_row(
            f"{escape(c.id)}\n[dim]{escape(c.title)}[/]",
            c.framework,
            f"[{style}]{c.status}[/]",
            _time(c.since),
            _time(c.last_pass_at) or ("never" if c.status != "pending" else ""),
            escape(c.summary),
        )
    out.print(table)


def _day(value: str, option: str) -> date:
    from watchkeeper.cli import fatal

    try:
        return date.fromisoformat(value)
    except ValueError:
        fatal(f'{option}: "{value}" is not a date (use YYYY-MM-DD)')


def compliance_report(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write the report to.")],
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First day of the period (YYYY-MM-DD, UTC; default: 29 days before --to, "
            "a period of 30 days counting both).",
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day of the period (default: today).")
    ] = None,
    fmt: Annotated[Literal["html", "pdf"], typer.Option("--format", help="html or pdf.")] = "html",
) -> None:
    """Issue a signed compliance report for a period (stored and audited) and write it."""
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.exceptions import ValidationFailed
    from watchkeeper.security.compliance.report import issue, period_of, report_html
    from watchkeeper.security.compliance.signing import signing_key
    from watchkeeper.store.tables import utcnow

    now = utcnow()
    last = _day(end, "--to") if end is not None else now.date()
    first = _day(start, "--from") if start is not None else last - timedelta(days=29)
    try:
        period_of(first, last, now)
    except ValidationFailed as exc:
        fatal(str(exc))
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        actor = _cli_actor()
        row = issue(db, actor, first, last, signing_key(db, ctx.secret_box, actor), now)
        body = row.pdf if fmt == "pdf" else report_html(row).encode("utf-8")
        try:
            output.write_bytes(body)
        except OSError as exc:
            fatal(f"cannot write {output}: {exc.strerror or exc}")
        db.commit()
        out.print(
            f"[green]issued[/] report #{row.id} ({escape(row.title)}) to {escape(str(output))}\n"
            f"sha256 {row.sha256}\nsigned with the Ed25519 key {row.public_key}",
            highlight=False,
        )


def compliance_public_key() -> None:
    """Print the public key that checks this installation's report signatures (making the
    signing key the first time): give it to auditors, who run `watchkeeper compliance
    verify FILE --public-key KEY`."""
    import sys

    from watchkeeper.cli import _cli_actor, _store
    from watchkeeper.security.compliance.signing import public_text, signing_key

    with _store(migrate=False) as ctx, ctx.sessions() as db:
        key = signing_key(db, ctx.secret_box, _cli_actor())
        db.commit()
    sys.stdout.write(public_text(key.public_key()) + "\n")


def compliance_rotate_key(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the report signing key by a new one (a key believed exposed, or a scheduled
    rotation). Reports issued before still verify against the store, and offline with the old
    public key; give auditors the new one for reports from now on."""
    from watchkeeper.cli import _cli_actor, _store, fatal, out
    from watchkeeper.security.compliance.signing import SigningKeyError, rotate

    if not yes and not typer.confirm(
        "Replace the report signing key? Auditors need the new public key for new reports"
    ):
        raise typer.Exit(1)
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        try:
            old, new = rotate(db, ctx.secret_box, _cli_actor())
        except SigningKeyError as exc:
            fatal(str(exc))
        db.commit()
    out.print(f"retired:    {old}", highlight=False)
    out.print(f"public key: {new}", highlight=False)


def compliance_verify(
    file: Annotated[Path, typer.Argument(help="A report file (HTML or PDF).")],
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            help="Check against this Ed25519 public key (64 hex digits, as `compliance "
            "public-key` prints it) alone: no store, no settings needed.",
        ),
    ] = None,
) -> None:
    """Check a report file: valid (exit 0), edited (exit 1) or unknown report (exit 2)."""
    from watchkeeper.cli import _store, fatal
    from watchkeeper.exceptions import ValidationFailed
    from watchkeeper.security.compliance.report_verify import verify
    from watchkeeper.security.compliance.signing import installation_public_key, parse_public_key

    try:
        content = file.read_bytes()
    except OSError as exc:
        fatal(f"cannot read {file}: {exc.strerror or exc}")
    if public_key is not None:
        try:
            key = parse_public_key(public_key)
        except ValidationFailed as exc:
            fatal(f"--public-key: {exc}")
        _verdict(verify(content, key))  # offline: no store, no settings
        return
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        found = verify(content, installation_public_key(db), db)
    _verdict(found)


def _verdict(found: Verification) -> None:
    from watchkeeper.cli import err, out

    if found.status == "valid":
        out.print(f"[green]valid[/]: {escape(found.reason)}", highlight=False)
        return
    err.print(f"[bold red]{found.status}[/]: {escape(found.reason)}", highlight=False)
    raise typer.Exit(1 if found.status == "edited" else 2)


def register(app: typer.Typer) -> None:
    """Add the controls and reports commands to ``app`` (the ``watchkeeper compliance``
    group)."""
    app.command("status")(compliance_status)
    app.command("report")(compliance_report)
    app.command("public-key")(compliance_public_key)
    app.command("rotate-key")(compliance_rotate_key)
    app.command("verify")(compliance_verify)
