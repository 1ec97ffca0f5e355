"""Restores: put a policy's backup back, from any of its snapshots (a point in time), into a
new database or an empty directory. A restore never writes over existing data: the database
must not exist yet (it is created, and dropped again if the restore fails), the directory
must be empty or absent.

What a snapshot holds is read from the snapshot itself (its paths and the policy's source
type), not from the store, so a restore works when Watchkeeper's own store is what was lost
(``watchkeeper restore --plan FILE``). Each restore is recorded as a ``backup_runs`` row of
kind ``restore`` when a store is at hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from watchkeeper.backups.config import BackupsSection, MariadbSource, Policy, PostgresSource
from watchkeeper.backups.engine import Engine, Progress, RepositoryAccess, Snapshot
from watchkeeper.backups.listing import Listing, empty_directory, policy_snapshots
from watchkeeper.backups.listing import RestoreError as RestoreError  # raised by restores too
from watchkeeper.backups.lookup import access, find_policy, policy_repositories
from watchkeeper.backups.runner import _ProgressWriter, _stop
from watchkeeper.backups.sources.base import SourceError
from watchkeeper.backups.sources.pgconn import PgTarget
from watchkeeper.backups.sources.postgres import BASEBACKUP_FILE
from watchkeeper.backups.sources.watchkeeper import STORE_COPY, STORE_DUMP
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.logging_setup import redact
from watchkeeper.settings import Settings
from watchkeeper.store.tables import BackupRun, utcnow
from watchkeeper.telemetry import BACKUP_RUNS

if TYPE_CHECKING:  # imported where used: MariaDB's driver is no part of other restores
    from watchkeeper.backups.restore_ahead import LatestRestoreAhead
    from watchkeeper.backups.sources.myconn import MyTarget

log = logging.getLogger(__name__)
RECORDED_RUNS = 500  # backup runs searched for a snapshot's recorded size

RestoreProgress = Callable[[Progress], None]


@dataclass(frozen=True)
class RestorePoint:
    """One snapshot of a policy, and what it can be restored as.

    ``kind`` is ``database`` for a dump (``database`` names the source database, ``file``
    the dump inside the snapshot) and ``files`` for everything restored as files (paths,
    SQLite copies, base backups)."""

    policy: str
    repository: str
    snapshot: Snapshot
    kind: str
    source: str  # postgres, mariadb, mysql, files, sqlite, pg_basebackup, watchkeeper
    database: str = ""
    file: str = ""

    @property
    def what(self) -> str:
        if self.kind == "database":
            return f"{self.source} database {self.database}"
        return ", ".join(self.snapshot.paths)

    def as_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "snapshot": self.snapshot.id,
            "time": self.snapshot.time.isoformat(),
            "kind": self.kind,
            "source": self.source,
            "database": self.database,
            "file": self.file,
            "what": self.what,
            "paths": list(self.snapshot.paths),
        }


@dataclass(frozen=True)
class RestoreResult:
    point: RestorePoint
    target: str  # "postgres 127.0.0.1:5432/app_restored", "directory /srv/restore"
    seconds: float
    bytes_written: int
    run_id: int | None = None


@dataclass
class _Written:
    """Turns restic's written-byte counts into Progress for the run row and the caller."""

    total: int
    started: float = field(default_factory=time.monotonic)
    latest: int = 0
    listeners: list[RestoreProgress] = field(default_factory=list)

    def __call__(self, count: int) -> None:
        self.latest = count
        elapsed = time.monotonic() - self.started
        fraction = min(count / self.total, 1.0) if self.total else 0.0
        remaining = elapsed * (1 - fraction) / fraction if 0 < fraction < 1 else None
        progress = Progress(fraction, count, self.total, 0, elapsed, remaining)
        for listener in self.listeners:
            listener(progress)


