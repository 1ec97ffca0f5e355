"""DORA's four keys, computed from deploy and incident facts (no store, no clock): deployment
frequency, lead time for changes, change failure rate and time to restore, each with its
performance band, over a window and per week of it.

The definitions follow the Four Keys project (github.com/dora-team/fourkeys, its dashboard's
queries) and the bands the State of DevOps reports publish; docs/dora.md gives every cut-off.

- A deploy *reached production* when its status is ``succeeded`` or ``rolled_back``; it is
  *finished* when it also may have ``failed`` (``started`` deploys are still under way and
  count for nothing until CI/CD reports how they ended).
- Deployment frequency counts deploys that reached production; lead time runs from each of
  their commits to the deploy; the change failure rate is failed deploys over finished ones;
  time to restore is the median time from open to resolved of the incidents opened in the
  window (drills are left out by whoever builds the facts).
- No data gives ``None`` and no band, never a zero: a scope that never deployed has no
  frequency, one without commit times no lead time, one without finished deploys no failure
  rate, one without resolved incidents no time to restore.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic_core import PydanticCustomError

from watchkeeper.exceptions import ValidationFailed
from watchkeeper.incidents.figures import bucket_start, bucket_starts, median
from watchkeeper.plan.types import parse_duration

Band = Literal["elite", "high", "medium", "low"]
BANDS: tuple[Band, ...] = ("elite", "high", "medium", "low")
KEYS = ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore")

REACHED = frozenset({"succeeded", "rolled_back"})  # the deploy ran in production
FINISHED = REACHED | {"failed"}
FAILED_STATUSES = frozenset({"failed", "rolled_back"})

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
MONTH = timedelta(days=30)  # the "month" of the frequency rule and of the lead-time band

# Deployment frequency (Four Keys): elite when, over the weeks of the window, the median
# number of days with a deploy is at least 3; high when more than half the weeks have one;
# medium when more than half the 30-day months have one; low otherwise.
DAILY_MEDIAN_DAYS = 3
# Lead time: elite under a day, high under a week, medium under a month, low beyond.
LEAD_TIME_BANDS: tuple[tuple[timedelta, Band], ...] = (
    (DAY, "elite"),
    (WEEK, "high"),
    (MONTH, "medium"),
)
# Change failure rate (at most): 0-15% elite, 16-30% high, 31-45% medium, above low.
CHANGE_FAILURE_BANDS: tuple[tuple[float, Band], ...] = (
    (0.15, "elite"),
    (0.30, "high"),
    (0.45, "medium"),
)
# Time to restore: elite under an hour, high under a day, medium under a week, low beyond.
RESTORE_BANDS: tuple[tuple[timedelta, Band], ...] = (
    (timedelta(hours=1), "elite"),
    (DAY, "high"),
    (WEEK, "medium"),
)
BAND_LEVEL: dict[Band, int] = {"elite": 4, "high": 3, "medium": 2, "low": 1}
DEFAULT_WINDOW = timedelta(days=90)
MIN_WINDOW = DAY
MAX_WINDOW = timedelta(days=731)  # two years, leap day included


@dataclass(frozen=True)
class DeployFact:
    """A production deploy as the figures need it."""

    service: str
    deployed_at: datetime
    status: str
    gate: str = "skipped"
    incident_id: int | None = None
    commits: tuple[datetime, ...] = ()

    @property
    def reached(self) -> bool:
        return self.status in REACHED

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def failed(self) -> bool:
        """Whether the change failed: the deploy failed or was rolled back, its release gate
        found a regression, or an incident is linked to it."""
        return (
            self.status in FAILED_STATUSES
            or self.gate == "regressed"
            or self.incident_id is not None
        )

    def lead_times(self) -> list[float]:
        """Seconds from each commit to this deploy; a commit dated after the deploy (a
        skewed clock) is left out rather than counted as zero."""
        return [
            (self.deployed_at - c).total_seconds() for c in self.commits if c <= self.deployed_at
        ]


@dataclass(frozen=True)
class IncidentFact:
    """A (non-drill) incident as the figures need it."""

    id: int
    opened_at: datetime
    resolved_at: datetime | None
    team: str = ""
    services: tuple[str, ...] = ()

    def restore_seconds(self, as_of: datetime) -> float | None:
        """Seconds from open to resolved; None when not resolved by ``as_of``."""
        if self.resolved_at is None or self.resolved_at > as_of:
            return None
        return max(0.0, (self.resolved_at - self.opened_at).total_seconds())


@dataclass(frozen=True)
class Frequency:
    deploys: int  # deploys that reached production in the window
    days: float | None  # length measured: the window, from the first deploy when later
    per_day: float | None
    weeks: int  # 7-day weeks counted back from the window's end
    weeks_deployed: int
    median_days_per_week: float | None
    months: int  # 30-day months counted back from the window's end
    months_deployed: int
    band: Band | None


@dataclass(frozen=True)
class LeadTime:
    deploys: int  # deploys that reached production and named their commits' times
    commits: int
    median: float | None  # seconds
    band: Band | None


@dataclass(frozen=True)
class ChangeFailure:
    deploys: int  # finished deploys
    failed: int
    rate: float | None  # 0..1
    band: Band | None


@dataclass(frozen=True)
class Restore:
    incidents: int  # opened in the window
    resolved: int
    median: float | None  # seconds
    band: Band | None


@dataclass(frozen=True)
class FourKeys:
    frequency: Frequency
    lead_time: LeadTime
    change_failure: ChangeFailure
    restore: Restore

    def bands(self) -> dict[str, Band | None]:
        """Each key's band by its name in :data:`KEYS`."""
        return dict(
            zip(
                KEYS,
                (
                    self.frequency.band,
                    self.lead_time.band,
                    self.change_failure.band,
                    self.restore.band,
                ),
                strict=True,
            )
        )


