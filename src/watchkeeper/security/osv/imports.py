"""The ``osv_imports`` rows: one per import of a source, its status moving from ``queued``
(asked for through the API) or ``running`` to ``succeeded``, ``unchanged`` or ``failed``.

At most one import of a source runs at a time, across processes: a new import gives way
to a live ``running`` row of the same source (one started within the source's timeout and
a margin), and rows left ``running`` past that by a process that stopped are closed as
failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import false, func, select, text, update
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ConflictError
from watchkeeper.runtime.leader import lock_key
from watchkeeper.store.tables import OsvImport

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
UNCHANGED = "unchanged"
FAILED = "failed"
GOOD = (SUCCEEDED, UNCHANGED)
"""Statuses of an import that left the source's data current."""
MARGIN = timedelta(minutes=5)
"""How long past its timeout a ``running`` row still counts as live."""


class ImportInProgress(ConflictError):
    """Another import of the same source is queued or running."""


@dataclass(frozen=True)
class LastImports:
    """A source's newest import, and its newest one that left the data current."""

    latest: OsvImport | None
    good: OsvImport | None


def live_import(
    db: Session, source: str, timeout: timedelta, now: datetime, *, other_than: int | None = None
) -> OsvImport | None:
    """The source's queued import, or its running one started within ``timeout`` (and the
    margin), if any (other than row ``other_than``)."""
    query = select(OsvImport).where(
        OsvImport.source == source,
        (OsvImport.status == QUEUED)
        | ((OsvImport.status == RUNNING) & (OsvImport.started_at >= now - timeout - MARGIN)),
    )
    if other_than is not None:
        query = query.where(OsvImport.id != other_than)
    return db.scalars(query.order_by(OsvImport.id).limit(1)).first()


def running_sources(db: Session, timeouts: dict[str, timedelta], now: datetime) -> set[str]:
    """The sources with a live ``running`` import (started within their timeout and the
    margin), in any process."""
    rows = db.execute(
        select(OsvImport.source, OsvImport.started_at).where(OsvImport.status == RUNNING)
    ).all()
    return {
        source
        for source, started in rows
        if started >= now - timeouts.get(source, timedelta(0)) - MARGIN
    }


def queue_import(
    db: Session,
    source: str,
    ecosystem: str,
    trigger: str,
    timeout: timedelta,
    now: datetime,
    *,
    force: bool = False,
) -> OsvImport:
    """Add a ``queued`` import of ``source`` for the vulnerability-database service (``force``:
    allowed to remove most of the source's records, see the importer); raise
    ImportInProgress if one is queued or running already. Caller commits."""
    serialise(db, f"osv-import:{source}")
    busy = live_import(db, source, timeout, now)
    if busy is not None:
        raise ImportInProgress(
            f'an import of "{source}" is {busy.status} already (import {busy.id}, '
            f"since {busy.started_at:%Y-%m-%d %H:%M} UTC)"
        )
    row = OsvImport(
        source=source,
        ecosystem=ecosystem,
        status=QUEUED,
        trigger=trigger[:64],
        forced=force,
        started_at=now,
    )
    db.add(row)
    db.flush()
    return row


def claim(db: Session, import_id: int, now: datetime) -> bool:
    """Take the queued import ``import_id`` for this process (False: another took it). Commits."""
    claimed = db.execute(
        update(OsvImport)
        .where(OsvImport.id == import_id, OsvImport.status == QUEUED)
        .values(status=RUNNING, started_at=now)
    ).rowcount  # type: ignore[attr-defined]
    db.commit()
    return bool(claimed)


@dataclass(frozen=True)
class Queued:
    """An import asked for through the API, waiting for the service."""

    id: int
    source: str
    trigger: str
    forced: bool


def queued(db: Session) -> list[Queued]:
    """The queued imports, oldest first."""
    rows = db.execute(
        select(OsvImport.id, OsvImport.source, OsvImport.trigger, OsvImport.forced)
        .where(OsvImport.status == QUEUED)
        .order_by(OsvImport.id)
    ).all()
    return [Queued(i, s, t, f) for i, s, t, f in rows]


def close_stale(db: Session, timeouts: dict[str, timedelta], now: datetime) -> int:
    """Mark imports left ``running`` past their source's timeout (and the margin) as failed,
    and queued imports of sources the plan no longer has; return how many. Caller commits."""
    closed = 0
    for row in db.scalars(select(OsvImport).where(OsvImport.status.in_((RUNNING, QUEUED)))):
        timeout = timeouts.get(row.source)
        if row.status == QUEUED and timeout is None:
            row.status, row.finished_at = FAILED, now
            row.error = f'the plan has no vulnerability source "{row.source}" any more'
            closed += 1
        elif row.status == RUNNING and row.started_at < now - (timeout or MARGIN) - MARGIN:
            row.status, row.finished_at = FAILED, now
            row.error = "the import stopped without finishing (its process ended)"
            closed += 1
    return closed


def last_imports(db: Session) -> dict[str, LastImports]:
    """Each source's newest import and newest good one (succeeded or unchanged)."""
    latest_ids = select(func.max(OsvImport.id)).where(OsvImport.status != QUEUED)
    latest = db.scalars(
        select(OsvImport).where(OsvImport.id.in_(latest_ids.group_by(OsvImport.source)))
    ).all()
    good_ids = select(func.max(OsvImport.id)).where(OsvImport.status.in_(GOOD))
    good = db.scalars(
        select(OsvImport).where(OsvImport.id.in_(good_ids.group_by(OsvImport.source)))
    ).all()
    found: dict[str, LastImports] = {}
    for row in latest:
        found[row.source] = LastImports(row, None)
    for row in good:
        found[row.source] = LastImports(found.get(row.source, LastImports(None, None)).latest, row)
    return found


def previous_fingerprint(db: Session, source: str) -> str:
    """The fingerprint of the source's newest good import with one ("" when none)."""
    return (
        db.scalars(
            select(OsvImport.fingerprint)
            .where(OsvImport.source == source, OsvImport.status.in_(GOOD))
            .where(OsvImport.fingerprint != "")
            .order_by(OsvImport.id.desc())
            .limit(1)
        ).first()
        or ""
    )


def error_reason(source: str, error: str) -> str:
    """An import's ``error`` without the leading ``"<source>: "`` the importer's messages
    start with, for lines that already name the source."""
    return error.removeprefix(f"{source}: ")


def serialise(db: Session, name: str) -> None:
    """Hold, until the caller's transaction ends, the lock named ``name``: a PostgreSQL
    advisory transaction lock, or on SQLite the database's write lock (a statement that
    writes nothing takes it), so that concurrent claims or scans run one after the other."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
    else:
        db.execute(update(OsvImport).where(false()).values(status=OsvImport.status))
