"""Read error-tracking data for the API: projects with their DSNs, issues, latest events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchkeeper.errors.events import load_payload
from watchkeeper.errors.projects import Project, sync_projects
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.store.tables import ErrorEvent, ErrorIssue, ErrorIssueRelease, ErrorProjectKey

STATUSES = ("unresolved", "resolved", "resolved_next_release", "ignored")


def project_view(project: Project, base_url: str) -> dict[str, Any]:
    config = project.config
    return {
        "id": project.id,
        "name": project.name,
        "dsn": project.dsn(base_url),
        "public_key": project.public_key,
        "team": config.team,
        "platform": config.platform,
        "description": config.description,
        "rate_limit": config.rate_limit,
        "max_event_size": config.max_event_size,
        "scrub_fields": list(config.scrub_fields),
        "environments": list(config.environments),
        "managed": project.managed,
    }


def list_projects(db: Session, base_url: str) -> list[dict[str, Any]]:
    """Return every project with its DSN and its issue counts; commits the ids and keys of
    projects seen for the first time."""
    _, projects = sync_projects(db)
    db.commit()
    counts = {
        (project_id, status): n
        for project_id, status, n in db.execute(
            select(ErrorIssue.project_id, ErrorIssue.status, func.count()).group_by(
                ErrorIssue.project_id, ErrorIssue.status
            )
        )
    }
    out = []
    for project in sorted(projects, key=lambda p: p.name):
        view = project_view(project, base_url)
        view["issues"] = {s: counts.get((project.id, s), 0) for s in STATUSES}
        out.append(view)
    return out


def _issue(row: ErrorIssue, project_names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "project": project_names.get(row.project_id, ""),
        "project_id": row.project_id,
        "title": row.title,
        "culprit": row.culprit,
        "level": row.level,
        "status": row.status,
        "grouping": row.grouping,
        "fingerprint": row.fingerprint,
        "assignee": row.assignee,
        "team": row.team,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "count": row.count,
        "users": row.users,
        "first_release": row.first_release,
        "last_release": row.last_release,
        "resolved_in_release": row.resolved_in_release,
        "resolved_at": row.resolved_at,
        "ignore_until_count": row.ignore_until_count,
    }


def _names(db: Session) -> tuple[dict[int, str], dict[str, int]]:
    """Project names by id and ids by name (projects removed from the plan included: their
    issues stay until retention removes them)."""
    query = select(ErrorProjectKey.id, ErrorProjectKey.name)
    names: dict[int, str] = dict(db.execute(query).all())
    return names, {name: pid for pid, name in names.items()}


@dataclass(frozen=True)
class IssuePage:
    total: int
    issues: list[dict[str, Any]]


def list_issues(
    db: Session,
    *,
    project: str = "",
    status: str = "",
    release: str = "",
    assignee: str = "",
    page: int = 1,
    per_page: int = 50,
) -> IssuePage:
    """Return a page of issues, most recently seen first; raise ValidationFailed for an
    unknown status and NotFoundError for an unknown project."""
    names, ids = _names(db)
    query = select(ErrorIssue)
    if project:
        if project not in ids:
            raise NotFoundError(f'no error project named "{project}"')
        query = query.where(ErrorIssue.project_id == ids[project])
    if status:
        if status not in STATUSES:
            raise ValidationFailed(
                "invalid filter", [("status", f"use one of {', '.join(STATUSES)}")]
            )
        query = query.where(ErrorIssue.status == status)
    if assignee:
        query = query.where(ErrorIssue.assignee == assignee)
    if release:
        query = query.where(
            ErrorIssue.id.in_(
                select(ErrorIssueRelease.issue_id).where(ErrorIssueRelease.release == release)
            )
        )
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(ErrorIssue.last_seen.desc(), ErrorIssue.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return IssuePage(total, [_issue(r, names) for r in rows])


def _get_issue(db: Session, issue_id: int) -> ErrorIssue:
    row = db.get(ErrorIssue, issue_id)
    if row is None:
        raise NotFoundError(f"no error issue {issue_id}")
    return row


def get_issue(db: Session, issue_id: int) -> dict[str, Any]:
    """Return one issue with the releases its events came from; raise NotFoundError."""
    row = _get_issue(db, issue_id)
    names, _ = _names(db)
    view = _issue(row, names)
    view["releases"] = [
        {
            "release": r.release,
            "first_seen": r.first_seen,
            "last_seen": r.last_seen,
            "count": r.count,
        }
        for r in db.scalars(
            select(ErrorIssueRelease)
            .where(ErrorIssueRelease.issue_id == issue_id)
            .order_by(ErrorIssueRelease.first_seen)
        )
    ]
    view["events_kept"] = db.scalar(
        select(func.count()).select_from(ErrorEvent).where(ErrorEvent.issue_id == issue_id)
    )
    return view


def event_view(row: ErrorEvent) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "issue_id": row.issue_id,
        "received_at": row.received_at,
        "occurred_at": row.occurred_at,
        "level": row.level,
        "release": row.release,
        "environment": row.environment,
        "event": load_payload(row.payload),
    }


def latest_event(db: Session, issue_id: int) -> dict[str, Any]:
    """Return the issue's latest stored event (scrubbed, as the SDK sent it otherwise);
    raise NotFoundError when the issue or its events are gone."""
    _get_issue(db, issue_id)
    row = db.scalar(
        select(ErrorEvent)
        .where(ErrorEvent.issue_id == issue_id)
        .order_by(ErrorEvent.id.desc())
        .limit(1)
    )
    if row is None:
        raise NotFoundError(f"error issue {issue_id} has no stored events (past retention)")
    return event_view(row)
