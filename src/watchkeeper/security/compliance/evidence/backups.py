"""Evidence from the backups: restore drills that passed, their measured RTO, and fresh
backups — read from the plan's ``backups`` section and the ``backup_runs`` rows."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.backups.config import Policy
from watchkeeper.backups.views import load_section, max_age
from watchkeeper.plan.types import Duration, format_duration
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceParams,
    Fact,
    counted,
    evidence_query,
    matches_any,
    verdict,
    when,
)
from watchkeeper.security.compliance.wording import span
from watchkeeper.store.tables import BackupRun

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
    return [p for p in load_section(db).policies if matches_any(p.name, globs)]


def _none_matched(globs: list[str]) -> Evidence:
    return Evidence("unknown", f"The plan has no backup policy matching {', '.join(globs)}.")


def _ended(run: BackupRun) -> datetime:
    return run.finished_at or run.started_at


def _last(db: Session, policy: str, kind: str, status: str | None = None) -> BackupRun | None:
    query = select(BackupRun).where(
        BackupRun.policy == policy, BackupRun.kind == kind, BackupRun.status != "running"
    )
    if status is not None:
        query = query.where(BackupRun.status == status)
    return db.scalar(query.order_by(BackupRun.started_at.desc(), BackupRun.id.desc()).limit(1))


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
        last = _last(db, policy.name, "drill")
        if last is not None and last.status == "succeeded" and now - _ended(last) <= params.within:
            rto = f" (RTO {span(last.rto_s)})" if last.rto_s is not None else ""
            facts.append(Fact(policy.name, "pass", f"drill passed {when(_ended(last))}{rto}"))
            passed.append((policy.name, _ended(last)))
            continue
        if last is not None and last.status == "failed":
            reason = f": {last.error.splitlines()[0][:200]}" if last.error.strip() else ""
            detail = f"last drill failed {when(_ended(last))}{reason}"
        elif last is not None:
            within = format_duration(params.within)
            detail = f"last drill passed {when(_ended(last))}, over {within} ago"
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
        good = _last(db, policy.name, "drill", "succeeded")
        if good is None or now - _ended(good) > params.within or good.rto_s is None:
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
                f"RTO {span(good.rto_s)} in the drill of {when(_ended(good))} "
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
            good = db.scalar(
                select(BackupRun)
                .where(
                    BackupRun.policy == policy.name,
                    BackupRun.repository == repository,
                    BackupRun.kind == "backup",
                    BackupRun.status == "succeeded",
                )
                .order_by(BackupRun.started_at.desc(), BackupRun.id.desc())
                .limit(1)
            )
            subject = f"{policy.name} → {repository}"
            at = _ended(good) if good is not None else None
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