def describe(policy: Policy, snapshot: Snapshot, repository: str) -> RestorePoint:
    """Return what ``snapshot`` of ``policy`` holds, from its paths and the source's type."""
    src = policy.source
    single = snapshot.paths[0] if len(snapshot.paths) == 1 else ""
    name = PurePosixPath(single).name

    def point(kind: str, source: str, database: str = "", file: str = "") -> RestorePoint:
        return RestorePoint(policy.name, repository, snapshot, kind, source, database, file)

    if isinstance(src, PostgresSource) and src.mode == "logical" and name.endswith(".pgdump"):
        return point("database", "postgres", name.removesuffix(".pgdump"), single)
    if isinstance(src, MariadbSource) and name.endswith(".sql"):
        return point("database", src.type, name.removesuffix(".sql"), single)
    if src.type == "watchkeeper" and name == STORE_DUMP:
        return point("database", "postgres", STORE_DUMP.removesuffix(".pgdump"), single)
    if isinstance(src, PostgresSource) and name == BASEBACKUP_FILE:
        return point("files", "pg_basebackup", file=single)
    if src.type == "sqlite" or (src.type == "watchkeeper" and name == STORE_COPY):
        return point("files", "sqlite", file=single)
    return point("files", src.type)


async def restore_points(
    engine: Engine, section: BackupsSection, policy_name: str, repository: str | None = None
) -> tuple[list[RestorePoint], dict[str, str]]:
    """Return the policy's restore points (oldest first) from ``repository``, or from the
    first of its repositories that answers, and the errors of those that did not; raise
    RestoreError when none answers, NotFoundError for an unknown policy or repository."""
    return points_of(await policy_snapshots(engine, section, policy_name, repository))


def points_of(listing: Listing) -> tuple[list[RestorePoint], dict[str, str]]:
    """The restore points of a policy's snapshots listing, and the listing's errors."""
    policy, repository, snaps, errors = listing
    return [describe(policy, s, repository) for s in snaps], errors


def choose(
    points: Sequence[RestorePoint],
    *,
    kind: str,
    database: str | None = None,
    snapshot: str | None = None,
    at: datetime | None = None,
) -> RestorePoint:
    """Pick the point to restore: the snapshot whose ID starts with ``snapshot``, else the
    latest taken at or before ``at``, else the latest; for ``kind`` database, of
    ``database`` (which may be left out when the policy dumps one database). Raise
    RestoreError saying what there is when nothing fits."""
    fitting = [p for p in points if p.kind == kind]
    if not fitting:
        kinds = sorted({p.kind for p in points})
        hint = f" (its snapshots restore as {', '.join(kinds)})" if kinds else " (none yet)"
        raise RestoreError(f"no snapshot of this policy restores as {kind}{hint}")
    if kind == "database":
        names = sorted({p.database for p in fitting})
        if database is None:
            if len(names) > 1:
                raise RestoreError(f"name the database to restore: {', '.join(names)}")
            database = names[0]
        fitting = [p for p in fitting if p.database == database]
        if not fitting:
            raise RestoreError(
                f"no snapshot holds database {database!r} (databases: {', '.join(names)})"
            )
    if snapshot:
        matches = [p for p in fitting if p.snapshot.id.startswith(snapshot)]
        if len(matches) != 1:
            problem = "matches none of" if not matches else "is ambiguous among"
            raise RestoreError(f"snapshot {snapshot!r} {problem} the snapshots that fit")
        return matches[0]
    if at is not None:
        before = [p for p in fitting if p.snapshot.time <= at]
        if not before:
            oldest = min(p.snapshot.time for p in fitting)
            raise RestoreError(
                f"no snapshot was taken at or before {at.isoformat()}; "
                f"the oldest is from {oldest.isoformat()}"
            )
        return max(before, key=lambda p: p.snapshot.time)
    return max(fitting, key=lambda p: p.snapshot.time)


