"""Read the facts DORA's four keys need from the store and compute them for a scope: one
service, one team, or every service the plan declares.

- Deploys count in their service's production environment only (the first of the service's
  ``environments`` in the plan); deploys of services the plan no longer declares are left out.
- A team's deploys are those of the services whose ``team`` it is; its incidents are those
  whose team it is or that name one of its services. A service's incidents are those that
  name it. The whole organisation's incidents are all of them. Drill incidents never count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.types import format_duration
from watchkeeper.releases import dora
from watchkeeper.releases.config import ReleasesSection
from watchkeeper.releases.section import SectionUnreadable, find_service, load_section
from watchkeeper.store.tables import Deploy, Incident, Team
from watchkeeper.telemetry import (
    DORA_CHANGE_FAILURE,
    DORA_DEPLOYS_PER_DAY,
    DORA_LEAD_TIME,
    DORA_LEVEL,
    DORA_TIME_TO_RESTORE,
)

log = logging.getLogger(__name__)
ScopeKind = Literal["all", "service", "team"]


@dataclass(frozen=True)
class Scope:
    """What the figures are about, and the production environment of each of its services."""

    kind: ScopeKind
    name: str  # the service or team; "" for all
    production: dict[str, str]  # service -> its production environment
    teams: dict[str, str]  # service -> its team

    @property
    def label(self) -> str:
        return {"all": "All services", "service": "Service", "team": "Team"}[self.kind] + (
            f" {self.name}" if self.name else ""
        )

    def owns(self, incident: dora.IncidentFact) -> bool:
        """Whether ``incident`` counts for this scope."""
        if self.kind == "all":
            return True
        if self.kind == "team" and incident.team == self.name:
            return True
        return any(s in self.production for s in incident.services)


@dataclass(frozen=True)
class ServiceKeys:
    service: str
    team: str
    production: str
    keys: dora.FourKeys


@dataclass(frozen=True)
class Report:
    scope: Scope
    start: datetime
    end: datetime
    window: timedelta
    keys: dora.FourKeys
    trend: dora.Trend
    services: list[ServiceKeys]  # each service of the scope, by name


@dataclass(frozen=True)
class Choices:
    """What a scope selector offers: the declared services and the known teams."""

    services: list[str]
    teams: list[str]


def _production(section: ReleasesSection, names: list[str]) -> dict[str, str]:
    by_name = {s.name: s for s in section.services}
    return {n: (by_name[n].environments or ["production"])[0] for n in names}


def known_teams(db: Session, section: ReleasesSection) -> list[str]:
    """Teams of the declared services, of the directory and of incidents, by name."""
    names = {s.team for s in section.services if s.team}
    names.update(db.scalars(select(Team.name)))
    names.update(t for t in db.scalars(select(Incident.team).distinct()) if t)
    return sorted(names)


def choices(db: Session) -> Choices:
    """Return the services and teams a scope may name."""
    section = load_section(db)
    return Choices(sorted(s.name for s in section.services), known_teams(db, section))


def resolve_scope(db: Session, service: str | None = None, team: str | None = None) -> Scope:
    """Return the scope the parameters name: a declared service, a known team (see
    :func:`known_teams`), or every declared service.
    Raise ValidationFailed when both are given or the team is unknown, NotFoundError when
    the service is not declared, SectionUnreadable when the stored plan does not validate."""
    service = (service or "").strip()
    team = (team or "").strip()
    section = load_section(db)
    teams = {s.name: s.team for s in section.services}
    if service and team:
        message = "give a service or a team, not both"
        raise ValidationFailed(f"team: {message}", [("team", message)])
    if service:
        find_service(section, service)
        return Scope("service", service, _production(section, [service]), teams)
    if team:
        if team not in known_teams(db, section):
            message = f'no team "{team}" (not a service\'s, a directory or an incident team)'
            raise ValidationFailed(f"team: {message}", [("team", message)])
        names = [s.name for s in section.services if s.team == team]
        return Scope("team", team, _production(section, names), teams)
    return Scope("all", "", _production(section, [s.name for s in section.services]), teams)


def _commit_times(times: object, first: datetime | None) -> list[datetime]:
    """The deploy's commit times (ISO strings, UTC when they carry no offset); its
    ``first_commit_at`` when it lists none. Unreadable entries are skipped."""
    out: list[datetime] = []
    for text in times if isinstance(times, list) else []:
        try:
            moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            continue
        out.append(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment)
    if not out and first is not None:
        out.append(first)
    return out


def load_deploys(
    db: Session, scope: Scope, start: datetime, end: datetime
) -> list[dora.DeployFact]:
    """Return the scope's production deploys in ``[start, end)``, oldest first."""
    if not scope.production:
        return []
    stmt = (
        select(
            Deploy.service,
            Deploy.environment,
            Deploy.deployed_at,
            Deploy.status,
            Deploy.gate,
            Deploy.incident_id,
            Deploy.commit_times,
            Deploy.first_commit_at,
        )
        .where(
            Deploy.service.in_(list(scope.production)),
            Deploy.environment.in_(sorted(set(scope.production.values()))),
            Deploy.deployed_at >= start,
            Deploy.deployed_at < end,
        )
        .order_by(Deploy.deployed_at, Deploy.id)
    )
    return [
        dora.DeployFact(
            service=row.service,
            deployed_at=row.deployed_at,
            status=row.status,
            gate=row.gate,
            incident_id=row.incident_id,
            commits=tuple(_commit_times(row.commit_times, row.first_commit_at)),
        )
        for row in db.execute(stmt)
        if scope.production[row.service] == row.environment
    ]


