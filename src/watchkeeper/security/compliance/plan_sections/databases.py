"""Databases: every target of the plan was collected within three times its
``collect_interval``, its last collection succeeded and shows no critical finding that a
dismissal does not hide (``db_health``); every maintenance task ran at its latest scheduled
start that fell inside one of its windows (``db_maintenance_runs``: a run that started then
or later, not a dry run, did not fail and was not skipped)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import quote

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import MaintenanceWindow
from watchkeeper.alerts.windows import is_open
from watchkeeper.dbmaint import advisor
from watchkeeper.dbmaint.config import DatabaseConfig, DatabasesSection, MaintenanceTask
from watchkeeper.dbmaint.section import load_windows
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    declared,
    every,
    load_section,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import DbDismissal, DbHealth, DbMaintenanceRun, StoredObject

LATE_FACTOR = 3
START_GRACE = timedelta(minutes=15)
"""A scheduled start is judged once this long has passed (the service starts it at once)."""
LOOKBACK = 2000
"""Scheduled starts searched back for one inside a window."""


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "databases"):
        return not_in_plan("databases")
    section = load_section(db, "databases", DatabasesSection)
    if not section.targets:
        return not_in_plan("databases")
    objects = {
        o.name: o
        for o in db.scalars(select(StoredObject).where(StoredObject.kind == "databases.targets"))
    }
    health = {h.database: h for h in db.scalars(select(DbHealth))}
    dismissed = advisor.dismissals_of(db)
    windows = load_windows(db)
    tally = Tally("databases")
    healthy = tasks = on_time = not_due = 0
    for target in section.targets:
        obj = objects.get(target.name)
        declared_at = obj.created_at if obj is not None else live.now
        changed_at = obj.updated_at if obj is not None else live.now
        healthy += _judge_target(
            tally, live, target, health.get(target.name), dismissed, declared_at
        )
        for task in target.maintenance:
            tasks += 1
            verdict = _judge_task(db, tally, live, target, task, windows, changed_at)
            on_time += verdict == "ran"
            not_due += verdict == "not due"
    tally.say(
        f"{plural(len(section.targets), 'database')}; {healthy} collected on time and healthy; "
        f"{on_time} of {plural(tasks, 'maintenance task')} ran at their latest due start"
        + (f", {not_due} not due since declared." if not_due else ".")
    )
    return tally.result()


def _judge_target(
    tally: Tally,
    live: Live,
    target: DatabaseConfig,
    row: DbHealth | None,
    dismissed: Mapping[tuple[str, str], DbDismissal],
    declared_at: datetime,
) -> int:
    link = f"/databases/{quote(target.name, safe='')}"
    allowed = LATE_FACTOR * target.collect_interval + target.collect_timeout
    if row is None:
        if live.now - declared_at > allowed:
            tally.failed("database", target.name, "never collected", link)
            return 0
        tally.passed()
        tally.say(f"{target.name} is new: its first collection is due.")
        return 0
    age = live.now - row.collected_at
    if age > allowed:
        tally.failed(
            "database",
            target.name,
            f"last collected {span(age)} ago (every {every(target.collect_interval)})",
            link,
        )
        return 0
    if row.failures:
        error = row.error.splitlines()[0] if row.error else "no detail"
        tally.failed(
            "database",
            target.name,
            f"the last {plural(row.failures, 'collection')} failed: {error}",
            link,
        )
        return 0
    critical = [
        f
        for f in row.findings or []
        if f.get("severity") == "critical"
        and not advisor.hides(dismissed.get((target.name, str(f.get("key", "")))), f, live.now)
    ]
    if critical:
        titles = ", ".join(str(f.get("title", f.get("key", ""))) for f in critical[:3])
        tally.failed(
            "database", target.name, f"{plural(len(critical), 'critical finding')}: {titles}", link
        )
        return 0
    tally.passed()
    return 1


def due_start(
    task: MaintenanceTask, windows: Mapping[str, MaintenanceWindow], now: datetime, since: datetime
) -> datetime | None:
    """The latest scheduled start of ``task`` before ``now - START_GRACE`` and after
    ``since`` at which one of its windows was open (None: none)."""
    it = croniter(task.schedule, now - START_GRACE)
    for _ in range(LOOKBACK):
        fire: datetime = it.get_prev(datetime)
        if fire < since:
            return None
        if any(is_open(windows[w], fire) for w in task.windows if w in windows):
            return fire
    return None


def _judge_task(
    db: Session,
    tally: Tally,
    live: Live,
    target: DatabaseConfig,
    task: MaintenanceTask,
    windows: Mapping[str, MaintenanceWindow],
    since: datetime,
) -> str:
    """Judge ``task``; return "ran", "not due" or "failing"."""
    name = f"{target.name}/{task.name}"
    link = f"/databases/{quote(target.name, safe='')}?tab=maintenance"
    due = due_start(task, windows, live.now, since)
    if due is None:
        tally.passed()  # not due since it was declared
        return "not due"
    run = db.scalar(
        select(DbMaintenanceRun)
        .where(
            DbMaintenanceRun.database == target.name,
            DbMaintenanceRun.task == task.name,
            DbMaintenanceRun.dry_run.is_(False),
            DbMaintenanceRun.started_at >= due - timedelta(minutes=1),
            DbMaintenanceRun.status != "queued",
        )
        .order_by(DbMaintenanceRun.started_at.desc(), DbMaintenanceRun.id.desc())
        .limit(1)
    )
    if run is None:
        tally.failed(
            "maintenance task",
            name,
            f"missed its start at {at(due)} (in a window): no run since",
            link,
        )
        return "failing"
    if run.status in ("failed", "skipped"):
        error = run.error.splitlines()[0] if run.error else "no detail"
        tally.failed(
            "maintenance task", name, f"its run of {at(run.started_at)} {run.status}: {error}", link
        )
        return "failing"
    tally.passed()
    return "ran"
