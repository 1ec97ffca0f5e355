"""What the backups pages, API and runbook show: per policy of the applied plan, its source,
repositories, schedule, last good and failed backups, size change, last drill and check,
freshness and the runs in progress. Read from the plan and the ``backup_runs`` table only,
so that any replica answers the same.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from croniter import croniter
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.backups.config import BackupsSection, Policy, Repository, copy_targets
from watchkeeper.backups.latest_runs import FINISHED, latest_run, latest_runs
from watchkeeper.exceptions import NotFoundError
from watchkeeper.plan.stored import stored_section
from watchkeeper.store.tables import BackupRun, utcnow

log = logging.getLogger(__name__)

MIN_MAX_AGE = timedelta(hours=1)
MASK = "***"
KINDS = ("backup", "copy", "forget", "check", "drill", "restore")
STATUSES = ("running", "succeeded", "failed")
FreshnessState = Literal["ok", "late", "never"]
_SCHEME_URL = re.compile(r"^(?P<prefix>[a-z0-9]+:)(?P<rest>[a-z][a-z0-9+.-]*://.*)$", re.I)


def load_section(db: Session) -> BackupsSection:
    """The stored ``backups`` section (empty when absent or unreadable)."""
    try:
        return BackupsSection.model_validate(stored_section(db, "backups"))
    except ValidationError as exc:
        log.error("backups: stored configuration is invalid: %s", exc)
        return BackupsSection()


def find_policy(section: BackupsSection, name: str) -> Policy:
    """Return the policy ``name``; raise NotFoundError if the plan has none by that name."""
    for policy in section.policies:
        if policy.name == name:
            return policy
    raise NotFoundError(f'there is no backup policy "{name}"')


def mask_url(url: str) -> str:
    """Return a repository or database URL with its password replaced by ``***``.

    Handles restic's prefixed forms (``rest:https://user:pw@host/``, ``s3:https://...``)
    and plain URLs; local paths and ``sftp:user@host:/path`` carry no password."""
    prefix, rest = "", url
    found = _SCHEME_URL.match(url)
    if found:
        prefix, rest = found.group("prefix"), found.group("rest")
    if "://" not in rest:
        return url
    try:
        parts = urlsplit(rest)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return prefix + urlunsplit(parts._replace(netloc=netloc))


def server_of(url: str) -> str:
    """``host:port/database`` of a database URL: where it is, without who or a password."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    return f"{parts.hostname or 'localhost'}{port}"


def interval_of(schedule: str, now: datetime) -> timedelta:
    """The longest gap between the next runs of the cron ``schedule`` (a week's worth, at
    most 64 runs): weekday-only schedules then allow for the weekend."""
    it = croniter(schedule, now)
    times: list[datetime] = [it.get_next(datetime) for _ in range(2)]
    while len(times) < 64 and times[-1] - times[0] < timedelta(days=8):
        times.append(it.get_next(datetime))
    gaps: list[timedelta] = [b - a for a, b in zip(times, times[1:], strict=False)]
    return max(gaps)


def max_age(policy: Policy, now: datetime) -> timedelta:
    """How old the last good backup may be: ``freshness.max_age``, else twice the
    schedule's interval, at least one hour."""
    if policy.freshness.max_age is not None:
        return policy.freshness.max_age
    return max(2 * interval_of(policy.schedule, now), MIN_MAX_AGE)


def copy_max_age(policy: Policy, now: datetime) -> timedelta:
    """How old the last good copy into a copy target may be: the policy's ``max_age``, plus
    the copy schedule's interval when copies have a schedule of their own (by default they
    follow each backup)."""
    limit = max_age(policy, now)
    if policy.copy_ is not None and policy.copy_.schedule is not None:
        limit += interval_of(policy.copy_.schedule, now)
    return limit


def drill_max_age(policy: Policy, now: datetime) -> timedelta:
    """How long ago the last restore drill may have ended before it counts as missed: twice
    the drill schedule's interval, at least one hour (like ``max_age`` for backups)."""
    schedule = policy.drill.schedule if policy.drill is not None else policy.schedule
    return max(2 * interval_of(schedule, now), MIN_MAX_AGE)


def next_run(schedule: str, now: datetime) -> datetime:
    nxt: datetime = croniter(schedule, now).get_next(datetime)
    return nxt.astimezone(UTC)


@dataclass(frozen=True)
class ProgressView:
    fraction: float
    bytes_done: int
    bytes_total: int
    seconds_remaining: float | None


