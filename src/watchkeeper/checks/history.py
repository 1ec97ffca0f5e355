"""Check results in the store: batched writes, hourly rollups, retention and uptime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, delete, func, insert, select
from sqlalchemy.orm import Session

from watchkeeper.checks.state import CheckState, Status
from watchkeeper.store.tables import CheckEvent, CheckResult, CheckRollup, CheckStatus, utcnow

RAW_RETENTION = timedelta(days=7)
ROLLUP_RETENTION = timedelta(days=400)
UPTIME_WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


@dataclass(frozen=True)
class Result:
    name: str
    at: datetime
    ok: bool
    response_ms: float | None
    message: str
    cert_expires_at: datetime | None = None


def load_states(db: Session) -> dict[str, CheckState]:
    """Return the stored state of every check (empty for a fresh store)."""
    return {
        row.name: CheckState(cast(Status, row.status), row.failures, row.successes, row.changed_at)
        for row in db.scalars(select(CheckStatus))
    }


def write_batch(
    db: Session,
    results: Sequence[Result],
    states: dict[str, CheckState],
    changes: Sequence[tuple[str, str, str, datetime, str]],
) -> list[CheckEvent]:
    """Store ``results``, the latest state of the checks they touch and the status changes
    (check, from, to, at, message); return the new events (ids set). Caller commits."""
    if results:
        db.execute(
            insert(CheckResult),
            [
                {
                    "name": r.name,
                    "at": r.at,
                    "ok": r.ok,
                    "response_ms": r.response_ms,
                    "message": r.message[:500],
                }
                for r in results
            ],
        )
    latest: dict[str, Result] = {}
    for r in results:
        latest[r.name] = r
    existing = set(db.scalars(select(CheckStatus.name).where(CheckStatus.name.in_(list(latest)))))
    rows = []
    for name, r in latest.items():
        state = states[name]
        rows.append(
            {
                "b_name": name,
                "status": state.status,
                "failures": state.failures,
                "successes": state.successes,
                "changed_at": state.changed_at,
                "last_run_at": r.at,
                "last_ok": r.ok,
                "last_message": r.message[:500],
                "last_response_ms": r.response_ms,
                "cert_expires_at": r.cert_expires_at,
            }
        )
    # One prepared statement executed for many rows (executemany): thousands of checks
    # per second must not mean thousands of separately compiled UPDATEs.
    table = cast(Table, CheckStatus.__table__)
    updates = [row for row in rows if row["b_name"] in existing]
    if updates:
        values: dict[str, Any] = {k: bindparam(k) for k in rows[0] if k != "b_name"}
        # A run that saw no certificate (it failed before) keeps the expiry last seen.
        values["cert_expires_at"] = func.coalesce(
            bindparam("cert_expires_at", type_=table.c.cert_expires_at.type),
            table.c.cert_expires_at,
        )
        db.connection().execute(
            table.update().where(table.c.name == bindparam("b_name")).values(values), updates
        )
    inserts = [
        {**{k: v for k, v in row.items() if k != "b_name"}, "name": row["b_name"]}
        for row in rows
        if row["b_name"] not in existing
    ]
    if inserts:
        db.connection().execute(table.insert(), inserts)
    events = [
        CheckEvent(name=n, from_status=f, to_status=t, at=at, message=m[:500])
        for n, f, t, at, m in changes
    ]
    db.add_all(events)
    db.flush()
    return events


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def rollup_and_prune(db: Session, now: datetime | None = None) -> tuple[int, int]:
    """Roll finished hours of raw results into ``check_rollups`` (idempotent), then delete
    raw results past ``RAW_RETENTION`` and rollups past ``ROLLUP_RETENTION``.

    Return (hours rolled up, raw results deleted). Caller commits.
    """
    now = now or utcnow()
    current_hour = _hour(now)
    last = db.scalar(select(func.max(CheckRollup.hour)))
    start = (last + timedelta(hours=1)) if last else db.scalar(select(func.min(CheckResult.at)))
    rolled = 0
    if start is not None:
        hour = _hour(start)
        while hour < current_hour:
            rows = db.execute(
                select(
                    CheckResult.name,
                    func.count(),
                    func.sum(case((CheckResult.ok, 1), else_=0)),
                    func.coalesce(func.sum(CheckResult.response_ms), 0.0),
                    func.max(CheckResult.response_ms),
                )
                .where(CheckResult.at >= hour, CheckResult.at < hour + timedelta(hours=1))
                .group_by(CheckResult.name)
            ).all()
            db.execute(delete(CheckRollup).where(CheckRollup.hour == hour))
            if rows:
                db.execute(
                    insert(CheckRollup),
                    [
                        {
                            "name": n,
                            "hour": hour,
                            "runs": c,
                            "ok_runs": int(k or 0),
                            "response_ms_sum": float(s or 0.0),
                            "response_ms_max": m,
                        }
                        for n, c, k, s, m in rows
                    ],
                )
                rolled += 1
            hour += timedelta(hours=1)
    pruned = db.execute(delete(CheckResult).where(CheckResult.at < now - RAW_RETENTION))
    db.execute(delete(CheckRollup).where(CheckRollup.hour < now - ROLLUP_RETENTION))
    db.execute(delete(CheckEvent).where(CheckEvent.at < now - ROLLUP_RETENTION))
    return rolled, int(pruned.rowcount or 0)  # type: ignore[attr-defined]


def uptime(
    db: Session, names: Sequence[str], window: timedelta, now: datetime | None = None
) -> dict[str, float | None]:
    """Return the share of successful runs per check over ``window`` (None: no runs).

    Whole hours come from the rollups; the hour in progress and any hour not rolled up
    yet come from the raw results.
    """
    now = now or utcnow()
    since = now - window
    totals: dict[str, list[int]] = {n: [0, 0] for n in names}
    rolled_until = db.scalar(select(func.max(CheckRollup.hour)))
    raw_from = since
    if rolled_until is not None and rolled_until >= _hour(since):
        first_full = _hour(since) + timedelta(hours=1)
        for name, runs, ok_runs in db.execute(
            select(CheckRollup.name, func.sum(CheckRollup.runs), func.sum(CheckRollup.ok_runs))
            .where(
                CheckRollup.name.in_(names),
                CheckRollup.hour >= first_full,
                CheckRollup.hour <= rolled_until,
            )
            .group_by(CheckRollup.name)
        ):
            totals[name][0] += int(runs)
            totals[name][1] += int(ok_runs)
        raw_from = rolled_until + timedelta(hours=1)
        # The partial first hour of the window, from raw results while they are kept.
        for name, runs, ok_runs in _raw_counts(db, names, since, first_full):
            totals[name][0] += runs
            totals[name][1] += ok_runs
    for name, runs, ok_runs in _raw_counts(db, names, raw_from, now + timedelta(seconds=1)):
        totals[name][0] += runs
        totals[name][1] += ok_runs
    return {n: (ok / runs if runs else None) for n, (runs, ok) in totals.items()}


def _raw_counts(
    db: Session, names: Sequence[str], start: datetime, end: datetime
) -> list[tuple[str, int, int]]:
    rows = db.execute(
        select(CheckResult.name, func.count(), func.sum(case((CheckResult.ok, 1), else_=0)))
        .where(CheckResult.name.in_(names), CheckResult.at >= start, CheckResult.at < end)
        .group_by(CheckResult.name)
    )
    return [(n, int(c), int(k or 0)) for n, c, k in rows]


@dataclass(frozen=True)
class HourBucket:
    """One hour of one check: runs, successful runs and mean response time."""

    hour: datetime
    runs: int
    ok_runs: int
    mean_ms: float | None


def hourly(
    db: Session, names: Sequence[str], hours: int = 24, now: datetime | None = None
) -> dict[str, list[HourBucket]]:
    """The last ``hours`` hours of each check, oldest first (for uptime bars and
    sparklines): rolled-up hours from ``check_rollups``, the others from raw results, in
    one query per hour not rolled up yet (the hour in progress, rarely one more)."""
    now = now or utcnow()
    first = _hour(now) - timedelta(hours=hours - 1)
    found: dict[tuple[str, datetime], tuple[int, int, float]] = {}
    for name, hour, runs, ok_runs, ms_sum in db.execute(
        select(
            CheckRollup.name,
            CheckRollup.hour,
            CheckRollup.runs,
            CheckRollup.ok_runs,
            CheckRollup.response_ms_sum,
        ).where(CheckRollup.name.in_(names), CheckRollup.hour >= first)
    ):
        found[(name, hour)] = (runs, ok_runs, ms_sum)
    rolled_until = max((h for _, h in found), default=first - timedelta(hours=1))
    hour = max(rolled_until + timedelta(hours=1), first)
    while hour <= now:
        for name, runs, ok_runs, ms_sum in db.execute(
            select(
                CheckResult.name,
                func.count(),
                func.sum(case((CheckResult.ok, 1), else_=0)),
                func.coalesce(func.sum(CheckResult.response_ms), 0.0),
            )
            .where(
                CheckResult.name.in_(names),
                CheckResult.at >= hour,
                CheckResult.at < hour + timedelta(hours=1),
            )
            .group_by(CheckResult.name)
        ):
            found[(name, hour)] = (int(runs), int(ok_runs or 0), float(ms_sum or 0.0))
        hour += timedelta(hours=1)
    out: dict[str, list[HourBucket]] = {}
    for name in names:
        buckets = []
        for i in range(hours):
            at = first + timedelta(hours=i)
            runs, ok_runs, ms_sum = found.get((name, at), (0, 0, 0.0))
            buckets.append(HourBucket(at, runs, ok_runs, ms_sum / runs if runs else None))
        out[name] = buckets
    return out