def first_deploys(db: Session, scope: Scope) -> dict[str, datetime]:
    """Return each service's first production deploy ever that reached production."""
    if not scope.production:
        return {}
    stmt = (
        select(Deploy.service, Deploy.environment, func.min(Deploy.deployed_at))
        .where(
            Deploy.service.in_(list(scope.production)),
            Deploy.status.in_(sorted(dora.REACHED)),
        )
        .group_by(Deploy.service, Deploy.environment)
    )
    out: dict[str, datetime] = {}
    for service, environment, first in db.execute(stmt):
        if scope.production[service] == environment and first is not None:
            out[service] = _as_utc(first)
    return out


def _as_utc(value: datetime | str) -> datetime:
    """An aggregate's datetime, aware and in UTC (text, should a driver not convert it)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def load_incidents(
    db: Session, scope: Scope, start: datetime, end: datetime
) -> list[dora.IncidentFact]:
    """Return the scope's non-drill incidents opened in ``[start, end)``, oldest first."""
    stmt = (
        select(Incident.id, Incident.opened_at, Incident.resolved_at, Incident.team)
        .add_columns(Incident.services)
        .where(Incident.opened_at >= start, Incident.opened_at < end, Incident.drill == "")
        .order_by(Incident.opened_at, Incident.id)
    )
    facts = (
        dora.IncidentFact(
            id=row.id,
            opened_at=row.opened_at,
            resolved_at=row.resolved_at,
            team=row.team or "",
            services=tuple(str(s) for s in row.services) if isinstance(row.services, list) else (),
        )
        for row in db.execute(stmt)
    )
    return [f for f in facts if scope.owns(f)]