class Restorer:
    """Restores snapshots of the plan's policies (and records them when it has a store)."""

    def __init__(
        self,
        engine: Engine,
        *,
        sessions: Callable[[], Session] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self._settings = settings

    async def database(
        self,
        section: BackupsSection,
        point: RestorePoint,
        into: str,
        *,
        server_url: str | None = None,
        owners: bool = True,
        trigger: str = "cli",
        progress: RestoreProgress | None = None,
        run_id: int | None = None,
    ) -> RestoreResult:
        """Restore the dump of ``point`` into the new database ``into`` on ``server_url``
        (default: the source's server; for Watchkeeper's store, the store's server). Raise
        RestoreError if ``into`` exists or the restore fails (the new database is then
        dropped again)."""
        policy = find_policy(section, point.policy)
        repo = _repository(section, policy, point.repository)
        if point.kind != "database":
            raise RestoreError(
                f"snapshot {point.snapshot.id[:8]} restores as files, not a database"
            )
        if not into or len(into) > 63:
            raise RestoreError("the new database's name must be 1 to 63 characters")
        url = server_url or self._server_url(policy)
        try:
            if point.source == "postgres":
                pg = PgTarget.parse(url)
                where = f"postgres {pg.where}/{into}"

                async def work(written: _Written) -> None:
                    await _into_postgres(self.engine, repo, point, pg, into, owners, written)

            else:
                from watchkeeper.backups.sources.myconn import MyTarget

                my = MyTarget.parse(url)
                where = f"{point.source} {my.where}/{into}"

                async def work(written: _Written) -> None:
                    await _into_mariadb(self.engine, repo, point, my, into, written)

        except SourceError as exc:
            raise RestoreError(str(exc)) from None
        return await self._recorded(point, repo, where, run_id, trigger, progress, work)

    async def files(
        self,
        section: BackupsSection,
        point: RestorePoint,
        target: Path,
        *,
        include: Sequence[str] = (),
        trigger: str = "cli",
        progress: RestoreProgress | None = None,
        run_id: int | None = None,
    ) -> RestoreResult:
        """Restore ``point``'s snapshot into ``target``, which must be an empty directory or
        not exist; raise RestoreError otherwise or when restic fails."""
        policy = find_policy(section, point.policy)
        repo = _repository(section, policy, point.repository)
        target = empty_directory(target)

        async def work(written: _Written) -> None:
            target.mkdir(parents=True, exist_ok=True)
            await self.engine.restore(
                repo, point.snapshot.id, target, include=include, written=written
            )

        return await self._recorded(
            point, repo, f"directory {target}", run_id, trigger, progress, work
        )

    async def latest_files(
        self,
        section: BackupsSection,
        policy_name: str,
        target: Path,
        listing: Callable[[], Awaitable[Listing]],
        *,
        repository: str | None = None,
        include: Sequence[str] = (),
        trigger: str = "cli",
        progress: RestoreProgress | None = None,
        ahead: LatestRestoreAhead | None = None,
    ) -> RestoreResult:
        """Restore the latest snapshot of a policy whose snapshots all restore as files
        (``restore_ahead.latest_is_files``) into ``target`` without listing the snapshots first:
        restic picks it (``restore latest --tag policy=…``) and names it on its first line,
        which describes the restore for the record (the full ID and size from the backup
        run that made it, when the store has one). That saves a restic run and its key
        derivation. With ``ahead`` (started by the caller into ``target`` from the same
        repository) that restore is followed and recorded instead of starting restic here.

        The first of the policy's repositories (or ``repository``) is asked. When restic
        fails, ``listing()`` (the policy's :func:`policy_snapshots`) says why, or, when
        another repository answered it, that one is restored from as :meth:`files` would."""
        policy = find_policy(section, policy_name)
        first = policy_repositories(section, policy, repository, copies=True)[0]
        repo = _repository(section, policy, first.name)
        target = empty_directory(target) if ahead is None else target.absolute()
        restored: asyncio.Future[Snapshot | None] = asyncio.get_running_loop().create_future()

        async def work(written: _Written) -> None:
            if ahead is not None:
                ahead.follow(written)
                restored.set_result(await ahead.wait())
                return
            target.mkdir(parents=True, exist_ok=True)
            tags = [f"policy={policy.name}"]
            restored.set_result(
                await self.engine.restore(
                    repo, "latest", target, include=include, tags=tags, written=written
                )
            )

        async def point() -> RestorePoint:
            snapshot = await restored
            if snapshot is None:  # restic did not say: ask the repository
                found = await policy_snapshots(self.engine, section, policy.name, repo.name)
                return choose(points_of(found)[0], kind="files")
            if self.sessions is not None:
                full = await asyncio.to_thread(
                    recorded_snapshot_id, self.sessions, policy.name, repo.name, snapshot.id
                )
                snapshot = replace(snapshot, id=full or snapshot.id)
            return describe(policy, snapshot, repo.name)

        learnt = asyncio.ensure_future(point())
        try:
            return await self._recorded(
                learnt,
                repo,
                f"directory {target}",
                None,
                trigger,
                progress,
                work,
                policy_name=policy.name,
                started=ahead.started if ahead is not None else None,
            )
        except RestoreError:
            learnt.cancel()
            elsewhere = await _other_latest(listing(), repo.name)
            if elsewhere is None or (target.exists() and any(target.iterdir())):
                raise
            return await self.files(
                section, elsewhere, target, include=include, trigger=trigger, progress=progress
            )

    def _server_url(self, policy: Policy) -> str:
        src = policy.source
        if isinstance(src, PostgresSource | MariadbSource):
            return src.url
        if src.type == "watchkeeper" and self._settings is not None:
            return self._settings.database_url
        raise RestoreError("give the server to restore into (--server URL)")

    async def _recorded(
        self,
        point: RestorePoint | Awaitable[RestorePoint],
        repo: RepositoryAccess,
        where: str,
        run_id: int | None,
        trigger: str,
        progress: RestoreProgress | None,
        work: Callable[[_Written], Awaitable[None]],
        policy_name: str = "",
        started: float | None = None,
    ) -> RestoreResult:
        """Run ``work`` with progress, recorded as a ``restore`` row; raise RestoreError
        with the reason when it fails. A ``point`` still to be learnt (``latest_files``)
        is described in the row as soon as it is known, while ``work`` runs; ``started``
        (a ``time.monotonic()``) when the work began before this was called."""
        sessions = self.sessions
        policy = point.policy if isinstance(point, RestorePoint) else policy_name
        if sessions is not None and run_id is None:
            run_id = await asyncio.to_thread(_start, sessions, policy, repo.name, trigger)
        written = _Written(0)
        learning = asyncio.ensure_future(self._learn(point, repo, where, run_id, written))
        if isinstance(point, RestorePoint):
            await learning  # described before the work starts
        writer = _ProgressWriter(sessions, run_id) if sessions and run_id else None
        if writer is not None:
            written.listeners.append(partial(setattr, writer, "latest"))
        if progress is not None:
            written.listeners.append(progress)
        flusher = asyncio.create_task(writer.run()) if writer is not None else None
        started = time.monotonic() if started is None else started
        try:
            await work(written)
            point, sizing = await learning
        except BaseException as exc:
            await _drop_learning(learning)
            if flusher is not None:
                await _stop(flusher)
            reason = _reason(exc)
            if sessions is not None and run_id is not None:
                await asyncio.shield(
                    asyncio.to_thread(
                        _finish, sessions, run_id, "failed", time.monotonic() - started, 0, reason
                    )
                )
            BACKUP_RUNS.labels(policy, "restore", "failed").inc()
            if isinstance(exc, Exception):
                raise RestoreError(reason) from None
            raise
        if flusher is not None:
            await _stop(flusher)
        seconds = time.monotonic() - started
        if sizing is not None:
            with contextlib.suppress(WatchkeeperError):
                await sizing  # done by now for a large restore; quick for a small one
        size = max(written.latest, written.total)
        if sessions is not None and run_id is not None:
            await asyncio.to_thread(_finish, sessions, run_id, "succeeded", seconds, size, "")
        BACKUP_RUNS.labels(point.policy, "restore", "succeeded").inc()
        log.info(
            "restore of %s snapshot %s into %s took %.1f s",
            point.policy,
            point.snapshot.id[:8],
            where,
            seconds,
        )
        return RestoreResult(point, where, seconds, size, run_id)

    async def _learn(
        self,
        point: RestorePoint | Awaitable[RestorePoint],
        repo: RepositoryAccess,
        where: str,
        run_id: int | None,
        written: _Written,
    ) -> tuple[RestorePoint, asyncio.Task[int] | None]:
        """Describe the run row with ``point`` once it is known, and learn the restore's
        size: what the backup recorded; without that record (a copy target, a lost store)
        ``restic stats`` reads the snapshot's whole tree, beside the restore rather than
        before it (returned: the task), and until it is known the progress has no total."""
        known = point if isinstance(point, RestorePoint) else await point
        sessions = self.sessions
        if sessions is None:
            size = None
        else:
            if run_id is not None:
                await asyncio.to_thread(_describe_row, sessions, run_id, known, where)
            size = await asyncio.to_thread(recorded_size, sessions, known)
        if size is not None:
            written.total = size
            return known, None
        sizing = asyncio.create_task(self.engine.restore_size(repo, known.snapshot.id))
        sizing.add_done_callback(partial(_learn_total, written))
        return known, sizing


async def _other_latest(listed: Awaitable[Listing], repository: str) -> RestorePoint | None:
    """After restic failed to restore the latest snapshot from ``repository``: the latest
    files point of the listing when it came from another repository (``repository`` did
    not answer it either), else None. Raise what the listing or the choice raises (no
    repository answered; no snapshot yet): it says more than restic's failure."""
    found = await listed
    latest = choose(points_of(found)[0], kind="files")
    return latest if found[1] != repository else None


async def _drop_learning(
    learning: asyncio.Future[tuple[RestorePoint, asyncio.Task[int] | None]],
) -> None:
    """Stop learning a failed restore's point and size, wherever that has got to."""
    if not learning.done():
        learning.cancel()
    try:
        _, sizing = await learning
    except (asyncio.CancelledError, WatchkeeperError):
        return
    if sizing is not None:
        await _drop_task(sizing)


async def _drop_task(task: asyncio.Task[int]) -> None:
    """Stop ``task`` (if it still runs) and wait until it has cleaned up after itself."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, WatchkeeperError):
        await task


def recorded_size(sessions: Callable[[], Session], point: RestorePoint) -> int | None:
    """The restore size of ``point``'s snapshot as its backup run recorded it (restic's
    ``total_bytes_processed``), or None when no run of the policy recorded that snapshot."""
    snap = _recorded(sessions, point.policy, point.repository, point.snapshot.id)
    return int(snap["bytes_total"]) if snap and snap.get("bytes_total") else None


def recorded_snapshot_id(
    sessions: Callable[[], Session], policy: str, repository: str, short_id: str
) -> str | None:
    """The ID of the snapshot ``short_id`` names as a backup run of ``policy`` into
    ``repository`` recorded it; None when none of the latest runs did."""
    snap = _recorded(sessions, policy, repository, short_id)
    return str(snap["snapshot_id"]) if snap else None


def _recorded(
    sessions: Callable[[], Session], policy: str, repository: str, snapshot_id: str
) -> dict[str, Any] | None:
    """What the latest successful backup runs of ``policy`` into ``repository`` recorded
    about the snapshot ``snapshot_id`` (either ID perhaps shortened), if one did."""
    with sessions() as db:
        runs = db.scalars(
            select(BackupRun.details)
            .where(
                BackupRun.policy == policy,
                BackupRun.repository == repository,
                BackupRun.kind == "backup",
                BackupRun.status == "succeeded",
            )
            .order_by(BackupRun.id.desc())
            .limit(RECORDED_RUNS)
        )
        for details in runs:
            for snap in (details or {}).get("snapshots") or []:
                sid = str(snap.get("snapshot_id") or "")
                if sid and _same_snapshot(sid, snapshot_id):
                    return dict(snap)
    return None


def _same_snapshot(one: str, other: str) -> bool:
    """Whether two snapshot IDs, either perhaps shortened, name the same snapshot."""
    return one.startswith(other) or other.startswith(one)


def _learn_total(written: _Written, sizing: asyncio.Task[int]) -> None:
    if not sizing.cancelled() and sizing.exception() is None:
        written.total = sizing.result()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, WatchkeeperError):
        return redact(str(exc))
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, OSError):
        return redact(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "))
    log.exception("restore failed unexpectedly")
    return f"internal error: {type(exc).__name__}"


def _repository(section: BackupsSection, policy: Policy, name: str) -> RepositoryAccess:
    return access(policy_repositories(section, policy, name, copies=True)[0])


async def _into_postgres(
    engine: Engine,
    repo: RepositoryAccess,
    point: RestorePoint,
    server: PgTarget,
    into: str,
    owners: bool,
    written: _Written,
) -> None:
    admin = await server.connect()
    try:
        cur = await admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (into,))
        if await cur.fetchone() is not None:
            raise RestoreError(
                f"database {into} already exists on {server.where}: restores never write "
                "over a database (choose a new name, or drop it first)"
            )
        try:
            await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(into)))
        except psycopg.Error as exc:
            raise RestoreError(
                f"cannot create database {into} on {server.where}: {server.scrub(str(exc))}"
            ) from None
        argv = ["pg_restore", "--exit-on-error"]
        if not owners:
            argv += ["--no-owner", "--no-privileges"]
        argv += ["--dbname", server.on(into).conninfo()]
        try:
            await engine.dump_to_command(
                repo, point.snapshot.id, point.file, argv, env=server.env(), written=written
            )
        except BaseException:
            await asyncio.shield(_drop_postgres(admin, into))
            raise
    finally:
        await admin.close()


async def _drop_postgres(admin: psycopg.AsyncConnection[Any], name: str) -> None:
    try:
        await admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    except psycopg.Error as exc:
        log.warning("restore: cannot drop the half-restored database %s: %s", name, exc)


async def _into_mariadb(
    engine: Engine,
    repo: RepositoryAccess,
    point: RestorePoint,
    server: MyTarget,
    into: str,
    written: _Written,
) -> None:
    from watchkeeper.backups.sources import myconn

    def create(conn: Any) -> bool:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (into,))
            if cur.fetchone() is not None:
                return False
            cur.execute(f"CREATE DATABASE {myconn.quote(into)}")
            return True

    def drop(conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {myconn.quote(into)}")

    if not await server.run(create):
        raise RestoreError(
            f"database {into} already exists on {server.where}: restores never write over a "
            "database (choose a new name, or drop it first)"
        )
    client = myconn.tool("mariadb", "mysql")
    try:
        await engine.dump_to_command(
            repo,
            point.snapshot.id,
            point.file,
            [client, *server.client_args(), "--", into],
            env=server.env(),
            written=written,
        )
    except BaseException:
        try:
            await asyncio.shield(server.run(drop))
        except SourceError as exc:
            log.warning("restore: cannot drop the half-restored database %s: %s", into, exc)
        raise


# -- the run rows ---------------------------------------------------------------------------


def _start(sessions: Callable[[], Session], policy: str, repository: str, trigger: str) -> int:
    with sessions() as db:
        row = BackupRun(
            policy=policy,
            repository=repository,
            kind="restore",
            status="running",
            trigger=trigger,
            started_at=utcnow(),
            details={},
        )
        db.add(row)
        db.commit()
        return row.id


def _describe_row(
    sessions: Callable[[], Session], run_id: int, point: RestorePoint, where: str
) -> None:
    with sessions() as db:
        row = db.get(BackupRun, run_id)
        if row is None:
            return
        row.snapshot_id = point.snapshot.id
        row.details = {
            **(row.details or {}),
            "target": where,
            "snapshot_time": point.snapshot.time.isoformat(),
            "what": point.what,
        }
        db.commit()


def _finish(
    sessions: Callable[[], Session],
    run_id: int,
    status: str,
    seconds: float,
    size: int,
    error: str,
) -> None:
    with sessions() as db:
        row = db.get(BackupRun, run_id)
        if row is None:
            return
        row.status, row.finished_at, row.duration_s = status, utcnow(), seconds
        row.bytes_total, row.error = size, error[:4000]
        row.details = {k: v for k, v in (row.details or {}).items() if k != "progress"}
        db.commit()


def claim_queued(sessions: Callable[[], Session]) -> list[BackupRun]:
    """Claim the restore requests queued by the API (rows of kind ``restore`` with status
    ``queued``): each is set ``running`` by one atomic conditional UPDATE, so two schedulers
    never take the same one. Return the claimed rows (detached)."""
    claimed = []
    with sessions() as db:
        queued = db.scalars(
            select(BackupRun.id).where(BackupRun.kind == "restore", BackupRun.status == "queued")
        ).all()
        for run_id in queued:
            result = db.execute(
                update(BackupRun)
                .where(BackupRun.id == run_id, BackupRun.status == "queued")
                .values(status="running", started_at=utcnow())
            )
            db.commit()
            if getattr(result, "rowcount", 0) == 1:
                row = db.get(BackupRun, run_id)
                if row is not None:
                    db.expunge(row)
                    claimed.append(row)
    return claimed


RESTORE_DIR = "restores"
"""Directory under Watchkeeper's home that restores asked for in the UI write into."""


