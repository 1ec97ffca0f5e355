"""Evidence from operations: checks that pass, alert rules that reach someone, incidents
followed by a published postmortem, and database maintenance that ran."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.alerts.config import AlertRule
from watchkeeper.alerts.dispatch import load_config
from watchkeeper.alerts.routing import match
from watchkeeper.dbmaint.section import load_section as load_databases
from watchkeeper.globs import matches_any
from watchkeeper.notify.outbox import CHANNELS_KIND
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    NoParams,
    evidence_query,
    verdict,
    when,
)
from watchkeeper.security.compliance.freshness import check_allowance
from watchkeeper.store.tables import (
    CheckStatus,
    DbMaintenanceRun,
    Incident,
    Postmortem,
    StoredObject,
)

IncidentSeverity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]
MAX_FACTS = 100


class ChecksParams(EvidenceParams):
    min_ratio: float = Field(
        1.0, ge=0.0, le=1.0, description="Share of the judged checks that must be up (0..1)."
    )
    checks: list[str] = Field(
        default_factory=lambda: ["*"], description="Check name globs (default: all)."
    )


class PostmortemParams(EvidenceParams):
    within: Duration = Field(
        timedelta(days=14), description="Time allowed to publish after the incident resolved."
    )
    severities: list[IncidentSeverity] = Field(
        default_factory=lambda: list[IncidentSeverity](["SEV1", "SEV2"]),
        description="Incident severities that need one.",
    )
    period: Duration = Field(
        timedelta(days=365), description="Incidents resolved this far back are judged."
    )


class MaintenanceParams(EvidenceParams):
    within: Duration = Field(timedelta(days=7), description="How recent the run must be.")
    databases: list[str] = Field(
        default_factory=lambda: ["*"], description="Database name globs (default: all)."
    )


@evidence_query("checks_passing", ChecksParams)
def checks_passing(db: Session, params: ChecksParams, now: datetime) -> Evidence:
    """At least ``min_ratio`` of the plan's checks matching ``checks`` are up on a recent
    run; a check that has not run for three of its intervals counts as not passing (its
    checker stopped: its last status is old news); pending checks, not run yet, are not
    judged."""
    specs = {
        obj.name: obj.spec
        for obj in db.scalars(
            select(StoredObject).where(StoredObject.kind == "checks").order_by(StoredObject.name)
        )
        if matches_any(obj.name, params.checks, case_sensitive=True)
    }
    names = list(specs)
    states = {s.name: s for s in db.scalars(select(CheckStatus).where(CheckStatus.name.in_(names)))}
    facts = []
    for name in names:
        state = states.get(name)
        if state is None or state.status not in ("up", "down"):
            facts.append(Fact(name, "unknown", "not run yet"))
        elif state.last_run_at is None or now - state.last_run_at > check_allowance(specs[name]):
            ran = f"last ran {when(state.last_run_at)}" if state.last_run_at else "no run recorded"
            facts.append(Fact(name, "fail", f"{ran}: not being run ({state.status} then)"))
        elif state.status == "up":
            facts.append(Fact(name, "pass", f"up since {when(state.changed_at)}"))
        else:
            message = f": {state.last_message[:200]}" if state.last_message else ""
            facts.append(Fact(name, "fail", f"down since {when(state.changed_at)}{message}"))
    judged = [f for f in facts if f.status != "unknown"]
    if not judged:
        what = "no check" if not names else "no check has run yet"
        return Evidence("unknown", f"The plan has {what} to judge.", tuple(facts[:MAX_FACTS]))
    up = sum(1 for f in judged if f.status == "pass")
    ratio = up / len(judged)
    ok = ratio >= params.min_ratio
    summary = f"Checks up: {up} of {len(judged)} ({ratio:.0%}; needed {params.min_ratio:.0%})"
    down = [f.subject for f in judged if f.status == "fail"]
    if down:
        summary += f"; not up: {', '.join(down[:5])}" + (" …" if len(down) > 5 else "")
    failing_first = sorted(facts, key=lambda f: ("fail", "unknown", "pass").index(f.status))
    return Evidence("pass" if ok else "fail", summary + ".", tuple(failing_first[:MAX_FACTS]))


def _static_labels(rule: AlertRule) -> dict[str, str]:
    """The labels every alert of ``rule`` has whatever it fires on: its name, severity and
    its labels without templates (a templated one depends on the result)."""
    labels = {k: v for k, v in rule.labels.items() if "{{" not in v}
    labels.setdefault("severity", rule.severity)
    labels["alertname"] = rule.name
    return labels


@evidence_query("alerts_routed", NoParams)
def alerts_routed(db: Session, params: NoParams, now: datetime) -> Evidence:
    """Every alert rule of the plan reaches a notification channel that exists: the routing
    tree (``alerts.route``) takes an alert with the rule's fixed labels to a route that
    names receivers, and each receiver is a channel of ``notifications.channels``."""
    config = load_config(db)
    channels = set(db.scalars(select(StoredObject.name).where(StoredObject.kind == CHANNELS_KIND)))
    rules = sorted(config.rules.values(), key=lambda r: r.name)
    if not rules:
        return Evidence("unknown", "The plan has no alert rules to judge.")
    if config.tree is None:
        return Evidence(
            "fail",
            f"The plan has {len(rules)} alert rules but no routing tree (`alerts.route`): "
            "their alerts reach no one.",
        )
    facts = []
    for rule in rules:
        nodes = [n for n in match(config.tree, _static_labels(rule)) if n.receivers]
        receivers = sorted({r for n in nodes for r in n.receivers})
        missing = [r for r in receivers if r not in channels]
        if not receivers:
            facts.append(Fact(rule.name, "fail", "no route with a receiver takes its alerts"))
        elif missing:
            facts.append(Fact(rule.name, "fail", f"routed to {', '.join(missing)}, not a channel"))
        else:
            facts.append(Fact(rule.name, "pass", f"reaches {', '.join(receivers)}"))
    routed = sum(1 for f in facts if f.status == "pass")
    summary = f"Alert rules that reach a notification channel: {routed} of {len(facts)}"
    lost = [f.subject for f in facts if f.status == "fail"]
    if lost:
        summary += f"; not: {', '.join(lost[:5])}" + (" …" if len(lost) > 5 else "")
    return Evidence(verdict(facts), summary + ".", tuple(facts[:MAX_FACTS]))


@evidence_query("incident_postmortems_done", PostmortemParams)
def incident_postmortems_done(db: Session, params: PostmortemParams, now: datetime) -> Evidence:
    """Every incident of ``severities`` (drills left out) resolved in the last ``period`` has
    a published postmortem once ``within`` has passed since it was resolved."""
    rows = db.execute(
        select(Incident, Postmortem.status)
        .outerjoin(Postmortem, Postmortem.incident_id == Incident.id)
        .where(
            Incident.status == "resolved",
            Incident.drill == "",
            Incident.severity.in_(params.severities),
            Incident.resolved_at >= now - params.period,
        )
        .order_by(Incident.resolved_at)
    ).all()
    facts = []
    for incident, status in rows:
        subject = f"#{incident.id} {incident.title[:80]}"
        resolved = incident.resolved_at or incident.opened_at
        due = resolved + params.within
        if status == "published":
            facts.append(Fact(subject, "pass", f"{incident.severity}, postmortem published"))
        elif due > now:
            facts.append(
                Fact(subject, "pass", f"{incident.severity}, postmortem due by {when(due)}")
            )
        else:
            state = "still a draft" if status == "draft" else "none written"
            facts.append(
                Fact(subject, "fail", f"{incident.severity}, resolved {when(resolved)}: {state}")
            )
    severities = "/".join(params.severities)
    if not facts:
        return Evidence(
            "pass",
            f"No {severities} incident was resolved in the last "
            f"{format_duration(params.period)}, so none needed a postmortem.",
        )
    done = sum(1 for f in facts if "published" in f.detail)
    late = [f for f in facts if f.status == "fail"]
    summary = (
        f"{severities} incidents of the last {format_duration(params.period)} with a published "
        f"postmortem: {done} of {len(facts)}"
    )
    if late:
        summary += f"; overdue (more than {format_duration(params.within)}): " + ", ".join(
            f.subject.split(" ", 1)[0] for f in late[:5]
        )
    return Evidence(verdict(facts), summary + ".", tuple(facts[-MAX_FACTS:]))


@evidence_query("database_maintenance_ran", MaintenanceParams)
def database_maintenance_ran(db: Session, params: MaintenanceParams, now: datetime) -> Evidence:
    """Every database of the plan matching ``databases`` had a maintenance task (vacuum,
    analyze, reindex, optimize...) finish successfully within ``within``; dry runs do not
    count."""
    targets = [
        t
        for t in load_databases(db).targets
        if matches_any(t.name, params.databases, case_sensitive=True)
    ]
    if not targets:
        return Evidence(
            "unknown", f"The plan has no database matching {', '.join(params.databases)}."
        )
    facts = []
    for target in targets:
        if not target.maintenance:
            facts.append(Fact(target.name, "fail", "no maintenance task in the plan"))
            continue
        last = db.scalar(
            select(DbMaintenanceRun)
            .where(
                DbMaintenanceRun.database == target.name,
                DbMaintenanceRun.status == "succeeded",
                DbMaintenanceRun.dry_run.is_(False),
            )
            .order_by(DbMaintenanceRun.started_at.desc(), DbMaintenanceRun.id.desc())
            .limit(1)
        )
        at = (last.finished_at or last.started_at) if last is not None else None
        if at is not None and now - at <= params.within:
            assert last is not None
            facts.append(Fact(target.name, "pass", f"{last.task} succeeded {when(at)}"))
        else:
            facts.append(Fact(target.name, "fail", f"last successful maintenance: {when(at)}"))
    done = sum(1 for f in facts if f.status == "pass")
    within = format_duration(params.within)
    summary = f"Databases maintained in the last {within}: {done} of {len(facts)}"
    behind = [f.subject for f in facts if f.status == "fail"]
    if behind:
        summary += f"; not: {', '.join(behind[:5])}"
    return Evidence(verdict(facts), summary + ".", tuple(facts[:MAX_FACTS]))
