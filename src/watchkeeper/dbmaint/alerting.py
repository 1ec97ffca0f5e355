"""Watchkeeper's own alerts about the plan's databases, routed like any other alert:

- ``DatabaseUnreachable`` (critical): :data:`UNREACHABLE_AFTER` collections in a row failed.
- ``DatabaseCriticalFinding`` (critical): one per critical finding of the latest collection
  that no dismissal hides (transaction-ID wraparound, an invalid index, a failed integrity
  check, ...); label ``finding`` is the finding's key.
- ``DatabaseMaintenanceFailed`` (warning): the latest run of a maintenance task failed
  (dry runs and runs skipped outside their windows do not count).

Everything is derived from the ``db_health``, ``db_dismissals`` and ``db_maintenance_runs``
rows, so whichever replica runs the service reaches the same alerts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from watchkeeper.alerts.internal import INTERNAL_RULE, raise_internal, resolve_internal
from watchkeeper.dbmaint import advisor
from watchkeeper.dbmaint.config import DatabasesSection
from watchkeeper.store.tables import Alert, DbHealth, DbMaintenanceRun

UNREACHABLE = "DatabaseUnreachable"
CRITICAL_FINDING = "DatabaseCriticalFinding"
MAINTENANCE_FAILED = "DatabaseMaintenanceFailed"
UNREACHABLE_AFTER = 3
_FINISHED = ("succeeded", "failed")


def _firing(db: Session, alertname: str) -> list[dict[str, str]]:
    return [
        dict(a.labels)
        for a in db.scalars(
            select(Alert).where(Alert.rule == INTERNAL_RULE, Alert.state == "firing")
        )
        if a.labels.get("alertname") == alertname
    ]


def _bare(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != "alertname"}


def _latest_runs(db: Session) -> dict[tuple[str, str], DbMaintenanceRun]:
    """The newest finished, non-dry run of every (database, task)."""
    newest = (
        select(
            DbMaintenanceRun.database,
            DbMaintenanceRun.task,
            func.max(DbMaintenanceRun.id).label("id"),
        )
        .where(DbMaintenanceRun.dry_run.is_(False), DbMaintenanceRun.status.in_(_FINISHED))
        .group_by(DbMaintenanceRun.database, DbMaintenanceRun.task)
        .subquery()
    )
    rows = db.scalars(
        select(DbMaintenanceRun).join(newest, and_(DbMaintenanceRun.id == newest.c.id))
    )
    return {(r.database, r.task): r for r in rows}


def evaluate(db: Session, section: DatabasesSection, now: datetime) -> list[tuple[str, str]]:
    """Raise or resolve the database alerts for every target of ``section`` (and resolve
    those of databases no longer in it); return the (alertname, database) pairs firing.
    Caller commits."""
    names = {t.name for t in section.targets}
    teams = {t.name: t.team for t in section.targets}
    health = {h.database: h for h in db.scalars(select(DbHealth))}
    dismissed = advisor.dismissals_of(db)
    runs = _latest_runs(db)
    firing: list[tuple[str, str]] = []
    wanted_findings: set[tuple[str, str]] = set()
    for target in section.targets:
        row = health.get(target.name)
        owner = {"team": target.team} if target.team else {}  # routes and silences use it
        labels = {"database": target.name, **owner, "severity": "critical"}
        if row is not None and row.failures >= UNREACHABLE_AFTER:
            raise_internal(
                db,
                UNREACHABLE,
                labels,
                {
                    "summary": f"Database {target.name} could not be read the last "
                    f"{row.failures} times.",
                    "description": row.error[:1000],
                },
                now,
            )
            firing.append((UNREACHABLE, target.name))
        else:
            resolve_internal(db, UNREACHABLE, labels, now)
        for finding in (row.findings or []) if row is not None else []:
            key = str(finding.get("key", ""))
            if finding.get("severity") != "critical" or advisor.hides(
                dismissed.get((target.name, key)), finding, now
            ):
                continue
            wanted_findings.add((target.name, key))
            raise_internal(
                db,
                CRITICAL_FINDING,
                {**labels, "finding": key},
                {
                    "summary": f"{target.name}: {finding.get('title', key)}",
                    "description": str(finding.get("evidence", ""))[:1000],
                    "fix": str(finding.get("sql", ""))[:1000],
                },
                now,
            )
            firing.append((CRITICAL_FINDING, target.name))
        for task in target.maintenance:
            task_labels = {
                "database": target.name,
                "task": task.name,
                **owner,
                "severity": "warning",
            }
            run = runs.get((target.name, task.name))
            if run is not None and run.status == "failed":
                raise_internal(
                    db,
                    MAINTENANCE_FAILED,
                    task_labels,
                    {
                        "summary": f"Maintenance task {task.name} ({task.action}) of "
                        f"{target.name} failed (run {run.id}).",
                        "description": (run.error or _step_errors(run))[:1000],
                    },
                    now,
                )
                firing.append((MAINTENANCE_FAILED, target.name))
            elif run is not None:
                resolve_internal(db, MAINTENANCE_FAILED, task_labels, now)

    def moved(labels: dict[str, str]) -> bool:
        """Raised under a team the database no longer has in the plan."""
        return labels.get("team", "") != teams.get(labels.get("database", ""), "")

    for labels in _firing(db, CRITICAL_FINDING):
        pair = (labels.get("database", ""), labels.get("finding", ""))
        if pair not in wanted_findings or moved(labels):
            resolve_internal(db, CRITICAL_FINDING, _bare(labels), now)
    tasks = {(t.name, m.name) for t in section.targets for m in t.maintenance}
    for labels in _firing(db, MAINTENANCE_FAILED):
        if (labels.get("database", ""), labels.get("task", "")) not in tasks or moved(labels):
            resolve_internal(db, MAINTENANCE_FAILED, _bare(labels), now)
    for labels in _firing(db, UNREACHABLE):
        if labels.get("database", "") not in names or moved(labels):
            resolve_internal(db, UNREACHABLE, _bare(labels), now)
    return firing


def _step_errors(run: DbMaintenanceRun) -> str:
    errors = [
        f"{s.get('target', '')}: {s.get('error', '')}"
        for s in run.steps or []
        if isinstance(s, dict) and s.get("error")
    ]
    return "; ".join(errors)
