"""Hardening runs in the store: record one, read each host's latest and its history, prune
old ones, and keep the ``/metrics`` gauges in line with the latest runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from watchkeeper.security.hardening.interface import REGISTRY, STATUSES
from watchkeeper.security.hardening.runner import Report, score
from watchkeeper.store.tables import HardeningRun, utcnow
from watchkeeper.telemetry import HARDENING_CHECKS, HARDENING_INDEX

TREND_POINTS = 30
SERVER_PREFIX = "watchkeeper://"
ENDPOINT_PREFIX = "tls://"


def host_kind(host: str) -> str:
    """``server`` (Watchkeeper itself), ``endpoint`` (a TLS endpoint) or ``host``."""
    if host.startswith(SERVER_PREFIX):
        return "server"
    if host.startswith(ENDPOINT_PREFIX):
        return "endpoint"
    return "host"


def record(db: Session, report: Report) -> HardeningRun:
    """Add ``report`` as a run (the caller commits) and update the gauges of its host."""
    run = HardeningRun(
        host=report.host,
        profile=report.profile,
        ran_at=report.ran_at,
        points=report.points,
        possible=report.possible,
        index=report.index,
        results=[o.as_dict() for o in report.outcomes],
    )
    db.add(run)
    db.flush()
    _set_gauges(run)
    return run


def record_results(
    db: Session,
    host: str,
    profile: str,
    ran_at: datetime,
    results: list[Mapping[str, Any]],
    *,
    pushed_by: str = "",
) -> HardeningRun:
    """Add a run reported by an agent (the caller commits), recording who sent it. The index
    is computed here, each check weighed by this server's catalogue (a check it does not know,
    from a newer agent, weighs 1): an agent cannot raise its host's index by the weights it
    sends."""
    clean: list[dict[str, Any]] = [
        {
            "id": str(r["id"]),
            "status": str(r["status"]),
            "detail": str(r.get("detail", ""))[:2000],
            "weight": _weight(str(r["id"])),
            "title": _title(str(r["id"]), str(r.get("title", ""))),
        }
        for r in results
    ]
    points, possible, index = score((r["status"], r["weight"]) for r in clean)
    run = HardeningRun(
        host=host,
        profile=profile[:128],
        ran_at=ran_at,
        points=points,
        possible=possible,
        index=index,
        results=clean,
        pushed_by=pushed_by[:120],
    )
    db.add(run)
    db.flush()
    _set_gauges(run)
    return run


def _weight(check_id: str) -> int:
    known = REGISTRY.get(check_id)
    return known.weight if known else 1


def _title(check_id: str, sent: str) -> str:
    """The catalogue's title; the agent's (or the id) for a check unknown here."""
    known = REGISTRY.get(check_id)
    return known.title if known else sent[:200] or check_id


def counts(run: HardeningRun) -> dict[str, int]:
    """How many checks of ``run`` have each status (every status present, 0 included)."""
    found: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for result in run.results:
        status = result.get("status")
        if status in found:
            found[status] += 1
    return found


def _set_gauges(run: HardeningRun) -> None:
    if run.possible:
        HARDENING_INDEX.labels(run.host).set(run.index)
    else:
        _forget(HARDENING_INDEX, (run.host,))
    for status, n in counts(run).items():
        HARDENING_CHECKS.labels(run.host, status).set(n)


def _forget(gauge: Any, labels: tuple[str, ...]) -> None:
    try:
        gauge.remove(*labels)
    except KeyError:
        pass


def latest_runs(db: Session, hosts: Iterable[str] | None = None) -> list[HardeningRun]:
    """Each host's latest run (of ``hosts``, or of all), by host name."""
    newest = select(func.max(HardeningRun.id)).group_by(HardeningRun.host)
    if hosts is not None:
        newest = newest.where(HardeningRun.host.in_(list(hosts)))
    return list(
        db.scalars(
            select(HardeningRun).where(HardeningRun.id.in_(newest)).order_by(HardeningRun.host)
        )
    )


def latest_run(db: Session, host: str) -> HardeningRun | None:
    return db.scalars(
        select(HardeningRun)
        .where(HardeningRun.host == host)
        .order_by(HardeningRun.id.desc())
        .limit(1)
    ).first()


def last_ran(db: Session, hosts: Iterable[str]) -> dict[str, datetime]:
    """When each of ``hosts`` was last audited (hosts never audited are absent)."""
    names = list(hosts)
    if not names:
        return {}
    rows = db.execute(
        select(HardeningRun.host, func.max(HardeningRun.ran_at))
        .where(HardeningRun.host.in_(names))
        .group_by(HardeningRun.host)
    ).all()
    return dict(rows)


@dataclass(frozen=True)
class Point:
    ran_at: datetime
    index: float | None
    points: int
    possible: int


def history(
    db: Session, host: str, *, since: datetime | None = None, limit: int = 500
) -> list[Point]:
    """A host's runs, oldest first (the newest ``limit`` of them)."""
    query = select(
        HardeningRun.ran_at, HardeningRun.index, HardeningRun.points, HardeningRun.possible
    ).where(HardeningRun.host == host)
    if since is not None:
        query = query.where(HardeningRun.ran_at >= since)
    rows = db.execute(
        query.order_by(HardeningRun.ran_at.desc(), HardeningRun.id.desc()).limit(limit)
    ).all()
    return [
        Point(at, index if possible else None, points, possible)
        for at, index, points, possible in reversed(rows)
    ]


@dataclass
class HostSummary:
    """A host's latest run and the trend of its index."""

    run: HardeningRun
    counts: dict[str, int]
    trend: list[float | None] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return host_kind(self.run.host)


def summaries(db: Session, *, trend_days: int = 90) -> list[HostSummary]:
    """Every audited host's latest run with its counts and recent indexes, by host."""
    latest = latest_runs(db)
    trends: dict[str, list[float | None]] = {}
    rows = db.execute(
        select(HardeningRun.host, HardeningRun.index, HardeningRun.possible)
        .where(HardeningRun.ran_at >= utcnow() - timedelta(days=trend_days))
        .order_by(HardeningRun.host, HardeningRun.ran_at, HardeningRun.id)
    ).all()
    for host, index, possible in rows:
        trends.setdefault(host, []).append(index if possible else None)
    return [
        HostSummary(run, counts(run), trends.get(run.host, [])[-TREND_POINTS:]) for run in latest
    ]


def prune(db: Session, keep: timedelta) -> int:
    """Delete runs older than ``keep`` except each host's latest (the caller commits);
    return how many."""
    cutoff = utcnow() - keep
    keep_ids = select(func.max(HardeningRun.id)).group_by(HardeningRun.host)
    result = db.execute(
        delete(HardeningRun)
        .where(HardeningRun.ran_at < cutoff, HardeningRun.id.not_in(keep_ids))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def refresh_gauges(db: Session) -> None:
    """Set the gauges from every host's latest run, dropping hosts no longer audited."""
    latest = latest_runs(db)
    hosts = {run.host for run in latest}
    for gauge in (HARDENING_INDEX, HARDENING_CHECKS):
        for labels in [tuple(s.labels.values()) for m in gauge.collect() for s in m.samples]:
            if labels and labels[0] not in hosts:
                _forget(gauge, labels)
    for run in latest:
        _set_gauges(run)
