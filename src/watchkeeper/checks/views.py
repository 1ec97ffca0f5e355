"""Read models for the checks UI and API: list with state and uptime, one check's history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.checks.history import UPTIME_WINDOWS, HourBucket, hourly, uptime
from watchkeeper.store.tables import CheckEvent, CheckResult, CheckStatus, StoredObject, utcnow


@dataclass(frozen=True)
class CheckRow:
    name: str
    type: str
    description: str
    tags: list[str]
    team: str | None
    service: str | None
    runbook: str | None
    interval: str
    managed: bool
    status: str
    changed_at: datetime | None
    last_run_at: datetime | None
    last_message: str
    last_response_ms: float | None
    uptime: dict[str, float | None]
    recent: list[HourBucket] = field(default_factory=list)
    """The last 24 hours, oldest first: the list's uptime bar and response sparkline."""


@dataclass(frozen=True)
class CheckPage:
    rows: list[CheckRow]
    total: int
    counts: dict[str, int]
    tags: list[str]
    teams: list[str]


def list_checks(
    db: Session,
    *,
    status: str = "",
    tag: str = "",
    team: str = "",
    query: str = "",
    page: int = 1,
    per_page: int = 50,
) -> CheckPage:
    """Return one page of checks with state and uptime, filtered; three queries in all."""
    objects = list(
        db.scalars(
            select(StoredObject).where(StoredObject.kind == "checks").order_by(StoredObject.name)
        )
    )
    states = {s.name: s for s in db.scalars(select(CheckStatus))}
    counts = {"up": 0, "down": 0, "pending": 0}
    kept = []
    for obj in objects:
        state = states.get(obj.name)
        current = state.status if state else "pending"
        counts[current] = counts.get(current, 0) + 1
        spec = obj.spec
        if status and current != status or tag and tag not in spec.get("tags", []):
            continue
        if team and spec.get("team") != team or query and query.lower() not in obj.name.lower():
            continue
        kept.append((obj, state))
    # Down first: that is what a person opens this page for.
    kept.sort(key=lambda pair: (0 if pair[1] and pair[1].status == "down" else 1, pair[0].name))
    window = kept[(page - 1) * per_page : page * per_page]
    names = [o.name for o, _ in window]
    uptimes = {label: uptime(db, names, span) for label, span in UPTIME_WINDOWS.items()}
    recent = hourly(db, names)
    rows = [
        _row(o, s, {label: uptimes[label].get(o.name) for label in UPTIME_WINDOWS}, recent[o.name])
        for o, s in window
    ]
    all_tags = sorted({t for o in objects for t in o.spec.get("tags", [])})
    all_teams = sorted({o.spec["team"] for o in objects if o.spec.get("team")})
    return CheckPage(rows, len(kept), counts, all_tags, all_teams)


def _row(
    obj: StoredObject,
    state: CheckStatus | None,
    uptimes: dict[str, float | None],
    recent: list[HourBucket] | None = None,
) -> CheckRow:
    spec = obj.spec
    return CheckRow(
        name=obj.name,
        type=spec.get("type", ""),
        description=spec.get("description", ""),
        tags=spec.get("tags", []),
        team=spec.get("team"),
        service=spec.get("service"),
        runbook=spec.get("runbook"),
        interval=spec.get("interval", ""),
        managed=obj.managed,
        status=state.status if state else "pending",
        changed_at=state.changed_at if state else None,
        last_run_at=state.last_run_at if state else None,
        last_message=state.last_message if state else "",
        last_response_ms=state.last_response_ms if state else None,
        uptime=uptimes,
        recent=recent or [],
    )


def get_check(db: Session, name: str) -> CheckRow | None:
    """Return one check with its state and uptime, or None."""
    obj = db.scalar(
        select(StoredObject).where(StoredObject.kind == "checks", StoredObject.name == name)
    )
    if obj is None:
        return None
    ups = {label: uptime(db, [name], span)[name] for label, span in UPTIME_WINDOWS.items()}
    return _row(obj, db.get(CheckStatus, name), ups)


def response_series(
    db: Session, name: str, since: timedelta = timedelta(hours=24), limit: int = 20_000
) -> dict[str, list[Any]]:
    """Return columns for a chart: epoch seconds, response ms (None when failed), ok flag."""
    newest_first = db.execute(
        select(CheckResult.at, CheckResult.response_ms, CheckResult.ok)
        .where(CheckResult.name == name, CheckResult.at >= utcnow() - since)
        .order_by(CheckResult.at.desc())
        .limit(limit)
    ).all()
    rows = list(reversed(newest_first))
    return {
        "t": [r.at.timestamp() for r in rows],
        "ms": [r.response_ms if r.ok else None for r in rows],
        "ok": [1 if r.ok else 0 for r in rows],
    }


def state_history(db: Session, name: str, limit: int = 50) -> list[CheckEvent]:
    return list(
        db.scalars(
            select(CheckEvent)
            .where(CheckEvent.name == name)
            .order_by(CheckEvent.id.desc())
            .limit(limit)
        )
    )


def recent_failures(db: Session, name: str, limit: int = 10) -> list[CheckResult]:
    return list(
        db.scalars(
            select(CheckResult)
            .where(CheckResult.name == name, ~CheckResult.ok)
            .order_by(CheckResult.at.desc())
            .limit(limit)
        )
    )


def result_count(db: Session, name: str) -> int:
    return db.scalar(select(func.count()).where(CheckResult.name == name)) or 0