async def run_request(
    restorer: Restorer, section: BackupsSection, row: BackupRun, home: Path
) -> None:
    """Carry out a restore the API queued (``row``, already claimed): its ``details``
    hold the request (snapshot, kind, database name or directory name). Every failure
    ends the row as failed with the reason; nothing is raised but a cancellation."""
    request = (row.details or {}).get("request") or {}
    try:
        points, _ = await restore_points(restorer.engine, section, row.policy, row.repository)
        kind = str(request.get("kind", ""))
        point = choose(points, kind=kind, snapshot=str(request.get("snapshot") or "") or None)
        if kind == "database":
            await restorer.database(
                section,
                point,
                str(request.get("into", "")),
                owners=bool(request.get("owners", True)),
                trigger=row.trigger,
                run_id=row.id,
            )
        else:
            target = home / RESTORE_DIR / str(request.get("directory", ""))
            await restorer.files(section, point, target, trigger=row.trigger, run_id=row.id)
    except WatchkeeperError as exc:
        # Restorer has ended the row when the restore itself began; before that, end it here.
        if restorer.sessions is not None:
            await asyncio.to_thread(_fail_if_open, restorer.sessions, row.id, str(exc))
        log.warning("restore request %d failed: %s", row.id, redact(str(exc)))


def _fail_if_open(sessions: Callable[[], Session], run_id: int, error: str) -> None:
    with sessions() as db:
        row = db.get(BackupRun, run_id)
        if row is not None and row.status in ("queued", "running"):
            row.status, row.finished_at, row.error = "failed", utcnow(), redact(error)[:4000]
            row.details = {k: v for k, v in (row.details or {}).items() if k != "progress"}
            db.commit()
