"""Deploy records: what CI/CD reports (``POST /api/v1/deploys``, ``watchkeeper deploy
record``), checked against the plan's ``releases.services``, completed with what the store
knows (the version and commit it replaced, the freeze period it fell in) and listed back.

Every function takes the caller's session and flushes; the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.globs import matches_any
from watchkeeper.releases.config import FreezePeriod, ReleasesSection, Service
from watchkeeper.releases.versioning import VersionInvalid, parse
from watchkeeper.store.tables import Deploy, Incident
from watchkeeper.telemetry import DEPLOYS

STATUSES = ("started", "succeeded", "failed", "rolled_back")
"""What CI/CD reports about a deploy."""
GATES = ("pending", "healthy", "regressed", "unaccepted", "skipped")
"""A release gate's verdicts; ``pending`` until the window after the deploy has passed."""
FUTURE_SLACK = timedelta(minutes=5)  # CI runners' clocks drift a little
MAX_HOSTS = 500
MAX_COMMITS = 1000
MAX_CHANGES = 20_000
MAX_SCAN = 20_000  # rows a host filter reads (it matches JSON lists and globs in Python)
_SHA = re.compile(r"[0-9a-fA-F]{4,64}")
_URL = re.compile(r"https?://[^\s<>\"']+")
_HOST = re.compile(r"[A-Za-z0-9_.:\[\]-]{1,253}")


@dataclass(frozen=True)
class DeployInput:
    """A deploy as CI/CD reports it. Times are UTC (naive ones are taken as UTC)."""

    service: str
    version: str
    environment: str = ""  # the service's first (production) environment when empty
    commit_sha: str = ""
    commit_times: Sequence[datetime] = ()
    first_commit_at: datetime | None = None
    author: str = ""
    link: str = ""
    changes: str = ""
    hosts: Sequence[str] = ()
    status: str = "succeeded"
    deployed_at: datetime | None = None  # now when not given


@dataclass
class DeployChange:
    """What ``PATCH /api/v1/deploys/{id}`` may change; ``None`` leaves a field alone, and
    ``unlink_incident`` removes the incident link."""

    status: str | None = None
    incident_id: int | None = None
    unlink_incident: bool = False
    link: str | None = None
    changes: str | None = None
    fields: list[str] = field(default_factory=list)


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def bare_host(name: str) -> str:
    """A host name without a port (``web-1:9100`` → ``web-1``, ``[::1]:9100`` → ``::1``), as
    a Prometheus ``instance`` label names it."""
    if name.startswith("["):
        return name[1:].split("]", 1)[0]
    head, colon, port = name.rpartition(":")
    return head if colon and port.isdigit() and ":" not in head else name


def active_freeze(section: ReleasesSection, service: str, at: datetime) -> FreezePeriod | None:
    """The freeze period covering ``service`` at ``at``, if any."""
    for freeze in section.freezes:
        if (not freeze.services or service in freeze.services) and (
            utc(freeze.start) <= at < utc(freeze.end)
        ):
            return freeze
    return None


def diff_url(service: Service | None, deploy: Deploy) -> str:
    """Where to read what the deploy changed: the repository's compare view from the commit
    it replaced (``<repository>/compare/<previous>...<commit>``), else the commit, else the
    deploy's own link ("" when there is none)."""
    repo = (service.repository if service else "").rstrip("/").removesuffix(".git")
    if repo and deploy.commit_sha:
        if deploy.previous_commit and deploy.previous_commit != deploy.commit_sha:
            return f"{repo}/compare/{deploy.previous_commit}...{deploy.commit_sha}"
        return f"{repo}/commit/{deploy.commit_sha}"
    return deploy.link


