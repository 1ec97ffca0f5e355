"""The newest runs of a backup policy (its latest good backup, its last drill, ...) and the
first good one, as the backup alerts, the backups page, the restores and the compliance
evidence read them from the ``backup_runs`` rows.

Newest means latest started, the higher id breaking ties; a run's moment is when it ended
(:func:`ended`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.store.tables import BackupRun

GOOD = ("succeeded",)
FINISHED = ("succeeded", "failed")


def latest_runs(
    db: Session,
    policy: str,
    kind: str,
    *,
    repository: str | None = None,
    statuses: Collection[str] = GOOD,
    limit: int = 1,
) -> list[BackupRun]:
    """Return the newest ``limit`` runs of ``kind`` (``backup``, ``drill``, ``copy``, ...)
    of ``policy``, into or from ``repository`` when given, whose status is one of
    ``statuses`` (by default the good ones); newest first."""
    query = select(BackupRun).where(
        BackupRun.policy == policy, BackupRun.kind == kind, BackupRun.status.in_(statuses)
    )
    if repository is not None:
        query = query.where(BackupRun.repository == repository)
    return list(
        db.scalars(query.order_by(BackupRun.started_at.desc(), BackupRun.id.desc()).limit(limit))
    )


def latest_run(
    db: Session,
    policy: str,
    kind: str,
    *,
    repository: str | None = None,
    statuses: Collection[str] = GOOD,
) -> BackupRun | None:
    """Return the newest run :func:`latest_runs` would list first, or None."""
    found = latest_runs(db, policy, kind, repository=repository, statuses=statuses)
    return found[0] if found else None


def first_good_backup(db: Session, policy: str, repository: str) -> BackupRun | None:
    """Return the oldest successful backup of ``policy`` into ``repository`` (the clock
    of a policy's first restore drill starts there), or None."""
    return db.scalars(
        select(BackupRun)
        .where(
            BackupRun.policy == policy,
            BackupRun.repository == repository,
            BackupRun.kind == "backup",
            BackupRun.status == "succeeded",
        )
        .order_by(BackupRun.started_at, BackupRun.id)
        .limit(1)
    ).first()


def ended(run: BackupRun) -> datetime:
    """When ``run`` ended (when it started, for a row that never recorded its end)."""
    return run.finished_at or run.started_at
