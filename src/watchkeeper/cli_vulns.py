"""The ``watchkeeper security`` commands of the offline vulnerability database: import the
plan's OSV sources (or a dump file) with a progress bar, list the sources with their last
import, run the scan, list the vulnerabilities found. They work on the store, as the
server's service does (an import the server runs at the same moment is waited for, not
repeated), and never print a source's mirror URL."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from watchkeeper.security.osv.importer import ImportResult, SourceSpec

SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "unknown": "dim",
}
STATUS_STYLE = {"succeeded": "green", "unchanged": "green", "failed": "bold red"}


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _age(value: datetime | None, now: datetime) -> str:
    if value is None:
        return ""
    seconds = (now - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return "just now"


def _specs(
    db: Session, source: str | None, file: Path | None, ecosystem: str | None
) -> list[SourceSpec]:
    """What to import: the plan's sources, one of them, or a dump file (see ``import``)."""
    from watchkeeper.cli import fatal
    from watchkeeper.security.config import ECOSYSTEMS
    from watchkeeper.security.osv.importer import SourceSpec
    from watchkeeper.security.section import load_section

    if ecosystem is not None and ecosystem not in ECOSYSTEMS:
        fatal(f'--ecosystem "{ecosystem}" is not one of {", ".join(ECOSYSTEMS)}')
    sources = {s.name: s for s in load_section(db).sources}
    if file is None:
        if ecosystem is not None:
            fatal("--ecosystem goes with --file PATH")
        if source is None:
            if not sources:
                fatal(
                    "the plan has no vulnerability sources (security.sources); "
                    "import a dump with --file PATH --ecosystem ECOSYSTEM"
                )
            return [SourceSpec.of(s) for s in sources.values()]
        if source not in sources:
            known = ", ".join(sources) or "none"
            fatal(f'there is no vulnerability source "{source}" (the plan has: {known})')
        return [SourceSpec.of(sources[source])]
    if not file.is_file():
        fatal(f"{file}: no such file")
    name = source or (ecosystem.lower() if ecosystem else "")
    planned = sources.get(name)
    if planned is not None:
        if ecosystem is not None and ecosystem != planned.ecosystem:
            fatal(f'source "{name}" is a {planned.ecosystem} source, not {ecosystem}')
        return [SourceSpec(name, planned.ecosystem, path=str(file), timeout=planned.timeout)]
    if ecosystem is None:
        fatal("--file needs --ecosystem (PyPI, npm, Debian, Go, crates.io, Maven)")
    return [SourceSpec(name, ecosystem, path=str(file.resolve()))]


def _summary(result: ImportResult, took: float) -> str:
    from watchkeeper.security.osv.imports import error_reason

    status = f"[{STATUS_STYLE.get(result.status, '')}]{result.status}[/]"
    if result.status == "unchanged":
        return f"{escape(result.source)}: {status}: the dump did not change ({took:.1f}s)"
    if result.status == "failed":
        reason = error_reason(result.source, result.error)
        return f"{escape(result.source)}: {status}: {escape(reason)}"
    line = (
        f"{escape(result.source)}: {status}: {result.total} record(s), {result.added} added, "
        f"{result.updated} updated, {result.removed} removed, {result.skipped} skipped "
        f"({took:.1f}s)"
    )
    if result.skipped:
        line += "\n  " + escape(result.error)
    return line


