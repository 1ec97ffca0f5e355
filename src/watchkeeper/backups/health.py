"""What backups say about themselves: the ``/metrics`` gauges of the last good backup, and
Watchkeeper's own alerts for failed runs, stale backups and copies, missed restore drills
and sudden size changes.

Everything is derived from the ``backup_runs`` rows, so whichever replica runs the backups
scheduler reaches the same alerts, and a restart changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.internal import raise_internal, resolve_internal
from watchkeeper.backups import claims
from watchkeeper.backups.config import BackupsSection, Policy, all_repositories, copy_targets
from watchkeeper.backups.latest_runs import (
    FINISHED,
    ended,
    first_good_backup,
    latest_run,
    latest_runs,
)
from watchkeeper.backups.views import copy_max_age, drill_max_age, max_age
from watchkeeper.store.tables import BackupRun
from watchkeeper.telemetry import BACKUP_AGE_LIMIT, BACKUP_LAST_SIZE, BACKUP_LAST_SUCCESS

FAILED_ALERTS = {
    "backup": "BackupFailed",
    "forget": "BackupRetentionFailed",
    "check": "BackupCheckFailed",
    "drill": "BackupDrillFailed",
    "copy": "BackupCopyFailed",
}
TOO_OLD = "BackupTooOld"
ABANDONED_AFTER = timedelta(minutes=10)  # kinds claims.py does not bound (restores)
SIZE_CHANGED = "BackupSizeChanged"
DRILL_MISSED = "BackupDrillMissed"


@dataclass(frozen=True)
class HealthReport:
    firing: tuple[tuple[str, str, str], ...]  # (alertname, policy, repository)


def size_change(latest: int, previous: int) -> float | None:
    """Percent change from ``previous`` to ``latest`` (None when there is no base)."""
    if previous <= 0:
        return None
    return (latest - previous) * 100.0 / previous


def evaluate(db: Session, section: BackupsSection, now: datetime) -> HealthReport:
    """Update the gauges and raise or resolve the backup alerts for every policy and
    repository of ``section`` (copy targets included). Caller commits."""
    firing: list[tuple[str, str, str]] = []
    for policy in section.policies:
        _close_abandoned(db, policy, now)
        limit = max_age(policy, now)
        BACKUP_AGE_LIMIT.labels(policy.name).set(limit.total_seconds())
        targets = copy_targets(policy)
        for repository in all_repositories(policy):
            labels = {"policy": policy.name, "repository": repository, "severity": "critical"}
            for kind, alertname in FAILED_ALERTS.items():
                last = latest_run(db, policy.name, kind, repository=repository, statuses=FINISHED)
                if last is not None and last.status == "failed":
                    raise_internal(
                        db,
                        alertname,
                        labels,
                        _failed_annotations(policy, repository, kind, last),
                        now,
                    )
                    firing.append((alertname, policy.name, repository))
                elif last is not None:
                    resolve_internal(db, alertname, labels, now)
            if repository in targets:
                firing += _too_old(db, policy, repository, "copy", copy_max_age(policy, now), now)
                continue
            firing += _too_old(db, policy, repository, "backup", limit, now)
            good = latest_runs(db, policy.name, "backup", repository=repository, limit=2)
            _gauges(policy, repository, good)
            firing += _size_changed(policy, repository, good, db, now)
            firing += _drill_missed(db, policy, repository, now)
    return HealthReport(tuple(firing))


def _too_old(
    db: Session, policy: Policy, repository: str, kind: str, limit: timedelta, now: datetime
) -> list[tuple[str, str, str]]:
    """BackupTooOld: no successful ``kind`` (backup; copy into a copy target) within
    ``limit``; critical when there never was one."""
    labels = {"policy": policy.name, "repository": repository}
    good = latest_run(db, policy.name, kind, repository=repository)
    finished = good.finished_at if good is not None else None
    if finished is not None and now - finished <= limit:
        for severity in ("warning", "critical"):
            resolve_internal(db, TOO_OLD, {**labels, "severity": severity}, now)
        return []
    when = f"at {finished:%Y-%m-%d %H:%M} UTC" if finished else "never"
    what = "backup" if kind == "backup" else "copy"
    raise_internal(
        db,
        TOO_OLD,
        {**labels, "severity": "warning" if finished else "critical"},
        {
            "summary": f"The last good {what} of {policy.name} into {repository} "
            f"is older than {limit} (last: {when}).",
        },
        now,
    )
    return [(TOO_OLD, policy.name, repository)]


def _size_changed(
    policy: Policy, repository: str, good: list[BackupRun], db: Session, now: datetime
) -> list[tuple[str, str, str]]:
    change = size_change(good[0].bytes_total, good[1].bytes_total) if len(good) == 2 else None
    labels = {"policy": policy.name, "repository": repository, "severity": "warning"}
    if change is not None and abs(change) > policy.freshness.max_size_change:
        raise_internal(
            db,
            SIZE_CHANGED,
            labels,
            {
                "summary": f"The backup of {policy.name} into {repository} changed "
                f"size by {change:+.0f}% ({good[1].bytes_total} to "
                f"{good[0].bytes_total} bytes); a sudden drop often means an empty "
                "dump.",
            },
            now,
        )
        return [(SIZE_CHANGED, policy.name, repository)]
    if change is not None:
        resolve_internal(db, SIZE_CHANGED, labels, now)
    return []


def _drill_missed(
    db: Session, policy: Policy, repository: str, now: datetime
) -> list[tuple[str, str, str]]:
    """BackupDrillMissed: drills are on, yet the latest drill (passed or failed) ended
    longer ago than twice the drill schedule's interval allows. Without any drill, the
    clock starts at the first good backup (a drill needs one)."""
    labels = {"policy": policy.name, "repository": repository, "severity": "warning"}
    if policy.drill is None:
        resolve_internal(db, DRILL_MISSED, labels, now)
        return []
    limit = drill_max_age(policy, now)
    last = latest_run(db, policy.name, "drill", repository=repository, statuses=FINISHED)
    anchor = last if last is not None else first_good_backup(db, policy.name, repository)
    since = ended(anchor) if anchor is not None else None
    if since is None or now - since <= limit:
        resolve_internal(db, DRILL_MISSED, labels, now)
        return []
    what = (
        f"the last one ended at {since:%Y-%m-%d %H:%M} UTC"
        if last is not None
        else f"none has run since the first backup at {since:%Y-%m-%d %H:%M} UTC"
    )
    raise_internal(
        db,
        DRILL_MISSED,
        labels,
        {
            "summary": f"No restore drill of {policy.name} from {repository} within {limit} "
            f"(drill schedule `{policy.drill.schedule}`): {what}.",
            "description": "Drills run in `watchkeeper up` only; check that the server "
            "runs and that the backups scheduler is not stuck.",
        },
        now,
    )
    return [(DRILL_MISSED, policy.name, repository)]


def _close_abandoned(db: Session, policy: Policy, now: datetime) -> None:
    """Mark failed the runs still "running" after their timeout: the process that ran
    them stopped (crash, kill -9) before it could record the end. The kinds claims.py
    bounds are closed by its rule; others (restores) after the longest timeout plus
    ABANDONED_AFTER."""
    claims.close_stale(db, policy, now)
    limit = max(policy.timeout, policy.drill.timeout if policy.drill else policy.timeout)
    for row in db.scalars(
        select(BackupRun).where(
            BackupRun.policy == policy.name,
            BackupRun.status == "running",
            BackupRun.kind.not_in(claims.KINDS),
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
    what = {
        "backup": "backup",
        "copy": "copy",
        "forget": "retention pass",
        "check": "integrity check",
    }.get(kind, "restore drill")
    return {
        "summary": f"The {what} of {policy.name} in repository {repository} failed.",
        "description": run.error[:1000],
    }
