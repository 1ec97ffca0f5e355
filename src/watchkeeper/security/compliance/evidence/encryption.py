"""Evidence about encryption: in transit (the plan's monitored endpoints use TLS, and the
hardening audit of those endpoints found no weak TLS settings) and at rest (every secret
Watchkeeper stores is sealed by its secrets service)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.globs import matches_any
from watchkeeper.plan import sealing
from watchkeeper.plan.catalog import stored_secrets
from watchkeeper.plan.types import format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    NoParams,
    evidence_query,
    verdict,
    when,
)
from watchkeeper.security.compliance.freshness import check_allowance, host_allowance
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import CheckStatus, HardeningRun, StoredObject, TotpCredential

_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".test")
_HTTP_TLS_ERRORS = ("TLS certificate", "TLS error")
MAX_FACTS = 100


class TlsParams(EvidenceParams):
    scope: Literal["public", "all"] = Field(
        "public",
        description="`public`: leave out endpoints on loopback, private or link-local "
        "addresses and internal names (`localhost`, `*.internal`, `*.local`, single labels); "
        "`all`: every endpoint.",
    )
    checks: list[str] = Field(
        default_factory=lambda: ["*"], description="Check name globs (default: all)."
    )


def internal_host(host: str) -> bool:
    """True for loopback/private/link-local addresses and names that only resolve inside
    a network (``localhost``, ``*.internal``, a name without a dot)."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(_INTERNAL_SUFFIXES)
    return not address.is_global


def _where(spec: dict[str, Any]) -> tuple[str, str]:
    """The host an http or tls check reaches, and how its facts name the endpoint (never
    the URL's credentials or query: tokens live there)."""
    if spec.get("type") == "tls":
        host = str(spec.get("host", ""))
        return host, f"{host}:{spec.get('port', 443)}"
    parts = urlsplit(str(spec.get("url", "")))
    return parts.hostname or "", f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _check_fact(
    name: str, spec: dict[str, Any], state: CheckStatus | None, where: str, now: datetime
) -> Fact:
    """What the latest run of an https or tls check says about TLS on its endpoint: only a
    recent run counts (a stopped checker keeps its last status forever)."""
    last_run = state.last_run_at if state is not None else None
    if state is None or last_run is None or state.status not in ("up", "down"):
        return Fact(name, "unknown", f"{where}: the check has not run yet")
    if now - last_run > check_allowance(spec):
        return Fact(
            name,
            "unknown",
            f"{where}: the check last ran {span(now - last_run)} ago; it is not being run",
        )
    if state.status == "up":
        what = (
            "TLS check passing" if spec.get("type") == "tls" else "over TLS, certificate verified"
        )
        return Fact(name, "pass", f"{where}: {what} (checked {when(last_run)})")
    message = state.last_message[:200] or "down"
    # A tls check is down for its certificate or handshake; an http check also for its
    # status or body, so only its TLS errors (checks/http.py words them so) say no.
    if spec.get("type") == "tls" or message.startswith(_HTTP_TLS_ERRORS):
        return Fact(name, "fail", f"{where}: {message}")
    return Fact(name, "unknown", f"{where}: the check is down ({message}); TLS not confirmed")


def _endpoint_facts(db: Session, params: TlsParams, now: datetime) -> tuple[list[Fact], int]:
    """Facts about the plan's http and tls checks matching ``params``: in scope, each is
    judged by its configuration and its latest run; and how many were left out of scope."""
    states = {s.name: s for s in db.scalars(select(CheckStatus))}
    facts, skipped = [], 0
    for obj in db.scalars(
        select(StoredObject).where(StoredObject.kind == "checks").order_by(StoredObject.name)
    ):
        spec = obj.spec
        if spec.get("type") not in ("http", "tls") or not matches_any(
            obj.name, params.checks, case_sensitive=True
        ):
            continue
        host, where = _where(spec)
        if params.scope == "public" and internal_host(host):
            skipped += 1
        elif spec.get("type") == "http" and not where.startswith("https://"):
            facts.append(Fact(obj.name, "fail", f"{where} is not served over TLS"))
        elif spec.get("tls_verify") is False or spec.get("verify") is False:
            what = "tls_verify" if spec.get("type") == "http" else "verify"
            facts.append(
                Fact(obj.name, "fail", f"{where}: the certificate is not verified ({what})")
            )
        else:
            facts.append(_check_fact(obj.name, spec, states.get(obj.name), where, now))
    return facts, skipped