@dataclass(frozen=True)
class RunView:
    id: int
    policy: str
    repository: str
    kind: str
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    snapshot_id: str
    bytes_total: int
    bytes_added: int
    files: int
    duration_s: float | None
    rto_s: float | None
    rpo_s: float | None
    error: str
    progress: ProgressView | None
    details: dict[str, Any]


def _number(value: Any, default: float = 0.0) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def _progress(details: dict[str, Any]) -> ProgressView | None:
    raw = details.get("progress") if isinstance(details, dict) else None
    if not isinstance(raw, dict):
        return None
    remaining = raw.get("seconds_remaining")
    return ProgressView(
        fraction=min(max(_number(raw.get("fraction")), 0.0), 1.0),
        bytes_done=int(_number(raw.get("bytes_done"))),
        bytes_total=int(_number(raw.get("bytes_total"))),
        seconds_remaining=_number(remaining) if remaining is not None else None,
    )


def run_view(row: BackupRun) -> RunView:
    details = row.details if isinstance(row.details, dict) else {}
    return RunView(
        id=row.id,
        policy=row.policy,
        repository=row.repository,
        kind=row.kind,
        status=row.status,
        trigger=row.trigger,
        started_at=row.started_at,
        finished_at=row.finished_at,
        snapshot_id=row.snapshot_id,
        bytes_total=row.bytes_total,
        bytes_added=row.bytes_added,
        files=row.files,
        duration_s=row.duration_s,
        rto_s=row.rto_s,
        rpo_s=row.rpo_s,
        error=row.error,
        progress=_progress(details) if row.status == "running" else None,
        details=details,
    )


@dataclass(frozen=True)
class RepositoryState:
    name: str
    url: str  # masked
    last_success: RunView | None  # a copy target's: its last good copy
    previous_success: RunView | None
    last_failure: RunView | None
    age_s: float | None  # of the last success
    freshness: FreshnessState
    size_change_pct: float | None  # last success vs the one before, bytes_total
    copy_of: str = ""  # a copy target: the repository its snapshots are copied from


@dataclass(frozen=True)
class SourceView:
    type: str
    summary: str
    targets: tuple[str, ...]  # databases, paths or files
    server: str  # host:port of a database server; "" otherwise


@dataclass(frozen=True)
class PolicyView:
    name: str
    description: str
    source: SourceView
    schedule: str
    next_run: datetime
    max_age_s: float
    repositories: tuple[RepositoryState, ...]  # backed up to, then the copy targets
    last_success: RunView | None
    last_failure: RunView | None
    size_change_pct: float | None
    size_change_alert: bool
    freshness: FreshnessState
    last_drill: RunView | None
    last_check: RunView | None
    running: tuple[RunView, ...]
    policy: Policy


def source_view(policy: Policy) -> SourceView:
    src = policy.source
    if src.type == "postgres":
        dbs = tuple(src.databases)
        what = (
            "PostgreSQL cluster, physical (pg_basebackup)"
            if src.mode == "physical"
            else "PostgreSQL, logical dumps (pg_dump -Fc)"
        )
        names = ", ".join(dbs) if dbs else "every database"
        return SourceView(src.type, f"{what}: {names}", dbs, server_of(src.url))
    if src.type in ("mariadb", "mysql"):
        dbs = tuple(src.databases)
        names = ", ".join(dbs) if dbs else "every user database"
        label = "MariaDB" if src.type == "mariadb" else "MySQL"
        return SourceView(
            src.type,
            f"{label}, dumps (mariadb-dump --single-transaction): {names}",
            dbs,
            server_of(src.url),
        )
    if src.type == "sqlite":
        return SourceView(src.type, f"SQLite database {src.path}", (src.path,), "")
    if src.type == "files":
        extra = f" (excluding {', '.join(src.exclude)})" if src.exclude else ""
        return SourceView(src.type, f"Files: {', '.join(src.paths)}{extra}", tuple(src.paths), "")
    return SourceView(src.type, "Watchkeeper's own store and home directory", (), "")


def _optional(row: BackupRun | None) -> RunView | None:
    return run_view(row) if row is not None else None


def _change(last: RunView | None, before: RunView | None) -> float | None:
    if last is None or before is None or before.bytes_total <= 0:
        return None
    return (last.bytes_total - before.bytes_total) * 100.0 / before.bytes_total


