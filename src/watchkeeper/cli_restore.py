"""The ``watchkeeper restore`` commands: list a policy's restore points, restore a database
dump into a new database, restore files into an empty directory. They read the snapshots
from the repositories themselves, so ``--plan FILE`` is enough when the store was lost."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from watchkeeper.cli_backup import (
    PlanOpt,
    PolicyArg,
    RepoOpt,
    _call,
    _escape,
    _plan_backups,
    _size,
    _time,
    plan_section,
    restic_at,
    restic_for,
)

if TYPE_CHECKING:
    from watchkeeper.backups.config import BackupsSection
    from watchkeeper.backups.engine import Progress
    from watchkeeper.backups.listing import SnapshotPrefetch
    from watchkeeper.backups.restic import Restic
    from watchkeeper.backups.restore import RestorePoint, Restorer, RestoreResult
    from watchkeeper.backups.restore_ahead import LatestRestoreAhead

restore_app = typer.Typer(
    help="Restore a backup: list restore points, restore a database under a new name, "
    "restore files into an empty directory. Never writes over existing data.",
    no_args_is_help=True,
)
SnapshotOpt = Annotated[
    str | None, typer.Option("--snapshot", "-s", help="Snapshot ID (or its first characters).")
]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Point in time: the latest snapshot taken at or before it. An ISO time "
        '("2026-12-01T03:00", UTC unless it has an offset) or an age ("36h", "7d").',
    ),
]
T = TypeVar("T")
_AGE = re.compile(r"^\d+(\.\d+)?[smhdw]$")


def parse_at(value: str | None, now: datetime) -> datetime | None:
    """Return the moment ``--at`` names; raise ValueError with a hint if it names none."""
    if value is None:
        return None
    text = value.strip()
    if _AGE.match(text):
        from watchkeeper.plan.types import parse_duration

        return now - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f'--at "{value}" is neither a time (2026-12-01T03:00) nor an age (36h, 7d)'
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class _Restore:
    """What a restore command works with: the plan's backups section, the restorer, the
    policy's snapshots (listed ahead unless a restore was) and, for ``restore files`` of
    the latest snapshot, that restore itself, started as soon as the section is read."""

    section: BackupsSection
    restorer: Restorer
    policy: str
    repository: str | None
    started_listing: SnapshotPrefetch | None
    ahead: LatestRestoreAhead | None = None

    @property
    def listing(self) -> SnapshotPrefetch:
        """The policy's snapshots, listing them now if that was not started ahead."""
        if self.started_listing is None:
            from watchkeeper.backups.listing import SnapshotPrefetch

            self.started_listing = SnapshotPrefetch(
                self.restorer.engine, self.section, self.policy, self.repository
            )
        return self.started_listing


@contextmanager
def _restore(
    plan: Path | None,
    policy: str,
    repository: str | None,
    latest_files: tuple[Path, list[str]] | None = None,
) -> Iterator[_Restore]:
    """A restore's section, restorer and snapshot listing, whose restic command starts as
    soon as the section is known: with ``--plan`` before the store is opened and the restore
    machinery loaded. With ``latest_files`` (target directory, include patterns) and a
    policy whose snapshots all restore as files, the restore of its latest snapshot starts
    then instead (``ahead``: restic names what it restores, no listing is needed); leaving
    the block without following it stops it."""
    from watchkeeper.backups.listing import SnapshotPrefetch
    from watchkeeper.cli import _settings

    listing: SnapshotPrefetch | None = None
    ahead: LatestRestoreAhead | None = None

    def begin(engine: Restic, section: BackupsSection) -> None:
        nonlocal listing, ahead
        ahead = _start_latest_files(engine, section, policy, repository, latest_files)
        if ahead is None:
            listing = SnapshotPrefetch(engine, section, policy, repository)

    section = None
    if plan is not None:
        section = _plan_backups(plan)
        begin(restic_at(_settings().home), section)
    try:
        with plan_section(plan, section) as (section, ctx):
            engine = restic_for(ctx)
            if plan is None:
                begin(engine, section)
            from watchkeeper.backups.restore import Restorer

            restorer = Restorer(engine, sessions=ctx.sessions, settings=ctx.settings)
            yield _Restore(section, restorer, policy, repository, listing, ahead)
    finally:
        if ahead is not None:
            ahead.cancel()  # a no-op once the restore has been followed to its end