def _audit_facts(db: Session, judged: set[str], now: datetime) -> list[Fact]:
    """The latest hardening audit (hosts ``tls://host:port``) of each endpoint the
    ``judged`` checks reach, where there is one: its failed checks (protocol versions,
    ciphers, key size, HSTS); ``unknown`` when it is older than twice the audit interval."""
    # Imported here: the hardening audit of the server imports these evidence queries.
    from watchkeeper.security.hardening.audits import server_profile
    from watchkeeper.security.hardening.endpoints import plan_endpoints

    names = [e.name for e in plan_endpoints(db) if judged.intersection(e.checks)]
    if not names:
        return []
    interval = server_profile(db).profile.interval
    latest = (
        select(HardeningRun.host, func.max(HardeningRun.ran_at).label("ran_at"))
        .where(HardeningRun.host.in_(names))
        .group_by(HardeningRun.host)
        .subquery()
    )
    runs = db.scalars(
        select(HardeningRun)
        .join(
            latest,
            (HardeningRun.host == latest.c.host) & (HardeningRun.ran_at == latest.c.ran_at),
        )
        .order_by(HardeningRun.host)
    )
    facts = []
    for run in runs:
        if now - run.ran_at > host_allowance(interval):
            facts.append(
                Fact(
                    run.host,
                    "unknown",
                    f"last TLS audit {when(run.ran_at)}, {span(now - run.ran_at)} ago "
                    f"(expected every {format_duration(interval)})",
                )
            )
            continue
        failed = [r for r in run.results if r.get("status") == "fail"]
        if failed:
            detail = "; ".join(f"{r.get('id')}: {r.get('detail', '')}" for r in failed[:5])
            facts.append(Fact(run.host, "fail", f"TLS audit of {when(run.ran_at)}: {detail}"))
        else:
            facts.append(Fact(run.host, "pass", f"TLS audit of {when(run.ran_at)}: no weakness"))
    return facts


@evidence_query("tls_on_endpoints", TlsParams)
def tls_on_endpoints(db: Session, params: TlsParams, now: datetime) -> Evidence:
    """Every endpoint the plan monitors (``http`` checks and ``tls`` checks matching
    ``checks``) in ``scope`` is reached over https with a verified certificate, as its check
    found on a recent run (a check that has not run lately cannot vouch for it); and the
    latest hardening audit of each such endpoint, where there is one, is recent and found
    no weak setting."""
    facts, skipped = _endpoint_facts(db, params, now)
    left_out = f"; {skipped} internal endpoint(s) left out" if skipped else ""
    if not facts:
        return Evidence(
            "unknown", f"The plan monitors no {params.scope} endpoint to judge{left_out}."
        )
    audits = _audit_facts(db, {f.subject for f in facts}, now)
    good = sum(1 for f in facts if f.status == "pass")
    summary = f"Endpoints over TLS with a verified certificate: {good} of {len(facts)}{left_out}"
    failing = [f.subject for f in facts if f.status == "fail"]
    if failing:
        summary += f"; not: {', '.join(failing[:5])}"
    unsure = [f.subject for f in facts if f.status == "unknown"]
    if unsure:
        summary += f"; not confirmed by a recent check: {', '.join(unsure[:5])}"
    if audits:
        clean = sum(1 for f in audits if f.status == "pass")
        summary += f"; recent TLS audits without weakness: {clean} of {len(audits)}"
    all_facts = facts + audits
    return Evidence(verdict(all_facts), summary + ".", tuple(all_facts[:MAX_FACTS]))


def _at(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


@evidence_query("secrets_encrypted", NoParams)
def secrets_encrypted(db: Session, params: NoParams, now: datetime) -> Evidence:
    """Every secret Watchkeeper keeps is sealed (AES-256-GCM under a key derived from the
    installation's secret key): the secret values of the plan's objects (passwords, tokens,
    credentials in URLs) and the users' TOTP secrets, as they are in the store."""
    clear: list[Fact] = []
    unreadable: list[Fact] = []
    sealed = objects = 0
    for obj in stored_secrets(db):
        where = f"{obj.kind}/{obj.name}"
        if obj.paths is None:
            unreadable.append(Fact(where, "unknown", "does not validate"))
            continue
        values = [(p, _at(obj.stored, p)) for p in obj.paths]
        values = [(p, v) for p, v in values if isinstance(v, str) and v]
        objects += 1 if values else 0
        for path, value in values:
            if sealing.is_sealed(value):
                sealed += 1
            else:
                field_path = ".".join(str(p) for p in path)
                clear.append(Fact(where, "fail", f"{field_path} is stored in clear"))
    totp = list(db.scalars(select(TotpCredential.secret_enc)))
    totp_sealed = sum(1 for v in totp if sealing.is_sealed(v))
    total = sealed + len(clear)
    facts = [
        Fact(
            "plan secrets",
            "pass" if not clear else "fail",
            f"{sealed} of {total} secret values in {objects} objects sealed",
        ),
        Fact(
            "TOTP secrets",
            "pass" if totp_sealed == len(totp) else "fail",
            f"{totp_sealed} of {len(totp)} sealed",
        ),
        *clear,
        *unreadable,
    ]
    summary = (
        f"Stored secrets sealed: {sealed} of {total} plan secret values in {objects} objects, "
        f"{totp_sealed} of {len(totp)} TOTP secrets"
    )
    return Evidence(verdict(facts), summary + ".", tuple(facts[:MAX_FACTS]))
