"""Evidence from the vulnerability audit: no open, unsuppressed finding of a given severity
whose fix has been available for longer than allowed (``security_findings``, with the
suppressions of the plan and of the UI/API), on a vulnerability database and inventories
that are current (:mod:`watchkeeper.security.compliance.freshness`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    Status,
    evidence_query,
    when,
)
from watchkeeper.security.compliance.freshness import (
    late_hosts,
    limits_by_host,
    newest_inventories,
    source_freshness,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.security.config import SEVERITIES, SecuritySection, Severity
from watchkeeper.security.section import load_section
from watchkeeper.security.suppressions import active_suppressions, suppressed_by
from watchkeeper.store.tables import Host, SecurityFinding

MAX_FACTS = 50


class FixAgeParams(EvidenceParams):
    age: Duration = Field(timedelta(days=30), description="How long a fix may have been available.")
    severity: Severity = Field(
        "critical", description="Least severity counted (`high`: critical and high)."
    )


def _hosts(count: int) -> str:
    return f"{count} host{'s' if count != 1 else ''}"


def _freshness(db: Session, section: SecuritySection, now: datetime) -> tuple[list[Fact], str]:
    """Facts about what the findings rest on: each OSV source of the plan imported on
    schedule, each agent host an inventory applies to inventoried on time (``unknown``
    where not); and a phrase saying so for the summary."""
    facts = []
    states = source_freshness(db, section.sources, now)
    for state in states:
        if state.failed_import is not None:
            detail = f"its last import failed ({when(state.failed_import.started_at)})"
        elif state.last_good is None:
            detail = "not imported yet"
        else:
            detail = f"imported {when(state.last_good)} ({span(now - state.last_good)} ago)"
        if state.status == "late":
            detail += f"; allowed: {span(state.limit)}"
        status: Status = "pass" if state.status == "fresh" else "unknown"
        facts.append(Fact(f"source {state.name}", status, detail))
    hosts = list(db.scalars(select(Host.name).order_by(Host.name)))
    limits = limits_by_host(hosts, [(i.hosts, i.interval) for i in section.inventories])
    late = late_hosts(limits, newest_inventories(db), now)
    for host, last in late.items():
        seen = f"last good inventory {when(last)}" if last is not None else "never inventoried"
        every = format_duration(limits[host])
        facts.append(Fact(f"host {host}", "unknown", f"{seen} (expected every {every})"))
    on_time = len(limits) - len(late)
    if not limits:
        facts.append(Fact("inventories", "unknown", "no agent host matches an inventory"))
    elif not late:
        facts.append(Fact("inventories", "pass", f"{_hosts(on_time)} inventoried on time"))
    fresh = sum(1 for s in states if s.status == "fresh")
    scope = (
        f"{fresh} of {len(states)} OSV source{'s' if len(states) != 1 else ''} imported on "
        f"schedule; {on_time} of {_hosts(len(limits))} inventoried on time"
    )
    return facts, scope


@evidence_query("no_vulnerability_with_fix_older_than", FixAgeParams)
def no_vulnerability_with_fix_older_than(
    db: Session, params: FixAgeParams, now: datetime
) -> Evidence:
    """No open, unsuppressed finding of ``severity`` or worse has had a fixed version
    available for longer than ``age``. The findings are only as good as what they rest on:
    unless every OSV source of the plan was imported on schedule and every agent host an
    inventory applies to reported a good inventory on time (the limits of the plan status),
    the answer is unknown — no finding is no evidence on stale data."""
    section = load_section(db)
    if not section.sources:
        return Evidence(
            "unknown", "The plan names no vulnerability source (`security.sources`) to import."
        )
    if not section.inventories:
        return Evidence(
            "unknown", "The plan names no inventory (`security.inventories`) to collect."
        )
    freshness, scope = _freshness(db, section, now)
    levels = SEVERITIES[: SEVERITIES.index(params.severity) + 1]
    worse = "" if params.severity == "critical" else " or worse"
    age = format_duration(params.age)
    rows = db.scalars(
        select(SecurityFinding)
        .where(
            SecurityFinding.resolved_at.is_(None),
            SecurityFinding.fixed_version != "",
            SecurityFinding.fix_seen.is_not(None),
            SecurityFinding.fix_seen <= now - params.age,
            SecurityFinding.severity.in_(levels),
        )
        .order_by(SecurityFinding.fix_seen, SecurityFinding.host, SecurityFinding.package)
    )
    suppressions = active_suppressions(db, section, now)
    overdue, hidden = [], 0
    for row in rows:
        if suppressed_by(row, suppressions, now) is not None:
            hidden += 1
            continue
        overdue.append(row)
    accepted = f"; {hidden} suppressed on purpose" if hidden else ""
    if overdue:
        facts = tuple(
            Fact(
                f"{r.host}: {r.package} {r.version}",
                "fail",
                f"{r.vuln_id} ({r.severity}): fix {r.fixed_version} available since "
                f"{when(r.fix_seen)} ({span(now - r.fix_seen) if r.fix_seen else '?'})",
            )
            for r in overdue[:MAX_FACTS]
        )
        oldest = overdue[0]
        return Evidence(
            "fail",
            f"{len(overdue)} open {params.severity}{worse} "
            f"vulnerabilit{'y has' if len(overdue) == 1 else 'ies have'} had a fix available "
            f"for more than {age}; oldest: {oldest.vuln_id} in {oldest.package} on "
            f"{oldest.host} since {when(oldest.fix_seen)} ({scope}{accepted}).",
            facts,
        )
    stale = [f for f in freshness if f.status == "unknown"]
    if stale:
        return Evidence(
            "unknown",
            f"No open {params.severity}{worse} vulnerability with a fix older than {age} is "
            f"known, but the data is not current ({scope}): "
            + ", ".join(f.subject for f in stale[:5])
            + (" …" if len(stale) > 5 else "")
            + ".",
            tuple(stale[:MAX_FACTS]),
        )
    return Evidence(
        "pass",
        f"No open {params.severity}{worse} vulnerability has had a fix available for more "
        f"than {age} ({scope}{accepted}).",
        (Fact("findings", "pass", f"none overdue{accepted}"), *freshness[:MAX_FACTS]),
    )
