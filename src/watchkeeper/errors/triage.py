"""Triage of error issues: their status, assignee and team, changed by a person.

Statuses: ``unresolved``; ``resolved`` (an event after it reopens the issue as regressed);
``resolved_next_release`` (resolved in the release after the one last seen: events from that
release or older are expected until the project shows a newer one; see ``activity``);
``ignored`` (forever, until ``ignore_until_count`` more events, or until a date).

What events do to a status (regression, the end of an ignore) is decided by
:mod:`watchkeeper.errors.activity`, from what the ingest stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.errors.views import STATUSES
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.store.tables import ErrorIssue, ErrorIssueTriage, User


class TriageChange(BaseModel):
    """The body of ``PATCH /api/v1/errors/issues/{id}``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(None, description=f"One of {', '.join(STATUSES)}.")
    assignee: str | None = Field(
        None, max_length=150, description='A user name; "" unassigns the issue.'
    )
    team: str | None = Field(None, max_length=128, description="The team owning the issue.")
    ignore_until_count: int | None = Field(
        None, ge=1, le=10**12, description="Ignore until this many more events arrive."
    )
    ignore_until: datetime | None = Field(None, description="Ignore until this time (UTC).")


@dataclass(frozen=True)
class Changed:
    """The issue's fields before and after a change (for the audit trail and the answer)."""

    before: dict[str, Any]
    after: dict[str, Any]


def parse_change(body: Any) -> TriageChange:
    """Return the change in ``body``; raise ValidationFailed naming each bad field."""
    try:
        change = TriageChange.model_validate(body)
    except ValidationError as exc:
        errors = [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        raise ValidationFailed("invalid issue change", errors) from None
    if change.status is not None and change.status not in STATUSES:
        raise ValidationFailed(
            "invalid issue change", [("status", f"use one of {', '.join(STATUSES)}")]
        )
    ignoring = change.ignore_until_count is not None or change.ignore_until is not None
    if ignoring and change.status not in (None, "ignored"):
        raise ValidationFailed(
            "invalid issue change",
            [("status", "ignore_until_count and ignore_until go with the status ignored")],
        )
    return change


def triage_row(db: Session, issue_id: int) -> ErrorIssueTriage:
    """Return the issue's triage row, made when missing (flushed, not committed)."""
    row = db.get(ErrorIssueTriage, issue_id)
    if row is None:
        row = ErrorIssueTriage(issue_id=issue_id, counted_events=0, counted_users=0)
        db.add(row)
        db.flush()
    return row


def _state(issue: ErrorIssue, triage: ErrorIssueTriage) -> dict[str, Any]:
    return {
        "status": issue.status,
        "assignee": issue.assignee,
        "team": issue.team,
        "resolved_in_release": issue.resolved_in_release,
        "ignore_until_count": issue.ignore_until_count,
        "ignore_until": triage.ignore_until,
    }


def _check_assignee(db: Session, name: str) -> None:
    found = db.scalar(select(User.disabled).where(User.username == name))
    if found is None:
        raise ValidationFailed("invalid issue change", [("assignee", f'no user named "{name}"')])
    if found:
        raise ValidationFailed("invalid issue change", [("assignee", f'user "{name}" is disabled')])


def _set_status(
    issue: ErrorIssue, triage: ErrorIssueTriage, change: TriageChange, now: datetime
) -> None:
    status = change.status or "ignored"
    issue.ignore_until_count = None
    triage.ignore_until = None
    if status == "unresolved":
        issue.resolved_at = issue.resolved_in_release = None
        return
    # Any decision but reopening is a decision about the regression too: its badge goes.
    triage.regressed_at = triage.regressed_in_release = None
    if status == "resolved":
        issue.resolved_at, issue.resolved_in_release = now, issue.last_release
    elif status == "resolved_next_release":
        if not issue.last_release:
            raise ValidationFailed(
                "invalid issue change",
                [
                    (
                        "status",
                        "the issue's events name no release, so there is no next release to "
                        "wait for: resolve it instead (the SDK's `release` option sets one)",
                    )
                ],
            )
        issue.resolved_at, issue.resolved_in_release = now, issue.last_release
    else:  # ignored
        issue.resolved_at = issue.resolved_in_release = None
        if change.ignore_until_count is not None:
            issue.ignore_until_count = issue.count + change.ignore_until_count
        if change.ignore_until is not None:
            until = change.ignore_until
            if until.tzinfo is None:
                raise ValidationFailed(
                    "invalid issue change",
                    [("ignore_until", "give a time zone (2026-12-24T00:00:00Z)")],
                )
            if until <= now:
                raise ValidationFailed(
                    "invalid issue change", [("ignore_until", "must be in the future")]
                )
            triage.ignore_until = until
    issue.status = status


def change_issue(
    db: Session, issue_id: int, change: TriageChange, actor: Actor, now: datetime
) -> Changed:
    """Apply ``change`` to the issue and record it in the audit trail; the caller commits.

    Raise NotFoundError for an unknown issue, ValidationFailed for an unknown assignee, a
    ``resolved_next_release`` of an issue without releases or an ``ignore_until`` passed."""
    issue = db.get(ErrorIssue, issue_id, with_for_update=True)
    if issue is None:
        raise NotFoundError(f"no error issue {issue_id}")
    triage = triage_row(db, issue_id)
    before = _state(issue, triage)
    if change.assignee is not None:
        if change.assignee:
            _check_assignee(db, change.assignee)
        issue.assignee = change.assignee or None
    if change.team is not None:
        issue.team = change.team
    ignoring = change.ignore_until_count is not None or change.ignore_until is not None
    if change.status is not None or ignoring:
        _set_status(issue, triage, change, now)
    triage.changed_at, triage.changed_by = now, actor.name[:150]
    after = _state(issue, triage)
    if after != before:
        audit.record(
            db,
            actor,
            "errors.issue_triage",
            f"error_issue/{issue_id}",
            audit.changes(before, after),
        )
    db.flush()
    return Changed(before, after)
