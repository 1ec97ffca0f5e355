"""One run of a policy's kind at a time, across processes: a ``watchkeeper backup run``
typed while the server's scheduler backs up the same policy (or two such commands) must not
run the same work twice at once.

The ``backup_runs`` rows decide: a run claims its row by inserting it as ``running`` and,
in the same transaction, looking for another live ``running`` row of the same policy and
kind; if there is one, it inserts nothing and is refused with :class:`RunInProgress`,
which names that run. The check and the insert are serialised: SQLite holds its write
lock from the insert to the commit, PostgreSQL takes a transaction-level advisory lock per
policy and kind first.

A row left ``running`` by a process that died (crash, ``kill -9``) must not block forever:
once it is older than its kind's timeout (plus :data:`STALE_GRACE`, the time the tool
gets to stop), no live run can own it, and it is marked failed, "abandoned".
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from watchkeeper.backups.config import Policy
from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.store.tables import BackupRun

STALE_GRACE = timedelta(minutes=2)
"""Past its timeout, a run still gets this long to stop its tool and unlock."""
KINDS = ("backup", "copy", "forget", "check", "drill")
"""The kinds this module bounds; others (restores) keep their own rules."""
DRILL_TIMEOUT = timedelta(hours=2)
ABANDONED = "abandoned: the process running it stopped before it finished"


class RunInProgress(WatchkeeperError):
    """Another run of the same policy and kind is live; ``run_id`` is that run."""

    def __init__(
        self, policy: str, kind: str, run_id: int, started_at: datetime, trigger: str
    ) -> None:
        who = "the scheduler" if trigger == "schedule" else trigger
        when = started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(
            f"{_what(kind)} of {policy} is already running: run {run_id}, started {when} "
            f"by {who}; wait for it to finish (watchkeeper backup list --policy {policy})"
        )
        self.policy, self.kind, self.run_id = policy, kind, run_id


def _what(kind: str) -> str:
    return {
        "backup": "a backup",
        "copy": "a copy",
        "forget": "a retention pass",
        "check": "an integrity check",
        "drill": "a restore drill",
    }.get(kind, f"a {kind}")


def timeout_of(policy: Policy, kind: str) -> timedelta | None:
    """How long one run of ``kind`` may take (None for kinds this module does not bound)."""
    if kind == "drill":
        return policy.drill.timeout if policy.drill is not None else DRILL_TIMEOUT
    if kind in KINDS:
        return policy.timeout
    return None


def live_since(policy: Policy, kind: str, now: datetime) -> datetime:
    """Rows of ``kind`` still running that started before this are stale."""
    limit = timeout_of(policy, kind) or policy.timeout
    return now - limit - STALE_GRACE


def close_stale(db: Session, policy: Policy, now: datetime, kinds: tuple[str, ...] = KINDS) -> int:
    """Mark failed ("abandoned") the running rows of ``policy`` of ``kinds`` that are past
    their timeout; return how many. Caller commits."""
    closed = 0
    for kind in kinds:
        limit = timeout_of(policy, kind)
        if limit is None:
            continue
        for row in db.scalars(
            select(BackupRun).where(
                BackupRun.policy == policy.name,
                BackupRun.kind == kind,
                BackupRun.status == "running",
                BackupRun.started_at < live_since(policy, kind, now),
            )
        ):
            row.status, row.finished_at = "failed", now
            row.error = f"{ABANDONED} (still running past its timeout of {limit})"
            closed += 1
    return closed


def live_run(db: Session, policy: Policy, kind: str, now: datetime) -> BackupRun | None:
    """The oldest live running row of ``policy`` and ``kind`` (None when there is none)."""
    return db.scalar(
        select(BackupRun)
        .where(
            BackupRun.policy == policy.name,
            BackupRun.kind == kind,
            BackupRun.status == "running",
            BackupRun.started_at >= live_since(policy, kind, now),
        )
        .order_by(BackupRun.started_at, BackupRun.id)
        .limit(1)
    )


def claim(
    db: Session, policy: Policy, repository: str, kind: str, trigger: str, now: datetime
) -> int:
    """Insert the running row of a ``kind`` run of ``policy`` into ``repository`` and return
    its id; raise RunInProgress, inserting nothing, if another run of the same policy and
    kind is live. Stale rows are closed first. Commits."""
    if close_stale(db, policy, now, (kind,)):
        db.commit()
    _serialise(db, policy.name, kind)
    row = BackupRun(
        policy=policy.name,
        repository=repository,
        kind=kind,
        status="running",
        trigger=trigger,
        started_at=now,
        details={},
    )
    db.add(row)
    db.flush()  # SQLite: the write lock is held from here to the commit
    other = db.scalar(
        select(BackupRun)
        .where(
            BackupRun.policy == policy.name,
            BackupRun.kind == kind,
            BackupRun.status == "running",
            BackupRun.id != row.id,
            BackupRun.started_at >= live_since(policy, kind, now),
        )
        .order_by(BackupRun.started_at, BackupRun.id)
        .limit(1)
    )
    if other is not None:
        refused = RunInProgress(policy.name, kind, other.id, other.started_at, other.trigger)
        db.rollback()
        raise refused
    db.commit()
    return row.id


def _serialise(db: Session, policy: str, kind: str) -> None:
    """On PostgreSQL, wait for any other claim of the same policy and kind to commit."""
    if db.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"watchkeeper:backups:{policy}:{kind}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