def _check(
    section: ReleasesSection, data: DeployInput, now: datetime
) -> tuple[Service | None, str, datetime, list[tuple[str, str]]]:
    """Check every field; return the service, the environment, the deploy time and the
    problems found (field, message)."""
    errors: list[tuple[str, str]] = []
    service = next((s for s in section.services if s.name == data.service), None)
    environment = data.environment
    if not data.service:
        errors.append(("service", "must not be empty"))
    elif service is None:
        known = ", ".join(s.name for s in section.services) or "none"
        errors.append(
            ("service", f'no service "{data.service}" is declared in the plan (declared: {known})')
        )
    if service is not None:
        environment = environment or service.environments[0]
        if environment not in service.environments:
            errors.append(
                (
                    "environment",
                    f'service "{service.name}" has no environment "{environment}" (its '
                    f"environments: {', '.join(service.environments)})",
                )
            )
        try:
            parse(data.version, service.versioning, service.calver_format)
        except VersionInvalid as exc:
            errors.append(("version", str(exc)))
    elif not data.version:
        errors.append(("version", "must not be empty"))
    if data.commit_sha and not _SHA.fullmatch(data.commit_sha):
        errors.append(("commit_sha", "must be a commit hash: 4 to 64 hexadecimal digits"))
    if data.link and (len(data.link) > 1000 or not _URL.fullmatch(data.link)):
        errors.append(("link", "must be an http(s) URL of at most 1000 characters"))
    if data.status not in STATUSES:
        errors.append(("status", f'"{data.status}" is not one of {", ".join(STATUSES)}'))
    if len(data.author) > 128:
        errors.append(("author", "at most 128 characters"))
    if len(data.changes) > MAX_CHANGES:
        errors.append(("changes", f"at most {MAX_CHANGES:,} characters"))
    if len(data.hosts) > MAX_HOSTS:
        errors.append(("hosts", f"at most {MAX_HOSTS} hosts"))
    for i, host in enumerate(data.hosts):
        if not _HOST.fullmatch(host):
            errors.append((f"hosts[{i}]", f'"{host[:80]}" is not a host name'))
    at = utc(data.deployed_at) if data.deployed_at else now
    if at > now + FUTURE_SLACK:
        errors.append(("deployed_at", "is in the future"))
    if len(data.commit_times) > MAX_COMMITS:
        errors.append(("commit_times", f"at most {MAX_COMMITS} commits"))
    for i, moment in enumerate(data.commit_times):
        if utc(moment) > at:
            errors.append((f"commit_times[{i}]", "is after deployed_at"))
    if data.first_commit_at is not None and utc(data.first_commit_at) > at:
        errors.append(("first_commit_at", "is after deployed_at"))
    return service, environment, at, errors


def previous_deploy(
    db: Session, service: str, environment: str, before: datetime | None = None
) -> Deploy | None:
    """The last successful deploy of ``service`` to ``environment`` before ``before`` (what
    a deploy at ``before`` replaced); the latest one when ``before`` is None."""
    query = select(Deploy).where(
        Deploy.service == service,
        Deploy.environment == environment,
        Deploy.status == "succeeded",
    )
    if before is not None:
        query = query.where(Deploy.deployed_at < before)
    return db.scalars(query.order_by(Deploy.deployed_at.desc(), Deploy.id.desc()).limit(1)).first()


def record(
    db: Session, section: ReleasesSection, data: DeployInput, actor: Actor, now: datetime
) -> Deploy:
    """Record a deploy; raise ValidationFailed naming every field that does not fit.

    The version and commit it replaced come from the last successful deploy of the service
    to the environment; ``in_freeze`` names the freeze period it fell in (recorded, never
    refused); the gate starts ``pending`` when the service has one.
    """
    service, environment, at, errors = _check(section, data, now)
    if errors or service is None:
        raise ValidationFailed("invalid deploy", errors)
    before = previous_deploy(db, service.name, environment, at)
    freeze = active_freeze(section, service.name, at)
    commit_times = sorted(utc(t) for t in data.commit_times)
    first_commit = data.first_commit_at or (commit_times[0] if commit_times else None)
    gate, detail = "skipped", {"reason": "the service has no release gate"}
    if service.gate is not None:
        gate, detail = "pending", {}
        if data.status in ("failed", "rolled_back"):
            gate, detail = "skipped", {"reason": f"the deploy {data.status.replace('_', ' ')}"}
    deploy = Deploy(
        service=service.name,
        version=data.version,
        environment=environment,
        commit_sha=data.commit_sha.lower(),
        commit_times=[t.isoformat() for t in commit_times],
        first_commit_at=utc(first_commit) if first_commit else None,
        author=data.author.strip(),
        link=data.link,
        changes=data.changes,
        hosts=list(dict.fromkeys(h.lower() for h in data.hosts)),
        previous_version=before.version if before else "",
        previous_commit=before.commit_sha if before else "",
        status=data.status,
        gate=gate,
        gate_detail=detail,
        in_freeze=freeze.name if freeze else "",
        deployed_at=at,
        recorded_at=now,
        recorded_by=actor.name[:128],
    )
    db.add(deploy)
    db.flush()
    audit.record(
        db,
        actor,
        "deploy.record",
        f"deploy:{deploy.id}",
        {"service": service.name, "version": data.version, "environment": environment},
    )
    DEPLOYS.labels(service.name, environment).inc()
    return deploy


