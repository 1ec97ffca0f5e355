"""Evidence from the backups: restore drills that passed, their measured RTO, and fresh
backups — read from the plan's ``backups`` section and the ``backup_runs`` rows."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy.orm import Session

from watchkeeper.backups.config import Policy
from watchkeeper.backups.latest_runs import FINISHED, ended, latest_run
from watchkeeper.backups.views import load_section, max_age
from watchkeeper.globs import matches_any
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    counted,
    evidence_query,
    verdict,
    when,
)
from watchkeeper.security.compliance.wording import span

PoliciesField = Field(
    default_factory=lambda: ["*"], description="Backup policy name globs (default: all)."
)


class DrillsParams(EvidenceParams):
    within: Duration = Field(timedelta(days=7), description="How recent the passing drill must be.")
    policies: list[str] = PoliciesField


class RtoParams(EvidenceParams):
    objective: Duration = Field(description="The recovery time objective drills must meet.")
    within: Duration = Field(
        timedelta(days=30), description="Only drills that ended this recently count."
    )
    policies: list[str] = PoliciesField


class FreshParams(EvidenceParams):
    policies: list[str] = PoliciesField


def _policies(db: Session, globs: list[str]) -> list[Policy]:
    return [p for p in load_section(db).policies if matches_any(p.name, globs, case_sensitive=True)]


def _none_matched(globs: list[str]) -> Evidence:
    return Evidence("unknown", f"The plan has no backup policy matching {', '.join(globs)}.")


@evidence_query("backup_drills_passed", DrillsParams)
def backup_drills_passed(db: Session, params: DrillsParams, now: datetime) -> Evidence:
    """The latest restore drill of every matching backup policy passed, within ``within``:
    the latest snapshot was restored into a scratch target and verified. A drill that
    failed since the last passing one fails the query."""
    policies = _policies(db, params.policies)
    if not policies:
        return _none_matched(params.policies)
    facts, passed = [], []
    for policy in policies:
        last = latest_run(db, policy.name, "drill", statuses=FINISHED)
        if last is not None and last.status == "succeeded" and now - ended(last) <= params.within:
            rto = f" (RTO {span(last.rto_s)})" if last.rto_s is not None else ""
            facts.append(Fact(policy.name, "pass", f"drill passed {when(ended(last))}{rto}"))
            passed.append((policy.name, ended(last)))
            continue
        if last is not None and last.status == "failed":
            reason = f": {last.error.splitlines()[0][:200]}" if last.error.strip() else ""
            detail = f"last drill failed {when(ended(last))}{reason}"
        elif last is not None:
            within = format_duration(params.within)
            detail = f"last drill passed {when(ended(last))}, over {within} ago"
        elif policy.drill is None:
            detail = "restore drills are off for this policy"
        else:
            detail = "no restore drill has run"
        facts.append(Fact(policy.name, "fail", detail))
    summary = (
        f"{counted(len(passed), len(policies), 'backup policy', 'backup policies')} had a "
        f"passing restore drill in the last {format_duration(params.within)}"
    )
    if passed:
        name, at = max(passed, key=lambda p: p[1])
        summary += f"; last: {name} {when(at)}"
    return Evidence(verdict(facts), summary + ".", tuple(facts))


@evidence_query("restore_rto_under", RtoParams)
def restore_rto_under(db: Session, params: RtoParams, now: datetime) -> Evidence:
    """The latest passing restore drill of every matching policy, within ``within``, restored
    in less than ``objective`` (the measured RTO)."""
    policies = _policies(db, params.policies)
    if not policies:
        return _none_matched(params.policies)
    facts = []
    for policy in policies:
        good = latest_run(db, policy.name, "drill")
        if good is None or now - ended(good) > params.within or good.rto_s is None:
            facts.append(
                Fact(
                    policy.name,
                    "fail",
                    "no passing drill measured a restore time in the last "
                    + format_duration(params.within),
                )
            )
            continue
        ok = good.rto_s <= params.objective.total_seconds()
        facts.append(
            Fact(
                policy.name,
                "pass" if ok else "fail",
                f"RTO {span(good.rto_s)} in the drill of {when(ended(good))} "
                f"({'within' if ok else 'over'} {format_duration(params.objective)})",
            )
        )
    within = sum(1 for f in facts if f.status == "pass")
    summary = (
        f"{counted(within, len(policies), 'backup policy', 'backup policies')} restored within "
        f"the {format_duration(params.objective)} objective in their latest drill"
    )
    failing = next((f for f in facts if f.status == "fail"), None)
    if failing is not None:
        summary += f"; {failing.subject}: {failing.detail}"
    return Evidence(verdict(facts), summary + ".", tuple(facts))


@evidence_query("backups_fresh", FreshParams)
def backups_fresh(db: Session, params: FreshParams, now: datetime) -> Evidence:
    """Every repository of every matching policy holds a successful backup no older than
    the policy allows (``freshness.max_age``, by default twice the schedule's interval)."""
    policies = _policies(db, params.policies)
    if not policies:
        return _none_matched(params.policies)
    facts = []
    for policy in policies:
        limit = max_age(policy, now)
        for repository in policy.repositories:
            good = latest_run(db, policy.name, "backup", repository=repository)
            subject = f"{policy.name} → {repository}"
            at = ended(good) if good is not None else None
            ok = at is not None and now - at <= limit
            age = f", {span(now - at)} ago" if at is not None else ""
            facts.append(
                Fact(
                    subject,
                    "pass" if ok else "fail",
                    f"last good backup {when(at)}{age} (allowed: {span(limit)})",
                )
            )
    fresh = sum(1 for f in facts if f.status == "pass")
    summary = (
        f"{counted(fresh, len(facts), 'backup target')} ({len(policies)} "
        f"polic{'y' if len(policies) == 1 else 'ies'}) hold a backup within the policy's "
        "freshness limit"
    )
    stale = [f for f in facts if f.status == "fail"]
    if stale:
        summary += f"; late: {', '.join(f.subject for f in stale[:3])}"
    return Evidence(verdict(facts), summary + ".", tuple(facts))