def _start_latest_files(
    engine: Restic,
    section: BackupsSection,
    policy: str,
    repository: str | None,
    latest_files: tuple[Path, list[str]] | None,
) -> LatestRestoreAhead | None:
    """Start restoring the latest snapshot of ``policy`` into ``latest_files``'s directory
    when its snapshots all restore as files; None otherwise (the command then reports the
    policy's or the directory's problem as it would have)."""
    from watchkeeper.backups.listing import empty_directory
    from watchkeeper.backups.lookup import access, find_policy, policy_repositories
    from watchkeeper.backups.restore_ahead import LatestRestoreAhead, latest_is_files
    from watchkeeper.exceptions import WatchkeeperError

    if latest_files is None:
        return None
    target, include = latest_files
    try:
        found = find_policy(section, policy)
        if not latest_is_files(found):
            return None
        first = policy_repositories(section, found, repository, copies=True)[0]
        target = empty_directory(target)
    except WatchkeeperError:
        return None
    return LatestRestoreAhead(engine, access(first), found.name, target, include)


def _pick(
    listing: SnapshotPrefetch,
    *,
    kind: str,
    database: str | None = None,
    snapshot: str | None = None,
    at: str | None = None,
) -> RestorePoint:
    from watchkeeper.backups.restore import choose, points_of
    from watchkeeper.cli import err, fatal

    try:
        moment = parse_at(at, datetime.now(UTC))
    except ValueError as exc:
        fatal(str(exc))
    points, errors = _call_sync(lambda: points_of(listing.result()))
    for repo, error in errors.items():
        err.print(f"[yellow]{repo} did not answer:[/] {_escape(error)}", highlight=False)
    return _call_sync(
        lambda: choose(points, kind=kind, database=database, snapshot=snapshot, at=moment)
    )


def _call_sync(work: Callable[[], T]) -> T:
    from watchkeeper.cli import fatal
    from watchkeeper.exceptions import WatchkeeperError

    try:
        return work()
    except WatchkeeperError as exc:
        fatal(str(exc))


@contextmanager
def _bar(description: str) -> Iterator[Callable[[Progress], None]]:
    """A transient progress bar on stderr, fed with the restore's Progress."""
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    from watchkeeper.cli import err

    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task(description, total=None)

    def update(p: Progress) -> None:
        bar.update(task, completed=p.bytes_done, total=p.bytes_total or None)

    with bar:
        yield update


@restore_app.command("points")
def restore_points_cmd(policy: PolicyArg, repository: RepoOpt = None, plan: PlanOpt = None) -> None:
    """List POLICY's restore points (oldest first): what each snapshot restores as."""
    from watchkeeper.backups.restore import points_of
    from watchkeeper.cli import err, out

    with _restore(plan, policy, repository) as job:
        points, errors = _call_sync(lambda: points_of(job.listing.result()))
    for repo, error in errors.items():
        err.print(f"[yellow]{repo} did not answer:[/] {_escape(error)}", highlight=False)
    if not points:
        out.print(f"policy {policy} has no snapshots yet", highlight=False)
        return
    table = Table(
        "snapshot", "time", "restores as", "what", title=f"{points[0].repository}: {len(points)}"
    )
    for p in points:
        table.add_row(p.snapshot.id[:8], _time(p.snapshot.time), p.kind, _escape(p.what))
    out.print(table)


