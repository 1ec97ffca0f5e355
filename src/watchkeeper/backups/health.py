"""What backups say about themselves: the ``/metrics`` gauges of the last good backup, and
Watchkeeper's own alerts for failed runs, stale backups and sudden size changes.

Everything is derived from the ``backup_runs`` rows, so whichever replica runs the backups
scheduler reaches the same alerts, and a restart changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.internal import raise_internal, resolve_internal
from watchkeeper.backups.config import BackupsSection, Policy
from watchkeeper.backups.views import max_age
from watchkeeper.store.tables import BackupRun
from watchkeeper.telemetry import BACKUP_AGE_LIMIT, BACKUP_LAST_SIZE, BACKUP_LAST_SUCCESS

FAILED_ALERTS = {
    "backup": "BackupFailed",
    "forget": "BackupRetentionFailed",
    "check": "BackupCheckFailed",
    "drill": "BackupDrillFailed",
}
TOO_OLD = "BackupTooOld"
ABANDONED_AFTER = timedelta(minutes=10)
SIZE_CHANGED = "BackupSizeChanged"


@dataclass(frozen=True)
class HealthReport:
    firing: tuple[tuple[str, str, str], ...]  # (alertname, policy, repository)


def _latest(db: Session, policy: str, repository: str, kind: str, limit: int) -> list[BackupRun]:
    """The newest finished runs of one kind, newest first."""
    return list(
        db.scalars(
            select(BackupRun)
            .where(
                BackupRun.policy == policy,
                BackupRun.repository == repository,
                BackupRun.kind == kind,
                BackupRun.status != "running",
            )
            .order_by(BackupRun.started_at.desc(), BackupRun.id.desc())
            .limit(limit)
        )
    )


def _latest_success(db: Session, policy: str, repository: str, limit: int) -> list[BackupRun]:
    return list(
        db.scalars(
            select(BackupRun)
            .where(
                BackupRun.policy == policy,
                BackupRun.repository == repository,
                BackupRun.kind == "backup",
                BackupRun.status == "succeeded",
            )
            .order_by(BackupRun.started_at.desc(), BackupRun.id.desc())
            .limit(limit)
        )
    )


def size_change(latest: int, previous: int) -> float | None:
    """Percent change from ``previous`` to ``latest`` (None when there is no base)."""
    if previous <= 0:
        return None
    return (latest - previous) * 100.0 / previous


def evaluate(db: Session, section: BackupsSection, now: datetime) -> HealthReport:
    """Update the gauges and raise or resolve the backup alerts for every policy and
    repository of ``section``. Caller commits."""
    firing: list[tuple[str, str, str]] = []
    for policy in section.policies:
        _close_abandoned(db, policy, now)
        limit = max_age(policy, now)
        BACKUP_AGE_LIMIT.labels(policy.name).set(limit.total_seconds())
        for repository in policy.repositories:
            labels = {"policy": policy.name, "repository": repository, "severity": "critical"}
            for kind, alertname in FAILED_ALERTS.items():
                last = _latest(db, policy.name, repository, kind, 1)
                if last and last[0].status == "failed":
                    raise_internal(
                        db,
                        alertname,
                        labels,
                        _failed_annotations(policy, repository, kind, last[0]),
                        now,
                    )
                    firing.append((alertname, policy.name, repository))
                elif last:
                    resolve_internal(db, alertname, labels, now)
            good = _latest_success(db, policy.name, repository, 2)
            _gauges(policy, repository, good)
            finished = good[0].finished_at if good else None
            if finished is None or now - finished > limit:
                when = f"at {finished:%Y-%m-%d %H:%M} UTC" if finished else "never"
                raise_internal(
                    db,
                    TOO_OLD,
                    {**labels, "severity": "warning" if finished else "critical"},
                    {
                        "summary": f"The last good backup of {policy.name} into {repository} "
                        f"is older than {limit} (last: {when}).",
                    },
                    now,
                )
                firing.append((TOO_OLD, policy.name, repository))
            else:
                for severity in ("warning", "critical"):
                    resolve_internal(db, TOO_OLD, {**labels, "severity": severity}, now)
            change = (
                size_change(good[0].bytes_total, good[1].bytes_total) if len(good) == 2 else None
            )
            size_labels = {**labels, "severity": "warning"}
            if change is not None and abs(change) > policy.freshness.max_size_change:
                raise_internal(
                    db,
                    SIZE_CHANGED,
                    size_labels,
                    {
                        "summary": f"The backup of {policy.name} into {repository} changed "
                        f"size by {change:+.0f}% ({good[1].bytes_total} to "
                        f"{good[0].bytes_total} bytes); a sudden drop often means an empty "
                        "dump.",
                    },
                    now,
                )
                firing.append((SIZE_CHANGED, policy.name, repository))
            elif change is not None:
                resolve_internal(db, SIZE_CHANGED, size_labels, now)
    return HealthReport(tuple(firing))


def _close_abandoned(db: Session, policy: Policy, now: datetime) -> None:
    """Mark failed the runs still "running" long after their timeout: the process that ran
    them stopped (crash, kill -9) before it could record the end."""
    limit = max(policy.timeout, policy.drill.timeout if policy.drill else policy.timeout)
    for row in db.scalars(
        select(BackupRun).where(
            BackupRun.policy == policy.name,
            BackupRun.status == "running",
            BackupRun.started_at < now - limit - ABANDONED_AFTER,
        )
    ):
        row.status, row.finished_at = "failed", now
        row.error = "did not finish: the process running it stopped"


def _gauges(policy: Policy, repository: str, good: list[BackupRun]) -> None:
    if not good or good[0].finished_at is None:
        return
    BACKUP_LAST_SUCCESS.labels(policy.name, repository).set(good[0].finished_at.timestamp())
    BACKUP_LAST_SIZE.labels(policy.name, repository).set(good[0].bytes_total)


def _failed_annotations(
    policy: Policy, repository: str, kind: str, run: BackupRun
) -> dict[str, str]:
    what = {"backup": "backup", "forget": "retention pass", "check": "integrity check"}.get(
        kind, "restore drill"
    )
    return {
        "summary": f"The {what} of {policy.name} in repository {repository} failed.",
        "description": run.error[:1000],
    }
