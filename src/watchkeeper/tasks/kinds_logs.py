"""The log review: the error-tracking issues that are new or regressed since the last
review (or within ``lookback`` for the first), still unresolved, each to mark triaged,
resolved or ignored. Each decision goes through the errors domain's triage (audited); a
"triaged" issue records who looked at it and when.

It also lists the log anomalies of the period (``logs/anomalies``): log templates first
seen since the last review and templates whose hourly rate is anomalous now, each to mark
looked at (any decision records it; the template itself is not changed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from watchkeeper.auth.audit import Actor
from watchkeeper.errors.triage import TriageChange, change_issue
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.plan.base import PlanModel
from watchkeeper.plan.types import Duration
from watchkeeper.store.tables import ErrorIssue, ErrorIssueTriage, LogTemplate
from watchkeeper.tasks.kinds import KindContext, TaskKind, WorkItem, register

DECISIONS = ("triaged", "resolve", "ignore")
CHANGES = {
    "triaged": TriageChange(),
    "resolve": TriageChange(status="resolved"),
    "ignore": TriageChange(status="ignored"),
}


class LogReviewOptions(PlanModel):
    """Options of the ``log_review`` task kind."""

    lookback: Duration = Field(
        timedelta(days=7),
        description="Period the first review covers (later ones: since the previous).",
    )
    limit: int = Field(200, ge=1, le=1000, description="At most this many issues, newest first.")


def new_issues(db: Session, start: datetime, limit: int = 200) -> list[ErrorIssue]:
    """Unresolved issues first seen, or regressed, at or after ``start``; newest first."""
    return list(
        db.scalars(
            select(ErrorIssue)
            .outerjoin(ErrorIssueTriage, ErrorIssueTriage.issue_id == ErrorIssue.id)
            .where(
                ErrorIssue.status == "unresolved",
                or_(ErrorIssue.first_seen >= start, ErrorIssueTriage.regressed_at >= start),
            )
            .order_by(ErrorIssue.last_seen.desc(), ErrorIssue.id.desc())
            .limit(limit)
        )
    )


def _item(row: ErrorIssue) -> WorkItem:
    detail = (
        f"{row.level}, {row.count} event(s), first seen {row.first_seen:%Y-%m-%d %H:%M}, "
        f"last {row.last_seen:%Y-%m-%d %H:%M}"
    )
    return WorkItem(f"issue:{row.id}", row.title, detail, "", f"/errors/issues/{row.id}")


def log_anomalies(db: Session, start: datetime, limit: int = 200) -> list[LogTemplate]:
    """Log templates new since ``start`` and those with a rate anomaly now; newest first."""
    return list(
        db.scalars(
            select(LogTemplate)
            .where(
                or_(
                    (LogTemplate.new.is_(True)) & (LogTemplate.first_seen >= start),
                    LogTemplate.anomaly.is_not(None),
                )
            )
            .order_by(LogTemplate.last_seen.desc(), LogTemplate.id.desc())
            .limit(limit)
        )
    )


def _template_item(row: LogTemplate) -> WorkItem:
    what = "rate anomaly" if row.anomaly is not None else "new log template"
    detail = (
        f"{what}, {row.count} line(s), first seen {row.first_seen:%Y-%m-%d %H:%M}, "
        f"last {row.last_seen:%Y-%m-%d %H:%M}"
    )
    return WorkItem(f"template:{row.id}", row.template[:200], detail, "", "/logs/anomalies")


def _prepare(db: Session, context: KindContext) -> list[WorkItem]:
    options: LogReviewOptions = context.options
    start = context.since or context.occurrence_at - options.lookback
    issues = [_item(row) for row in new_issues(db, start, options.limit)]
    return issues + [_template_item(row) for row in log_anomalies(db, start, options.limit)]


def _apply(db: Session, context: KindContext, chosen: dict[str, str], actor: Actor) -> list[str]:
    done: dict[str, int] = {}
    notes: list[str] = []
    templates = sum(1 for key in chosen if key.startswith("template:"))
    for key, decision in sorted(chosen.items()):
        ident = key.removeprefix("issue:")
        if not ident.isdigit():
            continue
        try:
            change_issue(db, int(ident), CHANGES[decision], actor, context.now)
        except NotFoundError:
            notes.append(f"issue {ident}: no longer exists")
            continue
        except ValidationFailed as exc:
            notes.append(f"issue {ident}: {exc}")
            continue
        done[decision] = done.get(decision, 0) + 1
    summary = [f"{decision}: {n} issue(s)" for decision, n in sorted(done.items())]
    if templates:
        summary.append(f"looked at: {templates} log template(s)")
    return summary + notes


KIND = register(
    TaskKind(
        name="log_review",
        description="Error-tracking issues new or regressed since the last review, each "
        "marked triaged, resolved or ignored, and the log anomalies of the period.",
        prepare=_prepare,
        apply=_apply,
        options_model=LogReviewOptions,
        decisions=DECISIONS,
    )
)