@restore_app.command("database")
def restore_database(
    policy: PolicyArg,
    database: Annotated[
        str | None,
        typer.Argument(help="The source database (optional when the policy dumps one)."),
    ] = None,
    to: Annotated[
        str, typer.Option("--to", help="Name of the NEW database to create and restore into.")
    ] = "",
    snapshot: SnapshotOpt = None,
    at: AtOpt = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Connection URL of the server to restore into (default: the source's).",
        ),
    ] = None,
    no_owner: Annotated[
        bool, typer.Option("--no-owner", help="Do not restore ownership and privileges.")
    ] = False,
    repository: RepoOpt = None,
    plan: PlanOpt = None,
) -> None:
    """Restore a database dump of POLICY into a new database (--to NAME) on the source's
    server or --server; refuses an existing database."""
    from watchkeeper.cli import _cli_actor, fatal, out

    if not to:
        fatal("give the new database's name with --to NAME (restores never overwrite)")
    with _restore(plan, policy, repository) as job:
        section, restorer = job.section, job.restorer
        point = _pick(
            job.listing,
            kind="database",
            database=database,
            snapshot=snapshot,
            at=at,
        )
        label = f"{point.database} ({point.snapshot.id[:8]}) → {to}"
        with _bar(label) as progress:
            result = _call(
                lambda: restorer.database(
                    section,
                    point,
                    to,
                    server_url=server,
                    owners=not no_owner,
                    trigger=_cli_actor().name,
                    progress=progress,
                )
            )
    out.print(
        f"[green]restored[/] {point.what} from snapshot {point.snapshot.id[:8]} "
        f"({_time(point.snapshot.time)}) into {_escape(result.target)} "
        f"in {result.seconds:.1f} s ({_size(result.bytes_written)})",
        highlight=False,
    )


@restore_app.command("files")
def restore_files(
    policy: PolicyArg,
    to: Annotated[
        Path | None,
        typer.Option("--to", help="An empty (or new) directory to restore into."),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", "-i", help="Only paths matching this pattern (repeatable)."),
    ] = None,
    snapshot: SnapshotOpt = None,
    at: AtOpt = None,
    repository: RepoOpt = None,
    plan: PlanOpt = None,
) -> None:
    """Restore POLICY's files (or its SQLite copy or base backup) into an empty directory."""
    from watchkeeper.cli import _cli_actor, fatal, out

    if to is None:
        fatal("give the directory to restore into with --to DIR (it must be empty or new)")
    from watchkeeper.backups.lookup import find_policy
    from watchkeeper.backups.restore_ahead import latest_is_files

    latest = snapshot is None and at is None
    patterns = include or []
    with _restore(plan, policy, repository, (to, patterns) if latest else None) as job:
        section, restorer = job.section, job.restorer
        if latest and latest_is_files(_call_sync(lambda: find_policy(section, policy))):
            # restic picks the latest snapshot itself (started ahead when the plan was
            # read); the listing describes it meanwhile.
            label = "latest"

            def run(progress: Callable[[Progress], None]) -> Coroutine[Any, Any, RestoreResult]:
                return restorer.latest_files(
                    section,
                    policy,
                    to,
                    lambda: job.listing.wait(),
                    repository=repository,
                    include=patterns,
                    trigger=_cli_actor().name,
                    progress=progress,
                    ahead=job.ahead,
                )

        else:
            chosen = _pick(job.listing, kind="files", snapshot=snapshot, at=at)
            label = chosen.snapshot.id[:8]

            def run(progress: Callable[[Progress], None]) -> Coroutine[Any, Any, RestoreResult]:
                return restorer.files(
                    section,
                    chosen,
                    to,
                    include=patterns,
                    trigger=_cli_actor().name,
                    progress=progress,
                )

        with _bar(f"{label} → {to}") as progress:
            result = _call(lambda: run(progress))
    point = result.point
    out.print(
        f"[green]restored[/] snapshot {point.snapshot.id[:8]} ({_time(point.snapshot.time)}) "
        f"into {_escape(result.target)} in {result.seconds:.1f} s "
        f"({_size(result.bytes_written)})",
        highlight=False,
    )
