"""Alert rules on error issues (an alert rule's ``errors:``): a new issue, a regression, an
event rate over a threshold. Each returns (labels, value) pairs as a PromQL rule's series
do, so the alerts section's states, routing, silences and incidents apply unchanged.

- ``new_issue``: one alert per unresolved issue first seen within ``window``
  (labels ``project``, ``issue``; value: its events);
- ``regression``: one per unresolved issue that regressed within ``window``
  (labels ``project``, ``issue``, ``release``);
- ``rate``: per issue (``per: issue``, ignored issues left out) or per project
  (``per: project``, all its events), the events received within ``window`` when more than
  ``threshold``. Counted in five-minute steps: the window is rounded out to whole steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.errors.activity import bucket_of
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration
from watchkeeper.store.tables import (
    ErrorIssue,
    ErrorIssueCount,
    ErrorIssueTriage,
    ErrorProjectKey,
)

Result = tuple[Mapping[str, str], float | None]


class ErrorAlertCondition(PlanModel):
    """An alert on error issues: `new_issue`, `regression`, or `rate` over `threshold`."""

    when: Literal["new_issue", "regression", "rate"] = Field(
        description="`new_issue`: an issue appears; `regression`: a resolved issue gets an "
        "event again; `rate`: more than `threshold` events within `window`."
    )
    project: str = Field("", description="The project's name; empty: every project.")
    window: Duration = Field(
        timedelta(minutes=5),
        description="How long a new issue or a regression keeps the alert firing; the "
        "window of `rate` (in five-minute steps).",
    )
    threshold: int | None = Field(
        None, ge=0, description="For `rate`: fire when more events than this come in `window`."
    )
    per: Literal["issue", "project"] = Field(
        "issue", description="For `rate`: count each issue's events, or the project's."
    )

    @model_validator(mode="after")
    def _rate_needs_threshold(self) -> ErrorAlertCondition:
        if self.when == "rate" and self.threshold is None:
            raise ValueError("`when: rate` needs `threshold`")
        if self.when != "rate" and (self.threshold is not None or self.per != "issue"):
            raise ValueError("`threshold` and `per` go with `when: rate`")
        if self.window < timedelta(minutes=1):
            raise ValueError("`window` must be at least 1m")
        if self.when == "rate" and self.window > timedelta(days=14):
            # the per-step counts are kept 14 days (errors/activity.py): longer undercounts
            raise ValueError("the `window` of `when: rate` can be at most 14d")
        return self


def _projects(db: Session, name: str) -> dict[int, str]:
    query = select(ErrorProjectKey.id, ErrorProjectKey.name)
    if name:
        query = query.where(ErrorProjectKey.name == name)
    return dict(db.execute(query).all())


def error_results(db: Session, rule: ErrorAlertCondition, now: datetime) -> list[Result]:
    """Evaluate ``rule`` at ``now``: one (labels, value) per alert it raises (none when the
    project does not exist yet: its rule has nothing to watch)."""
    names = _projects(db, rule.project)
    if not names:
        return []
    since = now - rule.window
    if rule.when == "new_issue":
        rows = db.execute(
            select(ErrorIssue.id, ErrorIssue.project_id, ErrorIssue.count).where(
                ErrorIssue.project_id.in_(names),
                ErrorIssue.status == "unresolved",
                ErrorIssue.first_seen > since,
                ErrorIssue.first_seen <= now,
            )
        )
        return [({"project": names[p], "issue": str(i)}, float(n)) for i, p, n in rows]
    if rule.when == "regression":
        regressed = db.execute(
            select(
                ErrorIssue.id,
                ErrorIssue.project_id,
                ErrorIssue.count,
                ErrorIssueTriage.regressed_in_release,
            )
            .join(ErrorIssueTriage, ErrorIssueTriage.issue_id == ErrorIssue.id)
            .where(
                ErrorIssue.project_id.in_(names),
                ErrorIssue.status == "unresolved",
                ErrorIssueTriage.regressed_at > since,
                ErrorIssueTriage.regressed_at <= now,
            )
        )
        return [
            ({"project": names[p], "issue": str(i), "release": r or ""}, float(n))
            for i, p, n, r in regressed
        ]
    first, last = bucket_of(since), bucket_of(now)
    window = (ErrorIssueCount.bucket >= first) & (ErrorIssueCount.bucket <= last)
    threshold = rule.threshold or 0
    if rule.per == "project":
        per_project = db.execute(
            select(ErrorIssueCount.project_id, func.sum(ErrorIssueCount.events))
            .where(ErrorIssueCount.project_id.in_(names), window)
            .group_by(ErrorIssueCount.project_id)
        )
        return [
            ({"project": names[p]}, float(n)) for p, n in per_project if int(n or 0) > threshold
        ]
    per_issue = db.execute(
        select(
            ErrorIssueCount.issue_id, ErrorIssueCount.project_id, func.sum(ErrorIssueCount.events)
        )
        .join(ErrorIssue, ErrorIssue.id == ErrorIssueCount.issue_id)
        .where(ErrorIssueCount.project_id.in_(names), ErrorIssue.status != "ignored", window)
        .group_by(ErrorIssueCount.issue_id, ErrorIssueCount.project_id)
    )
    return [
        ({"project": names[p], "issue": str(i)}, float(n))
        for i, p, n in per_issue
        if int(n or 0) > threshold
    ]