def get(db: Session, deploy_id: int) -> Deploy:
    """The deploy ``deploy_id``; raise NotFoundError."""
    deploy = db.get(Deploy, deploy_id)
    if deploy is None:
        raise NotFoundError(f"no deploy #{deploy_id}")
    return deploy


def update(db: Session, deploy_id: int, change: DeployChange, actor: Actor) -> Deploy:
    """Change a deploy's status, incident link, link or changes; raise NotFoundError, or
    ValidationFailed naming the field. A deploy that fails or is rolled back while its gate
    is pending is not judged (the gate is ``skipped``)."""
    deploy = get(db, deploy_id)
    errors: list[tuple[str, str]] = []
    if change.status is not None and change.status not in STATUSES:
        errors.append(("status", f'"{change.status}" is not one of {", ".join(STATUSES)}'))
    if change.incident_id is not None and db.get(Incident, change.incident_id) is None:
        errors.append(("incident_id", f"no incident #{change.incident_id}"))
    if change.link and (len(change.link) > 1000 or not _URL.fullmatch(change.link)):
        errors.append(("link", "must be an http(s) URL of at most 1000 characters"))
    if change.changes is not None and len(change.changes) > MAX_CHANGES:
        errors.append(("changes", f"at most {MAX_CHANGES:,} characters"))
    if errors:
        raise ValidationFailed("invalid change", errors)
    detail: dict[str, Any] = {}
    if change.status is not None and change.status != deploy.status:
        detail["status"] = [deploy.status, change.status]
        deploy.status = change.status
        if change.status in ("failed", "rolled_back") and deploy.gate == "pending":
            deploy.gate = "skipped"
            deploy.gate_detail = {"reason": f"the deploy {change.status.replace('_', ' ')}"}
    if change.unlink_incident or change.incident_id is not None:
        new = None if change.unlink_incident else change.incident_id
        if new != deploy.incident_id:
            detail["incident_id"] = [deploy.incident_id, new]
            deploy.incident_id = new
    if change.link is not None and change.link != deploy.link:
        detail["link"] = change.link
        deploy.link = change.link
    if change.changes is not None and change.changes != deploy.changes:
        detail["changes"] = "edited"
        deploy.changes = change.changes
    if detail:
        db.flush()
        audit.record(db, actor, "deploy.update", f"deploy:{deploy.id}", detail)
    return deploy


def host_matches(deploy: Deploy, service: Service | None, hosts: Iterable[str]) -> bool:
    """True when the deploy went to one of ``hosts``: those it names, or, when it names none,
    those its service's ``hosts`` globs match."""
    names = deploy.hosts or (service.hosts if service else [])
    return any(matches_any(bare_host(h), names) for h in hosts if h)


def list_deploys(
    db: Session,
    section: ReleasesSection,
    *,
    services: Sequence[str] = (),
    hosts: Sequence[str] = (),
    environment: str = "",
    start: datetime | None = None,
    end: datetime | None = None,
    status: Sequence[str] = (),
    gate: Sequence[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Deploy], int]:
    """Deploys newest first, and how many match in all.

    ``services`` and ``hosts`` together select deploys of one of the services *or* to one of
    the hosts (what a chart showing both labels wants); ``start``/``end`` bound deployed_at
    (end excluded).
    """
    query = select(Deploy)
    if environment:
        query = query.where(Deploy.environment == environment)
    if start is not None:
        query = query.where(Deploy.deployed_at >= utc(start))
    if end is not None:
        query = query.where(Deploy.deployed_at < utc(end))
    if status:
        query = query.where(Deploy.status.in_(list(status)))
    if gate:
        query = query.where(Deploy.gate.in_(list(gate)))
    query = query.order_by(Deploy.deployed_at.desc(), Deploy.id.desc())
    if hosts:
        by_name = {s.name: s for s in section.services}
        wanted = set(services)
        rows = [
            d
            for d in db.scalars(query.limit(MAX_SCAN))
            if d.service in wanted or host_matches(d, by_name.get(d.service), hosts)
        ]
        return rows[offset : offset + limit], len(rows)
    if services:
        query = query.where(Deploy.service.in_(list(services)))
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return list(db.scalars(query.limit(limit).offset(offset))), int(total or 0)


def latest_by_environment(db: Session, service: Service) -> dict[str, Deploy]:
    """The newest successful deploy of ``service`` to each of its environments (those it
    never reached are absent)."""
    found: dict[str, Deploy] = {}
    for environment in service.environments:
        latest = previous_deploy(db, service.name, environment)
        if latest is not None:
            found[environment] = latest
    return found