@dataclass(frozen=True)
class Trend:
    """The figures per ISO week (from Monday, UTC) of the window; None where a week has no
    data for a figure."""

    weeks: list[datetime]
    deploys: list[int]
    per_day: list[float]  # deploys over the days of that week inside the window
    lead_time: list[float | None]
    finished: list[int]
    failed: list[int]
    change_failure: list[float | None]
    incidents: list[int]
    restore: list[float | None]


def parse_window(text: str | None) -> timedelta:
    """Return the window ``text`` names (``90d``, ``12w``; default 90 days); raise
    ValidationFailed naming ``window`` when it is not a duration or not between a day and two
    years."""
    if text is None or not text.strip():
        return DEFAULT_WINDOW
    try:
        value = parse_duration(text.strip())
    except PydanticCustomError:
        message = f'"{text.strip()}" is not a duration (use 30d, 12w, 90d)'
        raise ValidationFailed(f"window: {message}", [("window", message)]) from None
    if not MIN_WINDOW <= value <= MAX_WINDOW:
        message = "must be between 1d and 731d (two years)"
        raise ValidationFailed(f"window: {message}", [("window", message)])
    return value


# -- bands ----------------------------------------------------------------------------------


def _below(value: float, cuts: Sequence[tuple[timedelta, Band]]) -> Band:
    for limit, band in cuts:
        if value < limit.total_seconds():
            return band
    return "low"


def lead_time_band(seconds: float | None) -> Band | None:
    """Return the band of a median lead time in seconds (None: no band)."""
    return None if seconds is None else _below(seconds, LEAD_TIME_BANDS)


def restore_band(seconds: float | None) -> Band | None:
    """Return the band of a median time to restore in seconds (None: no band)."""
    return None if seconds is None else _below(seconds, RESTORE_BANDS)


def change_failure_band(rate: float | None) -> Band | None:
    """Return the band of a change failure rate between 0 and 1 (None: no band)."""
    if rate is None:
        return None
    for limit, band in CHANGE_FAILURE_BANDS:
        if rate <= limit + 1e-12:  # 3/20 is 0.15 even when the division rounds up
            return band
    return "low"


# -- the four keys --------------------------------------------------------------------------