def report(
    db: Session,
    now: datetime,
    *,
    service: str | None = None,
    team: str | None = None,
    window: timedelta = dora.DEFAULT_WINDOW,
    end: datetime | None = None,
) -> Report:
    """Return the four keys of a scope over ``window`` up to ``end`` (default ``now``), the
    weekly trend and the figures of each of the scope's services. Raise as
    :func:`resolve_scope` does."""
    scope = resolve_scope(db, service, team)
    last = end or now
    first_day = last - window
    deploys = load_deploys(db, scope, first_day, last)
    incidents = load_incidents(db, scope, first_day, last)
    firsts = first_deploys(db, scope)
    per_service = []
    for name in sorted(scope.production):
        own = Scope("service", name, {name: scope.production[name]}, scope.teams)
        per_service.append(
            ServiceKeys(
                service=name,
                team=scope.teams.get(name, ""),
                production=scope.production[name],
                keys=dora.four_keys(
                    [d for d in deploys if d.service == name],
                    [i for i in incidents if own.owns(i)],
                    first_day,
                    last,
                    firsts.get(name),
                ),
            )
        )
    return Report(
        scope=scope,
        start=first_day,
        end=last,
        window=window,
        keys=dora.four_keys(
            deploys, incidents, first_day, last, min(firsts.values(), default=None)
        ),
        trend=dora.trend(deploys, incidents, first_day, last),
        services=per_service,
    )


def update_gauges(db: Session, now: datetime) -> int:
    """Set the ``watchkeeper_dora_*`` gauges of every declared service over the default
    window; a figure without data has no series. Return the number of services (none, with
    a warning, while the stored releases section does not validate)."""
    gauges = (DORA_DEPLOYS_PER_DAY, DORA_LEAD_TIME, DORA_CHANGE_FAILURE, DORA_TIME_TO_RESTORE)
    try:
        figures = report(db, now)
    except SectionUnreadable as exc:
        log.warning("DORA gauges not updated: %s", exc)
        figures = None
    for gauge in (*gauges, DORA_LEVEL):
        gauge.clear()
    if figures is None:
        return 0
    for row in figures.services:
        k = row.keys
        values = (k.frequency.per_day, k.lead_time.median, k.change_failure.rate, k.restore.median)
        for gauge, value in zip(gauges, values, strict=True):
            if value is not None:
                gauge.labels(row.service).set(value)
        for key, band in k.bands().items():
            if band is not None:
                DORA_LEVEL.labels(row.service, key).set(dora.BAND_LEVEL[band])
    return len(figures.services)


def _keys_json(keys: dora.FourKeys) -> dict[str, Any]:
    f, lt, cf, r = keys.frequency, keys.lead_time, keys.change_failure, keys.restore
    return {
        "deployment_frequency": {
            "deploys": f.deploys,
            "days": f.days,
            "per_day": f.per_day,
            "weeks": f.weeks,
            "weeks_deployed": f.weeks_deployed,
            "median_days_per_week": f.median_days_per_week,
            "months": f.months,
            "months_deployed": f.months_deployed,
            "band": f.band,
        },
        "lead_time": {
            "deploys": lt.deploys,
            "commits": lt.commits,
            "median_seconds": lt.median,
            "band": lt.band,
        },
        "change_failure_rate": {
            "deploys": cf.deploys,
            "failed": cf.failed,
            "rate": cf.rate,
            "band": cf.band,
        },
        "time_to_restore": {
            "incidents": r.incidents,
            "resolved": r.resolved,
            "median_seconds": r.median,
            "band": r.band,
        },
    }


def to_json(figures: Report) -> dict[str, Any]:
    """Return ``figures`` as the API and ``watchkeeper dora --json`` show them (times in
    seconds, rates between 0 and 1, null where there is no data)."""
    t = figures.trend
    return {
        "scope": {"kind": figures.scope.kind, "name": figures.scope.name},
        "start": figures.start.isoformat(),
        "end": figures.end.isoformat(),
        "window": format_duration(figures.window),
        "keys": _keys_json(figures.keys),
        "trend": {
            "weeks": [w.isoformat() for w in t.weeks],
            "deploys": t.deploys,
            "deploys_per_day": t.per_day,
            "lead_time_seconds": t.lead_time,
            "finished": t.finished,
            "failed": t.failed,
            "change_failure_rate": t.change_failure,
            "incidents": t.incidents,
            "time_to_restore_seconds": t.restore,
        },
        "services": [
            {
                "service": s.service,
                "team": s.team,
                "production": s.production,
                "keys": _keys_json(s.keys),
            }
            for s in figures.services
        ],
    }
