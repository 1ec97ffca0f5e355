"""The audits Watchkeeper runs, each as one report: a host (by its agent), the server itself
(its host's checks plus its own posture, stored as ``watchkeeper://HOSTNAME``), and each
audited TLS endpoint (stored as ``tls://HOST:PORT``). Also an admin's "audit now": a request
left in the store for whoever runs that audit — the hardening service (the server and the
endpoints, on the ``hardening`` leader) or an agent, which picks it up when it next asks
for its profile. Nothing is audited inside the HTTP request, and repeated requests before
the audit runs make one audit."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.agent.wire import HOST_RE
from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.security.hardening.endpoints import audited_endpoints
from watchkeeper.security.hardening.interface import AuditContext, Endpoint, Scope
from watchkeeper.security.hardening.own_files import server_files
from watchkeeper.security.hardening.profiles import AppliedProfile, default, for_host
from watchkeeper.security.hardening.runner import Report, run_checks
from watchkeeper.security.hardening.runs import SERVER_PREFIX, host_kind
from watchkeeper.security.section import load_section
from watchkeeper.settings import Settings
from watchkeeper.store.tables import Meta, utcnow

ENDPOINT_WORKERS = 4
REQUEST_PREFIX = "hardening_request:"


def machine_name() -> str:
    return socket.gethostname() or "localhost"


def server_host(machine: str | None = None) -> str:
    """The pseudo-host the server's own audits are stored under."""
    return f"{SERVER_PREFIX}{machine or machine_name()}"


def server_profile(db: Session, machine: str | None = None) -> AppliedProfile:
    """The profiles matching this machine's name, merged; the defaults when none does."""
    section = load_section(db)
    return for_host(section.hardening, machine or machine_name()) or default()


def audit_server(
    settings: Settings,
    sessions: Callable[[], Session] | None,
    applied: AppliedProfile,
    *,
    root: Path = Path("/"),
    machine: str | None = None,
) -> Report:
    """Audit this machine and Watchkeeper's own posture (``sessions``: the store, None when
    there is none to look at)."""
    ctx = AuditContext(
        profile=applied.profile,
        root=root,
        own_files=server_files(settings),
        settings=settings,
        sessions=sessions,
    )
    scopes: tuple[Scope, ...] = ("host", "server") if sessions is not None else ("host",)
    return run_checks(ctx, scopes, host=server_host(machine), profile=applied.label)


def audit_host(
    applied: AppliedProfile, host: str, own_files: Sequence[tuple[str, Path]] = ()
) -> Report:
    """Audit this machine as an agent does."""
    ctx = AuditContext(profile=applied.profile, own_files=own_files)
    return run_checks(ctx, ("host",), host=host, profile=applied.label)


def audit_endpoint(endpoint: Endpoint, applied: AppliedProfile, timeout: float = 5.0) -> Report:
    """Audit one TLS endpoint's configuration."""
    ctx = AuditContext(profile=applied.profile, endpoint=endpoint, network_timeout=timeout)
    return run_checks(ctx, ("endpoint",), host=endpoint.name, profile=applied.label)


def audit_endpoints(
    endpoints: Sequence[Endpoint], applied: AppliedProfile, timeout: float = 5.0
) -> list[Report]:
    """Audit endpoints, a few at a time (each waits mostly on the network)."""
    if not endpoints:
        return []
    with ThreadPoolExecutor(min(ENDPOINT_WORKERS, len(endpoints))) as pool:
        return list(pool.map(lambda e: audit_endpoint(e, applied, timeout), endpoints))


def _request_key(host: str) -> str:
    return REQUEST_PREFIX + hashlib.sha256(host.encode()).hexdigest()[:64]


def request_run(db: Session, host: str) -> datetime:
    """Ask for an audit of ``host`` now: by its agent at its next profile request, or by the
    hardening service at its next pass for the server and the endpoints (the caller
    commits)."""
    now = utcnow()
    row = db.get(Meta, _request_key(host))
    if row is None:
        db.add(Meta(key=_request_key(host), value=now.isoformat(), updated_at=now))
    else:
        row.value, row.updated_at = now.isoformat(), now
    return now


def requested_at(db: Session, host: str) -> datetime | None:
    """When an admin last asked for an audit of ``host`` now (None: never)."""
    row = db.get(Meta, _request_key(host))
    return row.updated_at if row else None


def requests(db: Session, hosts: Iterable[str]) -> dict[str, datetime]:
    """When an audit now was last asked for each of ``hosts`` (hosts never asked are
    absent)."""
    keys = {_request_key(host): host for host in hosts}
    if not keys:
        return {}
    rows = db.execute(select(Meta.key, Meta.updated_at).where(Meta.key.in_(list(keys)))).all()
    return {keys[key]: at for key, at in rows}


def pending(asked: datetime | None, last_ran: datetime | None) -> bool:
    """Whether an audit asked for at ``asked`` has not run yet (the last one ran before)."""
    return asked is not None and (last_ran is None or asked > last_ran)


@dataclass(frozen=True)
class AuditNow:
    """What an "audit now" asked: the hosts to audit, and when."""

    requested: list[str]
    requested_at: datetime


def audit_now(db: Session, settings: Settings, actor: Actor, host: str | None) -> AuditNow:
    """An admin's "audit now", queued and recorded in the audit trail (commits): without
    ``host`` the server and every endpoint; the server, an endpoint or an agent's host alone.
    Raise NotFoundError for an endpoint not audited here or another server, ValidationFailed
    for a name that is no host."""
    kind = host_kind(host) if host else None
    if host is not None and kind == "host" and not HOST_RE.fullmatch(host):
        raise ValidationFailed(
            "invalid host", [("host", f'"{host}" is not a host name, server or endpoint')]
        )
    endpoints = [e.name for e in audited_endpoints(db, settings)]
    if kind == "endpoint" and host not in endpoints:
        raise NotFoundError(
            f'"{host}" is not an endpoint of the plan\'s http or tls checks nor this '
            "server's listener"
        )
    if kind == "server" and host != server_host():
        raise NotFoundError(f'"{host}" is not this server ({server_host()})')
    hosts = [host] if host is not None else [server_host(), *endpoints]
    at = utcnow()
    for name in hosts:
        at = request_run(db, name)
    audit.record(db, actor, "hardening.request", host or "server and endpoints", {"hosts": hosts})
    db.commit()
    return AuditNow(hosts, at)