def _blocks(since: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    """Blocks of ``size`` counted back from ``end``; the oldest is cut at ``since``."""
    out = []
    upper = end
    while upper > since:
        out.append((max(upper - size, since), upper))
        upper -= size
    return out


def _day(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def frequency(
    deploys: Iterable[DeployFact], start: datetime, end: datetime, first: datetime | None
) -> Frequency:
    """Return the deployment frequency over ``[start, end)`` of the deploys that reached
    production. ``first`` is the scope's first deploy ever: the window is measured from the
    start of its day when that is later than ``start`` (a new service is not judged on the
    weeks before it existed), and when it is None (never deployed) there is no figure."""
    times = sorted(d.deployed_at for d in deploys if d.reached and start <= d.deployed_at < end)
    if first is None or _day(first) >= end:
        return Frequency(len(times), None, None, 0, 0, None, 0, 0, None)
    since = max(start, _day(first))
    days = (end - since) / DAY
    weeks = _blocks(since, end, WEEK)
    per_week = [len({_day(t) for t in times if low <= t < high}) for low, high in weeks]
    months = _blocks(since, end, MONTH)
    months_deployed = sum(1 for low, high in months if any(low <= t < high for t in times))
    weeks_deployed = sum(1 for n in per_week if n)
    median_days = float(statistics.median(per_week))
    if median_days >= DAILY_MEDIAN_DAYS:
        band: Band = "elite"
    elif weeks_deployed * 2 > len(weeks):  # the median week has a deploy
        band = "high"
    elif months_deployed * 2 > len(months):
        band = "medium"
    else:
        band = "low"
    return Frequency(
        deploys=len(times),
        days=days,
        per_day=len(times) / days,
        weeks=len(weeks),
        weeks_deployed=weeks_deployed,
        median_days_per_week=median_days,
        months=len(months),
        months_deployed=months_deployed,
        band=band,
    )


def lead_time(deploys: Iterable[DeployFact]) -> LeadTime:
    """Return the median time from commit to production deploy over all the commits of the
    deploys that reached production."""
    values: list[float] = []
    counted = 0
    for deploy in deploys:
        if not deploy.reached:
            continue
        times = deploy.lead_times()
        if times:
            counted += 1
            values.extend(times)
    value = median(values)
    return LeadTime(counted, len(values), value, lead_time_band(value))


def change_failure(deploys: Iterable[DeployFact]) -> ChangeFailure:
    """Return the share of finished deploys whose change failed."""
    finished = [d for d in deploys if d.finished]
    failed = sum(1 for d in finished if d.failed)
    rate = failed / len(finished) if finished else None
    return ChangeFailure(len(finished), failed, rate, change_failure_band(rate))


def restore(incidents: Iterable[IncidentFact], as_of: datetime) -> Restore:
    """Return the median time to restore of ``incidents`` (those resolved by ``as_of``)."""
    rows = list(incidents)
    values = [s for s in (i.restore_seconds(as_of) for i in rows) if s is not None]
    value = median(values)
    return Restore(len(rows), len(values), value, restore_band(value))


def four_keys(
    deploys: Sequence[DeployFact],
    incidents: Sequence[IncidentFact],
    start: datetime,
    end: datetime,
    first: datetime | None,
) -> FourKeys:
    """Return the four keys over ``[start, end)`` of a scope's production ``deploys`` and
    ``incidents`` (both already limited to the scope; anything outside the window is left
    out here). ``first``: the scope's first production deploy ever (see :func:`frequency`)."""
    inside = [d for d in deploys if start <= d.deployed_at < end]
    opened = [i for i in incidents if start <= i.opened_at < end]
    return FourKeys(
        frequency=frequency(inside, start, end, first),
        lead_time=lead_time(inside),
        change_failure=change_failure(inside),
        restore=restore(opened, end),
    )


def trend(
    deploys: Sequence[DeployFact],
    incidents: Sequence[IncidentFact],
    start: datetime,
    end: datetime,
) -> Trend:
    """Return the figures per ISO week of ``[start, end)``: deploys (and per day of the
    week's part inside the window), median lead time of that week's deploys, their change
    failure rate, and the median time to restore of the incidents opened that week."""
    weeks = bucket_starts(start, end, "week")
    index = {w: i for i, w in enumerate(weeks)}
    by_week: list[list[DeployFact]] = [[] for _ in weeks]
    for deploy in deploys:
        if start <= deploy.deployed_at < end:
            by_week[index[bucket_start(deploy.deployed_at, "week")]].append(deploy)
    opened: list[list[IncidentFact]] = [[] for _ in weeks]
    for incident in incidents:
        if start <= incident.opened_at < end:
            opened[index[bucket_start(incident.opened_at, "week")]].append(incident)
    out = Trend(weeks, [], [], [], [], [], [], [], [])
    for week, chunk, cases in zip(weeks, by_week, opened, strict=True):
        reached = sum(1 for d in chunk if d.reached)
        span = (min(week + WEEK, end) - max(week, start)) / DAY
        failures = change_failure(chunk)
        out.deploys.append(reached)
        out.per_day.append(reached / span)
        out.lead_time.append(lead_time(chunk).median)
        out.finished.append(failures.deploys)
        out.failed.append(failures.failed)
        out.change_failure.append(failures.rate)
        out.incidents.append(len(cases))
        out.restore.append(restore(cases, end).median)
    return out