def _import_one(sessions: Callable[[], Session], spec: SourceSpec, force: bool) -> ImportResult:
    """Run one import with a progress bar; end the command if another import of the same
    source is going on."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from watchkeeper.cli import _cli_actor, err, fatal
    from watchkeeper.security.osv.importer import run_import
    from watchkeeper.security.osv.imports import ImportInProgress

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        console=err,
        transient=True,
    )
    job = bar.add_task(f"{spec.name}: fetching", total=None)

    def on_progress(done: int, total: int) -> None:
        bar.update(job, completed=done, total=total, description=f"{spec.name}: importing")

    with bar:
        try:
            return run_import(
                sessions,
                spec,
                trigger=_cli_actor().name[:64],
                force=force,
                progress=on_progress,
            )
        except ImportInProgress as exc:
            bar.stop()
            fatal(f"{spec.name} not imported: {exc}")


def security_import(
    source: Annotated[
        str | None, typer.Argument(help="A source of the plan (default: every source).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Import this dump file (an OSV all.zip) instead."),
    ] = None,
    ecosystem: Annotated[
        str | None,
        typer.Option(
            "--ecosystem",
            "-e",
            help="The dump file's ecosystem, for a file that is not a plan source's "
            "(its source is then named after the ecosystem, e.g. pypi).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Import a dump refused as suspicious: one without records, or lacking more "
            "than half of the source's stored records (which it removes).",
        ),
    ] = False,
) -> None:
    """Import vulnerability sources into the offline database now, then scan when records
    changed. Exit 1 if an import failed."""
    from watchkeeper.cli import _store, out
    from watchkeeper.security.scan import run_scan
    from watchkeeper.store.tables import utcnow

    failed = changed = False
    with _store(migrate=False) as ctx:
        with ctx.sessions() as db:
            specs = _specs(db, source, file, ecosystem)
        for spec in specs:
            started = time.monotonic()
            result = _import_one(ctx.sessions, spec, force)
            out.print(_summary(result, time.monotonic() - started), highlight=False)
            failed |= result.status == "failed"
            changed |= result.changed
        if changed:
            with ctx.sessions() as db:
                now = utcnow()
                found = run_scan(db, now)
            out.print(
                f"scan: {found.new} new finding(s), {found.resolved} resolved, "
                f"{found.reopened} reopened, {sum(found.open_by_severity.values())} open",
                highlight=False,
            )
    if failed:
        raise typer.Exit(1)


def security_sources() -> None:
    """Show the vulnerability sources: last import (date, status, counts), records, age."""
    from watchkeeper.cli import _store, out
    from watchkeeper.security.osv.imports import error_reason
    from watchkeeper.security.osv.views import list_sources
    from watchkeeper.security.section import load_section
    from watchkeeper.store.tables import utcnow

    now = utcnow()
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        found = list_sources(db, load_section(db), now)
    if not found:
        out.print(
            "no vulnerability sources: add some to the plan (security.sources) or import a "
            "dump with `watchkeeper security import --file PATH --ecosystem ECOSYSTEM`",
            highlight=False,
        )
        return
    table = Table("source", "ecosystem", "from", "records", "last import", "status")
    table.add_column("added/updated/removed")
    table.add_column("data as of")
    table.add_column("next")
    for s in found:
        last, good = s.last_import, s.last_good
        status = ""
        if last is not None:
            status = f"[{STATUS_STYLE.get(last.status, '')}]{last.status}[/]"
        counts = (
            f"{last.records_added}/{last.records_updated}/{last.records_removed}"
            if last is not None and last.status == "succeeded"
            else ""
        )
        where = s.path if s.kind == "file" else s.kind or "(not in the plan)"
        table.add_row(
            escape(s.name),
            s.ecosystem,
            escape(where),
            str(s.records),
            _time(last.started_at) if last else "never",
            status,
            counts,
            _age(good.finished_at, now) if good else "",
            _time(s.next_import) if s.in_plan else "",
        )
    out.print(table)
    for s in found:
        if s.last_import is not None and s.last_import.error:
            reason = error_reason(s.name, s.last_import.error)
            out.print(f"[red]{escape(s.name)}:[/] {escape(reason[:500])}")


def security_scan() -> None:
    """Match the latest inventories against the vulnerability database now (and refresh the
    patch plan); print what changed and the open findings by severity."""
    from watchkeeper.cli import _store, out
    from watchkeeper.security.config import SEVERITIES
    from watchkeeper.security.scan import run_scan
    from watchkeeper.store.tables import utcnow

    started = time.monotonic()
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        now = utcnow()
        found = run_scan(db, now)
    took = time.monotonic() - started
    out.print(
        f"scanned {found.inventories} inventories ({found.packages} packages) in {took:.1f}s: "
        f"{found.new} new finding(s), {found.resolved} resolved, {found.reopened} reopened",
        highlight=False,
    )
    table = Table("severity", "open findings")
    for severity in SEVERITIES:
        count = found.open_by_severity.get(severity, 0)
        table.add_row(f"[{SEVERITY_STYLE[severity]}]{severity}[/]", str(count))
    table.add_row("[bold]total[/]", f"[bold]{sum(found.open_by_severity.values())}[/]")
    out.print(table)
    if found.skipped:
        skipped = ", ".join(f"{n} {eco}" for eco, n in sorted(found.skipped.items()))
        out.print(f"not matched: {skipped} inventory(ies) (see docs)", highlight=False)
    if found.undecided:
        out.print(
            f"{found.undecided} package version(s) could not be read in their ecosystem's "
            "version order and were not matched",
            highlight=False,
        )


def security_vulns(
    host: Annotated[str | None, typer.Option("--host", help="Only this host.")] = None,
    severity: Annotated[
        str | None,
        typer.Option(
            "--severity", "-s", help="Only this severity: critical, high, medium, low, unknown."
        ),
    ] = None,  # fmt: skip
    package: Annotated[
        str | None, typer.Option("--package", "-p", help="Only this package.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Show the vulnerabilities found and not resolved (suppressed ones marked), worst
    first."""
    from watchkeeper.cli import _store, fatal, out
    from watchkeeper.security.config import SEVERITIES
    from watchkeeper.security.findings import query
    from watchkeeper.security.section import load_section
    from watchkeeper.store.tables import utcnow

    if severity is not None and severity not in SEVERITIES:
        fatal(f'--severity "{severity}" is not one of {", ".join(SEVERITIES)}')
    now = utcnow()
    with _store(migrate=False) as ctx, ctx.sessions() as db:
        section = load_section(db)
        found = [
            f
            for status in ("open", "suppressed")
            for f in query(
                db, section, now, host=host, package=package, severity=severity, status=status
            ).findings
        ]
    if as_json:
        for f in found:
            print(
                json.dumps(
                    {
                        "host": f.host,
                        "ecosystem": f.ecosystem,
                        "location": f.location,
                        "package": f.package,
                        "version": f.version,
                        "vulnerability": f.vuln_id,
                        "aliases": f.aliases,
                        "severity": f.severity,
                        "score": f.score,
                        "fixed_version": f.fixed_version,
                        "status": f.status,
                        "first_seen": f.first_seen.isoformat(),
                        "fix_seen": f.fix_seen.isoformat() if f.fix_seen else None,
                        "summary": f.summary,
                    }
                )
            )
        return
    if not found:
        out.print("no vulnerabilities found", highlight=False)
        return
    table = Table("severity", "host", "package", "installed", "fixed in", "vulnerability")
    table.add_column("first seen")
    table.add_column("summary", overflow="fold")
    for f in found:
        style = SEVERITY_STYLE.get(f.severity, "")
        label = f"[{style}]{f.severity}[/]" + (" [dim](suppressed)[/]" if f.suppression else "")
        ident = f.vuln_id + (f" ({', '.join(f.aliases[:2])})" if f.aliases else "")
        table.add_row(
            label,
            escape(f.host),
            escape(f"{f.package} ({f.ecosystem})"),
            escape(f.version),
            escape(f.fixed_version) or "[dim]no fix[/]",
            escape(ident),
            _time(f.first_seen),
            escape(f.summary[:120]),
        )
    out.print(table)
    opened = sum(1 for f in found if f.status == "open")
    out.print(f"{opened} open, {len(found) - opened} suppressed", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the vulnerability-database commands to ``app`` (``watchkeeper security``)."""
    app.command("import")(security_import)
    app.command("sources")(security_sources)
    app.command("scan")(security_scan)
    app.command("vulns")(security_vulns)
