"""Incident figures: time to acknowledge (MTTA) and to resolve (MTTR) per team, service or
severity, over a range and per day or week; and the drills report.

An incident counts for the range (and the bucket) in which it was opened. One not yet
acknowledged or resolved is counted as open: it adds to ``count`` but not to the means,
medians and percentiles (it is never a zero). Drill incidents are left out here and reported
by :func:`drill_report`. An incident with several services counts once for each.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ValidationFailed
from watchkeeper.store.tables import DrillRun, Incident

GroupBy = Literal["team", "service", "severity"]
Bucket = Literal["day", "week"]
GROUPINGS: tuple[GroupBy, ...] = ("team", "service", "severity")
BUCKETS: tuple[Bucket, ...] = ("day", "week")
ALL = "all"  # the one group's key when nothing is grouped
DEFAULT_DAYS = 90
MAX_RANGE = timedelta(days=731)  # two years, leap day included


@dataclass(frozen=True)
class Stats:
    """Figures of one group; times in seconds, None when no incident got that far."""

    key: str
    count: int
    acknowledged: int
    resolved: int
    mtta: float | None
    median_tta: float | None
    p90_tta: float | None
    mttr: float | None
    median_ttr: float | None
    p90_ttr: float | None

    @property
    def unacknowledged(self) -> int:
        return self.count - self.acknowledged

    @property
    def unresolved(self) -> int:
        return self.count - self.resolved


@dataclass(frozen=True)
class Summary:
    start: datetime
    end: datetime
    by: GroupBy | None
    overall: Stats
    groups: list[Stats]  # busiest first


@dataclass(frozen=True)
class SeriesGroup:
    """One line per figure: a value per bucket (None where no incident got that far)."""

    key: str
    count: list[int]
    acknowledged: list[int]
    resolved: list[int]
    mtta: list[float | None]
    mttr: list[float | None]


@dataclass(frozen=True)
class Series:
    start: datetime
    end: datetime
    bucket: Bucket
    by: GroupBy | None
    buckets: list[datetime]  # each bucket's start, UTC
    groups: list[SeriesGroup]  # busiest first


@dataclass(frozen=True)
class DrillRunRow:
    id: int
    name: str
    started_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    result: str  # running | acknowledged | missed
    incident_id: int | None
    time_to_ack: float | None  # seconds


@dataclass(frozen=True)
class DrillStats:
    name: str
    runs: int
    acknowledged: int
    missed: int
    running: int
    mean_tta: float | None
    median_tta: float | None


@dataclass(frozen=True)
class DrillReport:
    start: datetime
    end: datetime
    runs: list[DrillRunRow]  # oldest first
    drills: list[DrillStats]  # by name


@dataclass(frozen=True)
class _Row:
    opened_at: datetime
    tta: float | None
    ttr: float | None
    keys: tuple[str, ...]


# -- parameters ------------------------------------------------------------------------------


def parse_when(field: str, text: str | None, *, end: bool = False) -> datetime | None:
    """Return the UTC moment ``text`` names: RFC 3339 / ISO 8601 (UTC when no offset), or a
    date, which means its midnight (for an ``end``, the midnight after it, so that the day
    is included); None when ``text`` is empty. Raise ValidationFailed naming ``field``."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T"))
    except (ValueError, OverflowError):
        raise ValidationFailed(
            f'{field}: "{raw}" is not a date or time (use 2025-01-31 or 2025-01-31T08:00:00Z)',
            [(field, "not a date or time (use 2025-01-31 or 2025-01-31T08:00:00Z)")],
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """Return the range ``[start, end)``: by default the last 90 days up to ``now`` (or up to
    ``end``, or from ``start``). Raise ValidationFailed when ``end`` is not after ``start`` or
    the range is longer than two years."""
    if end is None:
        end = now if start is None or start < now else start + timedelta(days=DEFAULT_DAYS)
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    if end <= start:
        raise ValidationFailed("end: must be after start", [("end", "must be after start")])
    if end - start > MAX_RANGE:
        raise ValidationFailed(
            "end: the range is longer than two years", [("end", "the range is at most 2 years")]
        )
    return start, end


def check_by(text: str | None) -> GroupBy | None:
    """Return the grouping ``text`` names ("" or "none": none); raise ValidationFailed."""
    value = (text or "").strip().lower()
    if value in ("", "none", ALL):
        return None
    for choice in GROUPINGS:
        if value == choice:
            return choice
    raise ValidationFailed(
        f'by: "{text}" is not one of team, service, severity',
        [("by", "must be team, service or severity (or empty for no grouping)")],
    )


def check_bucket(text: str | None) -> Bucket:
    """Return the bucket ``text`` names (default week); raise ValidationFailed."""
    value = (text or "").strip().lower()
    if value in ("", "week"):
        return "week"
    if value == "day":
        return "day"
    raise ValidationFailed(
        f'bucket: "{text}" is not day or week', [("bucket", "must be day or week")]
    )


# -- statistics --------------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the ``q`` quantile (0..1) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _seconds(since: datetime, until: datetime | None) -> float | None:
    # A clock set back between two steps must not make a negative time.
    return None if until is None else max(0.0, (until - since).total_seconds())


def _stats(key: str, rows: Iterable[_Row]) -> Stats:
    count = 0
    ttas: list[float] = []
    ttrs: list[float] = []
    for row in rows:
        count += 1
        if row.tta is not None:
            ttas.append(row.tta)
        if row.ttr is not None:
            ttrs.append(row.ttr)
    return Stats(
        key=key,
        count=count,
        acknowledged=len(ttas),
        resolved=len(ttrs),
        mtta=mean(ttas),
        median_tta=median(ttas),
        p90_tta=percentile(ttas, 0.9),
        mttr=mean(ttrs),
        median_ttr=median(ttrs),
        p90_ttr=percentile(ttrs, 0.9),
    )


# -- queries -----------------------------------------------------------------------------------


def _rows(db: Session, start: datetime, end: datetime, by: GroupBy | None) -> list[_Row]:
    """The non-drill incidents opened in ``[start, end)``, with the keys they count for."""
    columns: list[Any] = [Incident.opened_at, Incident.acknowledged_at, Incident.resolved_at]
    if by == "team":
        columns.append(Incident.team)
    elif by == "service":
        columns.append(Incident.services)
    elif by == "severity":
        columns.append(Incident.severity)
    stmt = (
        select(*columns)
        .where(Incident.opened_at >= start, Incident.opened_at < end, Incident.drill == "")
        .order_by(Incident.opened_at)
    )
    out = []
    for values in db.execute(stmt):
        opened, acked, resolved = values[0], values[1], values[2]
        keys: tuple[str, ...]
        if by is None:
            keys = (ALL,)
        elif by == "service":
            services = values[3] if isinstance(values[3], list) else []
            keys = tuple(dict.fromkeys(str(s) for s in services)) or ("",)
        else:
            keys = (str(values[3] or ""),)
        out.append(_Row(opened, _seconds(opened, acked), _seconds(opened, resolved), keys))
    return out


def _grouped(rows: Iterable[_Row]) -> dict[str, list[_Row]]:
    groups: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        for key in row.keys:
            groups[key].append(row)
    return groups


def _order(groups: dict[str, list[_Row]]) -> list[str]:
    """Busiest first, then by name ("" — no team or service — last)."""
    return sorted(groups, key=lambda k: (k == "", -len(groups[k]), k))


def summary(db: Session, start: datetime, end: datetime, by: GroupBy | None = None) -> Summary:
    """Return the figures of the incidents opened in ``[start, end)``, drills left out: all
    together, and per team, service or severity when ``by`` says so (one group, ``all``,
    when it is None)."""
    rows = _rows(db, start, end, by)
    groups = _grouped(rows)
    return Summary(
        start=start,
        end=end,
        by=by,
        overall=_stats(ALL, rows),
        groups=[_stats(key, groups[key]) for key in _order(groups)],
    )


def bucket_start(moment: datetime, bucket: Bucket) -> datetime:
    """Return the start of the UTC day, or of the ISO week (Monday), holding ``moment``."""
    moment = moment.astimezone(UTC)
    day = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


def bucket_starts(start: datetime, end: datetime, bucket: Bucket) -> list[datetime]:
    """Return the starts of the buckets that overlap ``[start, end)``."""
    step = timedelta(days=7 if bucket == "week" else 1)
    current = bucket_start(start, bucket)
    out = []
    while current < end:
        out.append(current)
        current += step
    return out


def series(
    db: Session,
    start: datetime,
    end: datetime,
    bucket: Bucket = "week",
    by: GroupBy | None = None,
) -> Series:
    """Return MTTA and MTTR per ``bucket`` (UTC days, or ISO weeks from Monday) of the
    incidents opened in ``[start, end)``, drills left out, one line per group of ``by``.
    An incident belongs to the bucket it was opened in."""
    rows = _rows(db, start, end, by)
    starts = bucket_starts(start, end, bucket)
    index = {moment: i for i, moment in enumerate(starts)}
    groups = _grouped(rows)
    lines = []
    for key in _order(groups):
        per_bucket: list[list[_Row]] = [[] for _ in starts]
        for row in groups[key]:
            per_bucket[index[bucket_start(row.opened_at, bucket)]].append(row)
        stats = [_stats(key, chunk) for chunk in per_bucket]
        lines.append(
            SeriesGroup(
                key=key,
                count=[s.count for s in stats],
                acknowledged=[s.acknowledged for s in stats],
                resolved=[s.resolved for s in stats],
                mtta=[s.mtta for s in stats],
                mttr=[s.mttr for s in stats],
            )
        )
    return Series(start=start, end=end, bucket=bucket, by=by, buckets=starts, groups=lines)


def drill_report(db: Session, start: datetime, end: datetime) -> DrillReport:
    """Return the drill runs started in ``[start, end)`` with their time to acknowledge and
    result, and per drill the number of runs and the mean and median time to acknowledge
    (of the acknowledged runs; missed and running ones are counted, not timed)."""
    stmt = (
        select(
            DrillRun.id,
            DrillRun.name,
            DrillRun.started_at,
            DrillRun.acknowledged_at,
            DrillRun.closed_at,
            DrillRun.result,
            DrillRun.incident_id,
        )
        .where(DrillRun.started_at >= start, DrillRun.started_at < end)
        .order_by(DrillRun.started_at, DrillRun.id)
    )
    runs = [
        DrillRunRow(
            id=r.id,
            name=r.name,
            started_at=r.started_at,
            acknowledged_at=r.acknowledged_at,
            closed_at=r.closed_at,
            result=r.result,
            incident_id=r.incident_id,
            time_to_ack=_seconds(r.started_at, r.acknowledged_at),
        )
        for r in db.execute(stmt)
    ]
    by_name: dict[str, list[DrillRunRow]] = defaultdict(list)
    for run in runs:
        by_name[run.name].append(run)
    drills = []
    for name in sorted(by_name):
        chunk = by_name[name]
        ttas = [r.time_to_ack for r in chunk if r.time_to_ack is not None]
        drills.append(
            DrillStats(
                name=name,
                runs=len(chunk),
                acknowledged=len(ttas),
                missed=sum(1 for r in chunk if r.result == "missed"),
                running=sum(1 for r in chunk if r.result == "running"),
                mean_tta=mean(ttas),
                median_tta=median(ttas),
            )
        )
    return DrillReport(start=start, end=end, runs=runs, drills=drills)