def _repository_state(
    db: Session,
    policy: Policy,
    name: str,
    url: str,
    limit: timedelta,
    now: datetime,
    copy_of: str = "",
) -> RepositoryState:
    """A repository of ``policy``: its backups, or, for a copy target (``copy_of`` set),
    its copies."""
    kind = "copy" if copy_of else "backup"
    goods = latest_runs(db, policy.name, kind, repository=name, limit=2)
    failure = latest_run(db, policy.name, kind, repository=name, statuses=("failed",))
    last = run_view(goods[0]) if goods else None
    before = run_view(goods[1]) if len(goods) > 1 else None
    when = (last.finished_at or last.started_at) if last else None
    age = (now - when).total_seconds() if when else None
    state: FreshnessState = (
        "never" if age is None else "late" if age > limit.total_seconds() else "ok"
    )
    return RepositoryState(
        name=name,
        url=mask_url(url),
        last_success=last,
        previous_success=before,
        last_failure=_optional(failure),
        age_s=age,
        freshness=state,
        size_change_pct=None if copy_of else _change(last, before),
        copy_of=copy_of,
    )


def _worst(states: list[FreshnessState]) -> FreshnessState:
    if "never" in states:
        return "never"
    return "late" if "late" in states else "ok"


def policy_view(
    db: Session, section: BackupsSection, policy: Policy, now: datetime | None = None
) -> PolicyView:
    """Return what is known of ``policy``: its plan, and its runs in the store."""
    now = now or utcnow()
    limit = max_age(policy, now)
    urls = {r.name: r.url for r in section.repositories}
    repos = tuple(
        _repository_state(db, policy, name, urls.get(name, ""), limit, now)
        for name in policy.repositories
    )
    copies = tuple(
        _repository_state(
            db, policy, name, urls.get(name, ""), copy_max_age(policy, now), now, copy_of
        )
        for copy_of in policy.repositories[:1]
        for name in copy_targets(policy)
    )
    goods = [(r.last_success.started_at, i) for i, r in enumerate(repos) if r.last_success]
    newest = repos[max(goods)[1]] if goods else None
    change = newest.size_change_pct if newest else None
    running = db.scalars(
        select(BackupRun)
        .where(BackupRun.policy == policy.name, BackupRun.status.in_(("queued", "running")))
        .order_by(BackupRun.started_at, BackupRun.id)
    ).all()
    return PolicyView(
        name=policy.name,
        description=policy.description,
        source=source_view(policy),
        schedule=policy.schedule,
        next_run=next_run(policy.schedule, now),
        max_age_s=limit.total_seconds(),
        repositories=repos + copies,
        last_success=newest.last_success if newest else None,
        last_failure=_optional(latest_run(db, policy.name, "backup", statuses=("failed",))),
        size_change_pct=change,
        size_change_alert=change is not None and abs(change) > policy.freshness.max_size_change,
        freshness=_worst([r.freshness for r in repos + copies]),
        last_drill=_optional(latest_run(db, policy.name, "drill", statuses=FINISHED)),
        last_check=_optional(latest_run(db, policy.name, "check", statuses=FINISHED)),
        running=tuple(run_view(r) for r in running),
        policy=policy,
    )


def overview(db: Session, now: datetime | None = None) -> list[PolicyView]:
    """Every policy of the applied plan, in plan order."""
    section = load_section(db)
    now = now or utcnow()
    return [policy_view(db, section, p, now) for p in section.policies]


def list_runs(
    db: Session,
    *,
    policy: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[RunView]:
    """Runs newest first, filtered by policy, kind and status."""
    query = select(BackupRun)
    if policy:
        query = query.where(BackupRun.policy == policy)
    if kind:
        query = query.where(BackupRun.kind == kind)
    if status:
        query = query.where(BackupRun.status == status)
    rows = db.scalars(
        query.order_by(BackupRun.started_at.desc(), BackupRun.id.desc()).limit(limit)
    ).all()
    return [run_view(r) for r in rows]


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    repository: str
    bytes_total: int
    bytes_added: int
    duration_s: float | None


def history(db: Session, policy: str, limit: int = 500) -> list[HistoryPoint]:
    """The policy's successful backups, oldest first (the newest ``limit``): for the size
    and duration chart."""
    rows = latest_runs(db, policy, "backup", limit=limit)
    return [
        HistoryPoint(r.started_at, r.repository, r.bytes_total, r.bytes_added, r.duration_s)
        for r in reversed(rows)
    ]


def repository_of(section: BackupsSection, name: str) -> Repository | None:
    return next((r for r in section.repositories if r.name == name), None)
