"""``watchkeeper security audit``: run the hardening audit on this machine (its checks, plus
Watchkeeper's own posture when the store is here) and print it; and the ``watchkeeper tls``
group: ``tls self-signed`` makes a certificate and key for Watchkeeper's own listener.
Thin, like the rest of the CLI: parse, call the hardening services, print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from watchkeeper.security.hardening.runner import Report

STATUS_STYLE = {"pass": "green", "fail": "bold red", "error": "yellow", "skip": "dim"}
tls_app = typer.Typer(
    help="TLS for Watchkeeper's own listener (a self-signed certificate).",
    no_args_is_help=True,
)


def _print(report: Report, *, show_all: bool) -> None:
    from watchkeeper.cli import out
    from watchkeeper.security.hardening.interface import REGISTRY

    out.print(f"[bold]{escape(report.host)}[/] (profile {escape(report.profile)})", highlight=False)
    table = Table("status", "check", "points", "detail")
    for o in report.ordered():
        if not show_all and o.status in ("pass", "skip"):
            continue
        style = STATUS_STYLE[o.status]
        table.add_row(f"[{style}]{o.status}[/]", o.id, str(o.weight), escape(o.detail))
    if table.row_count:
        out.print(table)
    for o in report.ordered():
        known = REGISTRY.get(o.id)
        if o.status == "fail" and known:
            out.print(f"[bold]{o.id}[/]: {escape(known.remediation)}", highlight=False)
    counts = ", ".join(
        f"{report.count(s)} {s}" for s in ("pass", "fail", "error", "skip") if report.count(s)
    )
    index = f"{report.index:g}" if report.possible else "n/a (nothing could be judged)"
    out.print(
        f"hardening index: [bold]{index}[/] ({report.points} of {report.possible} points; "
        f"{counts})",
        highlight=False,
    )


def security_audit(
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Use this profile of the plan (default: the profiles matching this "
            "machine's name, else the defaults).",
        ),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Audit the system files under DIR (a mounted image, a prepared tree) "
            "instead of /; the run is printed, not recorded.",
        ),
    ] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the results only; do not record the run.")
    ] = False,
    endpoints: Annotated[
        bool,
        typer.Option(
            "--endpoints",
            help="Also audit the TLS endpoints of the plan's checks and, when it serves TLS, "
            "this server's own listener.",
        ),
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="List passed and skipped checks too.")
    ] = False,
) -> None:
    """Audit this machine's hardening (SSH, world-writable files, ports, firewall, automatic
    updates, disk encryption, Watchkeeper's own files and posture); print failures with
    their remediation and the hardening index; record it as watchkeeper://HOSTNAME.
    Exits with status 1 when a check failed."""
    from sqlalchemy.engine import make_url

    from watchkeeper.cli import _cli_actor, _settings, _store, fatal, out
    from watchkeeper.security.hardening import audits, runs
    from watchkeeper.security.hardening.endpoints import audited_endpoints
    from watchkeeper.security.hardening.profiles import default, named
    from watchkeeper.security.section import load_section

    if root is not None and not root.is_dir():
        fatal(f"--root {root} is not a directory")
    base = root or Path("/")
    settings = _settings()
    database = make_url(settings.database_url).database if settings.uses_default_database else ""
    if database and not Path(database).exists():
        # No store on this machine (an agent's host): audit it with the defaults.
        if profile is not None:
            fatal(f"--profile {profile}: there is no store here to read the plan's profiles from")
        if endpoints:
            fatal("--endpoints: there is no store here to read the plan's checks from")
        report = audits.audit_server(settings, None, default(), root=base)
        _print(report, show_all=show_all)
        out.print("not recorded: no store on this machine", style="dim", highlight=False)
        _exit_on_failures([report])
        return
    with _store(migrate=False) as ctx:
        with ctx.sessions() as db:
            if profile is None:
                applied = audits.server_profile(db)
            else:
                found = named(load_section(db).hardening, profile)
                if found is None:
                    names = ", ".join(p.name for p in load_section(db).hardening) or "none"
                    fatal(f'the plan has no hardening profile "{profile}" (profiles: {names})')
                applied = found
            targets = audited_endpoints(db, settings) if endpoints else []
        reports = [audits.audit_server(settings, ctx.sessions, applied, root=base)]
        reports += audits.audit_endpoints(targets, applied)
        for report in reports:
            _print(report, show_all=show_all)
        if print_only or root is not None:
            why = "--print" if print_only else "--root"
            out.print(f"not recorded ({why})", style="dim", highlight=False)
            _exit_on_failures(reports)
            return
        from watchkeeper.auth import audit

        with ctx.sessions() as db:
            for report in reports:
                runs.record(db, report)
            audit.record(
                db,
                _cli_actor(),
                "hardening.run",
                reports[0].host,
                {"hosts": [r.host for r in reports]},
            )
            db.commit()
        out.print(f"recorded: {', '.join(r.host for r in reports)}", style="dim", highlight=False)
    _exit_on_failures(reports)


def _exit_on_failures(reports: list[Report]) -> None:
    """Exit with status 1 when a check failed (after printing and recording), so that a
    script or CI job can gate on the audit."""
    if any(report.count("fail") for report in reports):
        raise typer.Exit(1)


@tls_app.command("self-signed")
def tls_self_signed(
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            metavar="NAME",
            help="A DNS name or IP address the certificate is for (repeatable; default: "
            "localhost, this machine's name, 127.0.0.1, ::1).",
        ),
    ] = None,
    days: Annotated[int, typer.Option(help="Days the certificate is valid.")] = 365,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing certificate and key.")
    ] = False,
) -> None:
    """Make a self-signed certificate and key for Watchkeeper's listener in
    $WATCHKEEPER_HOME/tls/ (key mode 0600) and tell how to enable it."""
    from watchkeeper.cli import _settings, fatal, out
    from watchkeeper.exceptions import WatchkeeperError
    from watchkeeper.runtime.tls import TLS_DIR, default_names, write_self_signed

    settings = _settings()
    try:
        info = write_self_signed(
            settings.home / TLS_DIR, list(host or default_names()), days, force=force
        )
    except WatchkeeperError as exc:
        fatal(str(exc))
    except OSError as exc:
        fatal(f"cannot write to {settings.home / TLS_DIR}: {exc.strerror or exc}")
    key = info.path.with_name("key.pem")
    out.print(f"certificate: {info.path}", highlight=False)
    out.print(f"key:         {key} (mode 0600)", highlight=False)
    out.print(f"names:       {', '.join(info.names)}", highlight=False)
    out.print(f"expires:     {info.not_after:%Y-%m-%d %H:%M} UTC", highlight=False)
    out.print(f"SHA-256:     {info.fingerprint}", highlight=False)
    out.print(
        "\nTo serve HTTPS, set these and restart `watchkeeper up`:\n"
        f"    WATCHKEEPER_TLS_CERT_FILE={info.path.resolve()}\n"
        f"    WATCHKEEPER_TLS_KEY_FILE={key.resolve()}\n"
        "Browsers warn about a self-signed certificate until it is trusted on each client "
        "(compare the SHA-256 fingerprint above). Agents verify the server: on their hosts "
        "set SSL_CERT_FILE to a copy of the certificate, or use one from your own CA.",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``audit`` to ``app`` (``watchkeeper security``)."""
    app.command("audit")(security_audit)
