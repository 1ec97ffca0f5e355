"""Backups: for every policy, the last good backup into each of its repositories (and copy
into each copy target) is younger than the policy's ``max_age`` (``freshness.max_age``, by
default twice the schedule's interval), and, when drills are on, the latest restore drill
from each repository passed and ended within twice the drill schedule's interval (the
``backup_runs`` table; the same limits as the backups alerts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy.orm import Session

from watchkeeper.backups.config import BackupsSection, Policy, copy_targets
from watchkeeper.backups.latest_runs import FINISHED, ended, first_good_backup, latest_run
from watchkeeper.backups.views import copy_max_age, drill_max_age, max_age
from watchkeeper.security.compliance.plan_sections.base import (
    Live,
    SectionResult,
    Tally,
    at,
    created_at,
    declared,
    load_section,
    not_in_plan,
    plural,
)
from watchkeeper.security.compliance.wording import span


def evaluate(db: Session, live: Live) -> SectionResult:
    if not declared(db, "backups"):
        return not_in_plan("backups")
    section = load_section(db, "backups", BackupsSection)
    if not section.policies:
        return not_in_plan("backups")
    declared_at = created_at(db, "backups.policies")
    tally = Tally("backups")
    fresh = drilled = with_drills = 0
    for policy in section.policies:
        since = declared_at.get(policy.name, live.now)
        link = f"/backups/{quote(policy.name, safe='')}"
        problems = _freshness(db, policy, live.now, since)
        if problems:
            tally.failed("backup policy", policy.name, "; ".join(problems), link)
        else:
            fresh += 1
            tally.passed()
        if policy.drill is None:
            continue
        with_drills += 1
        problems = _drills(db, policy, live.now)
        if problems:
            tally.failed("restore drill", policy.name, "; ".join(problems), link)
        else:
            drilled += 1
            tally.passed()
    tally.say(
        f"{plural(len(section.policies), 'backup policy', 'backup policies')}; {fresh} backed up "
        f"within their limit; {drilled} of {with_drills} with drills passed their latest drill "
        "in time."
    )
    return tally.result()


def _freshness(db: Session, policy: Policy, now: datetime, since: datetime) -> list[str]:
    problems = []
    targets = copy_targets(policy)
    for repository in [*policy.repositories, *targets]:
        kind = "copy" if repository in targets else "backup"
        limit = copy_max_age(policy, now) if kind == "copy" else max_age(policy, now)
        good = latest_run(db, policy.name, kind, repository=repository)
        if good is None:
            if now - since > limit:
                problems.append(f"no good {kind} into {repository} yet (due within {span(limit)})")
            continue
        age = now - ended(good)
        if age > limit:
            problems.append(
                f"last good {kind} into {repository} {span(age)} ago (limit {span(limit)})"
            )
    return problems


def _drills(db: Session, policy: Policy, now: datetime) -> list[str]:
    limit: timedelta = drill_max_age(policy, now)
    problems = []
    for repository in policy.repositories:
        last = latest_run(db, policy.name, "drill", repository=repository, statuses=FINISHED)
        if last is not None and last.status == "failed":
            error = f": {last.error.splitlines()[0]}" if last.error else ""
            problems.append(f"the last drill from {repository} ({at(ended(last))}) failed{error}")
            continue
        if last is not None:
            since = ended(last)
        else:  # a drill needs a backup: the clock starts at the first good one
            first = first_good_backup(db, policy.name, repository)
            if first is None:
                continue
            since = ended(first)
        if now - since > limit:
            what = (
                f"the last one ended {span(now - since)} ago"
                if last
                else "none ran since the first backup"
            )
            problems.append(f"no drill from {repository} within {span(limit)}: {what}")
    return problems
