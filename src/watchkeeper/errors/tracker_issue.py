"""Open an issue in a bug tracker (GitHub, GitLab, Jira: the incidents section's
``trackers``, through their plugins) for an error issue, and keep the link.

As for incidents, in three short steps so that no store transaction stays open while the
tracker is asked: reserve the link (a second click cannot open a second issue), commit; ask
the tracker; fill the link in with an audit entry, commit. A failed request removes the
reservation. Webhook trackers are refused: what they post describes an incident.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.errors.triage import triage_row
from watchkeeper.errors.views import get_issue
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.incidents.config import Tracker
from watchkeeper.incidents.plan import load_incidents
from watchkeeper.incidents.trackers.interface import Created, NewIssue, registry
from watchkeeper.store.tables import ErrorIssueTriage, utcnow

log = logging.getLogger(__name__)
TRACKER_TYPES = ("github", "gitlab", "jira")


@dataclass(frozen=True)
class TrackerLink:
    tracker: str
    external_id: str
    url: str


def _reserve(db: Session, issue_id: int, tracker: str, base_url: str) -> tuple[Tracker, NewIssue]:
    try:
        issue = get_issue(db, issue_id)
        config = next((t for t in load_incidents(db).trackers if t.name == tracker), None)
        if config is None:
            raise NotFoundError(f'no tracker named "{tracker}" in the plan\'s incidents section')
        if config.type not in TRACKER_TYPES:
            raise ConflictError(
                f'tracker "{tracker}" is a {config.type} tracker: error issues open GitHub, '
                "GitLab or Jira issues"
            )
        triage_row(db, issue_id)
        taken = db.execute(
            update(ErrorIssueTriage)
            .where(ErrorIssueTriage.issue_id == issue_id, ErrorIssueTriage.tracker == "")
            .values(tracker=tracker, tracker_external_id="", tracker_url="")
        )
        if not getattr(taken, "rowcount", 0):
            raise ConflictError(f"error issue {issue_id} has a tracker issue already")
        db.commit()
    except BaseException:
        db.rollback()
        raise
    link = f"{base_url.rstrip('/')}/errors/issues/{issue_id}" if base_url else ""
    releases = ", ".join(r["release"] for r in issue["releases"]) or "none named"
    body = (
        f"**{issue['title']}**\n\n"
        f"- culprit: `{issue['culprit'] or '-'}`\n- project: {issue['project']}\n"
        f"- events: {issue['count']}, users affected: {issue['users']}\n"
        f"- first seen: {issue['first_seen']:%Y-%m-%d %H:%M} UTC, last seen: "
        f"{issue['last_seen']:%Y-%m-%d %H:%M} UTC\n- releases: {releases}\n"
        + (f"\nIn Watchkeeper: {link}\n" if link else "")
    )
    new = NewIssue(
        title=f"[{issue['project']}] {issue['title']}"[:250],
        body=body,
        incident_id=0,  # not an incident: the three trackers allowed use title and body only
        incident_title=issue["title"],
        incident_url=link,
        severity=issue["level"],
        status=issue["status"],
        team=issue["team"],
        services=(issue["project"],),
        opened_at=issue["first_seen"],
    )
    return config, new


def _release(db: Session, issue_id: int) -> None:
    db.execute(
        update(ErrorIssueTriage)
        .where(ErrorIssueTriage.issue_id == issue_id, ErrorIssueTriage.tracker_url == "")
        .values(tracker="", tracker_external_id="")
    )
    db.commit()


def _store(db: Session, issue_id: int, config: Tracker, created: Created, actor: Actor) -> None:
    db.execute(
        update(ErrorIssueTriage)
        .where(ErrorIssueTriage.issue_id == issue_id)
        .values(
            tracker_external_id=created.external_id[:200],
            tracker_url=created.url[:2000],
            changed_at=utcnow(),
            changed_by=actor.name[:150],
        )
    )
    audit.record(
        db,
        actor,
        "errors.tracker_issue",
        f"error_issue/{issue_id}",
        {"tracker": config.name, "external_id": created.external_id, "url": created.url},
    )
    db.commit()


async def open_tracker_issue(
    db: Session,
    issue_id: int,
    tracker: str,
    actor: Actor,
    http: httpx.AsyncClient,
    *,
    base_url: str = "",
) -> TrackerLink:
    """Open an issue for the error issue in the named tracker; return the stored link.
    Commits. Raise NotFoundError for an unknown issue or tracker, ConflictError for a
    webhook tracker or an issue that has a tracker issue already (or one being opened),
    TrackerError when the tracker fails (nothing is kept then)."""
    config, new = await asyncio.to_thread(_reserve, db, issue_id, tracker, base_url)
    plugin = registry[config.type]
    try:
        created = await plugin.create(config, new, http)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(_release, db, issue_id))
        raise
    await asyncio.to_thread(_store, db, issue_id, config, created, actor)
    log.info("error issue %d: opened %s issue %s", issue_id, plugin.title, created.external_id)
    return TrackerLink(config.name, created.external_id, created.url)
