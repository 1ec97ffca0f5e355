"""The ``watchkeeper knowledge`` commands: export the offline bundle (every generated
document and runbook, as Markdown and self-contained HTML, with the architecture diagram
and an index) into a directory or a zip file, with progress."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

knowledge_app = typer.Typer(
    help="The knowledge base: export the generated documents and runbooks for offline use.",
    no_args_is_help=True,
)


@knowledge_app.command("export")
def knowledge_export(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory to write into (made when missing; an earlier export there is "
            "replaced, anything else refused). With --zip: where the zip file goes.",
        ),
    ],
    zip_file: Annotated[
        bool,
        typer.Option("--zip", help="Write one zip file (watchkeeper-knowledge-<date>.zip)."),
    ] = False,
) -> None:
    """Export the offline bundle: open its index.html in any browser, no server needed."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from watchkeeper.cli import _store, err, fatal
    from watchkeeper.cli import out as console
    from watchkeeper.knowledge.bundle import (
        BundleError,
        build_bundle,
        folder_name,
        write_directory,
        write_zip,
    )
    from watchkeeper.web.alerts import markdown

    if zip_file and out.exists() and not out.is_dir():
        fatal(f"{out} exists and is not a directory")
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("reading the store", total=None)

    def progress(what: str, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total, description=what[:60])

    with _store(migrate=False) as ctx, ctx.sessions() as db, bar:
        bundle = build_bundle(db, lambda text: str(markdown(text)), progress=progress)
    try:
        if zip_file:
            out.mkdir(parents=True, exist_ok=True)
            target = out / f"{folder_name(bundle)}.zip"
            with target.open("wb") as fh:
                write_zip(bundle, fh, folder_name(bundle))
            where = target
        else:
            write_directory(bundle, out)
            where = out / "index.html"
    except BundleError as exc:
        fatal(str(exc))
    except OSError as exc:
        fatal(f"cannot write the bundle to {out}: {exc.strerror or exc}")
    console.print(
        f"[green]exported[/] {len(bundle.documents)} generated documents and "
        f"{bundle.runbooks} runbook{'s' if bundle.runbooks != 1 else ''} "
        f"({len(bundle.files)} files, from {escape(bundle.plan.describe())}) to "
        f"{escape(str(where))}",
        highlight=False,
    )
