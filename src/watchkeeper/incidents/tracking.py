"""Issues in external bug trackers, opened from incidents and followed from there.

Opening an issue takes three short steps so that no store transaction stays open while the
tracker is asked: (1) check the incident and tracker and reserve the link (a placeholder row,
so a second click cannot open a second issue), commit; (2) ask the tracker; (3) fill the link
in, add a timeline entry and an audit entry, commit. A failed request removes the
placeholder. These functions therefore commit their own work: call them with no pending
changes. The store is reached from a worker thread, so the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete, nulls_first, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor, actor_of
from watchkeeper.exceptions import ConflictError, NotFoundError
from watchkeeper.incidents import timeline
from watchkeeper.incidents.config import Tracker
from watchkeeper.incidents.plan import load_incidents
from watchkeeper.incidents.trackers.interface import (
    Created,
    NewIssue,
    TimelineLine,
    TrackerError,
    TrackerType,
    registry,
)
from watchkeeper.store.tables import Incident, TrackerLink, utcnow

log = logging.getLogger(__name__)

CREATING = "(creating)"  # status of a link whose issue is being opened right now
STALE_AFTER = timedelta(minutes=5)  # a reservation this old was left by a crash
TIMELINE_LIMIT = 50  # newest entries copied into the issue
ENTRY_LIMIT = 300  # characters of one entry's text


@dataclass(frozen=True)
class TrackerView:
    """A configured tracker as the API and UI show it: never its token."""

    name: str
    type: str
    title: str  # "GitHub"
    project: str
    site: str  # the API base URL; a webhook's scheme and host only
    syncs_status: bool


@dataclass(frozen=True)
class LinkView:
    """An issue opened for an incident."""

    id: int
    incident_id: int
    tracker: str
    type: str  # "" when the tracker is no longer in the plan
    external_id: str
    url: str
    status: str
    created_at: datetime
    synced_at: datetime | None

    @property
    def label(self) -> str:
        """How people name the issue: ``#12`` (GitHub, GitLab), ``OPS-7`` (Jira)."""
        if self.type in ("github", "gitlab") and self.external_id:
            return f"#{self.external_id}"
        return self.external_id or "issue"


@dataclass(frozen=True)
class SyncSummary:
    """What one :func:`sync_all` pass did."""

    checked: int = 0
    changed: int = 0
    failed: int = 0


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _site(config: Tracker) -> str:
    if config.type != "webhook":
        return config.url.rstrip("/")
    try:
        url = httpx.URL(config.url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def _configured(db: Session) -> dict[str, Tracker]:
    return {t.name: t for t in load_incidents(db).trackers}


def trackers(db: Session) -> list[TrackerView]:
    """Return the trackers the plan configures, by name."""
    return [
        TrackerView(
            name=t.name,
            type=t.type,
            title=registry[t.type].title,
            project=t.project,
            site=_site(t),
            syncs_status=registry[t.type].syncs_status,
        )
        for t in sorted(_configured(db).values(), key=lambda t: t.name)
    ]


def _view(link: TrackerLink, types: dict[str, str]) -> LinkView:
    return LinkView(
        id=link.id,
        incident_id=link.incident_id,
        tracker=link.tracker,
        type=types.get(link.tracker, ""),
        external_id=link.external_id,
        url=link.url,
        status=link.status,
        created_at=_utc(link.created_at),
        synced_at=_utc(link.synced_at) if link.synced_at else None,
    )


def _types(db: Session) -> dict[str, str]:
    return {name: t.type for name, t in _configured(db).items()}


def _incident(db: Session, incident_id: int) -> Incident:
    incident = db.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(f"incident {incident_id} does not exist")
    return incident


def links_for(db: Session, incident_id: int) -> list[LinkView]:
    """Return the incident's tracker issues, oldest first (issues being opened right now
    are left out). Raise NotFoundError if the incident does not exist."""
    _incident(db, incident_id)
    rows = db.scalars(
        select(TrackerLink)
        .where(TrackerLink.incident_id == incident_id, TrackerLink.status != CREATING)
        .order_by(TrackerLink.created_at, TrackerLink.id)
    )
    types = _types(db)
    return [_view(row, types) for row in rows]


def get_link(db: Session, link_id: int) -> LinkView:
    """Return one link; raise NotFoundError if there is none with that id."""
    link = db.get(TrackerLink, link_id)
    if link is None or link.status == CREATING:
        raise NotFoundError(f"tracker issue {link_id} does not exist")
    return _view(link, _types(db))


# --- opening an issue ------------------------------------------------------------------------


def _fmt(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def _one_line(text: str, limit: int = ENTRY_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def issue_for(incident: Incident, entries: list[TimelineLine], base_url: str) -> NewIssue:
    """Return the issue for ``incident``: title ``[SEV2] <title>`` and a Markdown body
    with its facts, its link in Watchkeeper and its timeline so far."""
    url = f"{base_url.rstrip('/')}/incidents/{incident.id}" if base_url else ""
    services = tuple(incident.services or ())
    lines: list[str] = []
    if incident.summary.strip():
        lines += [incident.summary.strip(), ""]
    lines += [
        f"- **Severity:** {incident.severity}",
        f"- **Status:** {incident.status}",
        f"- **Services:** {', '.join(services) or '—'}",
        f"- **Team:** {incident.team or '—'}",
        f"- **Opened:** {_fmt(incident.opened_at)} by {incident.opened_by}",
    ]
    if incident.commander:
        lines.append(f"- **Commander:** {incident.commander}")
    if url:
        lines.append(f"- **Incident:** {url}")
    shown = entries[-TIMELINE_LIMIT:]
    lines += ["", "### Timeline so far", ""]
    if len(entries) > len(shown):
        lines += [f"_{len(entries) - len(shown)} earlier entries left out._", ""]
    for entry in shown:
        said = f": {_one_line(entry.text)}" if entry.text.strip() else ""
        lines.append(f"- {_fmt(entry.at)} · {entry.kind} · {entry.actor}{said}")
    if not shown:
        lines.append("- (no entries yet)")
    lines += ["", "_Opened from Watchkeeper._"]
    return NewIssue(
        title=f"[{incident.severity}] {incident.title}",
        body="\n".join(lines) + "\n",
        incident_id=incident.id,
        incident_title=incident.title,
        incident_url=url,
        severity=incident.severity,
        status=incident.status,
        team=incident.team,
        services=services,
        opened_at=_utc(incident.opened_at),
        timeline=tuple(shown),
    )


def _plugin(config: Tracker) -> TrackerType:
    plugin = registry.get(config.type)
    if plugin is None:  # the plan model only allows registered types; a guard all the same
        raise NotFoundError(f'tracker type "{config.type}" is not available')
    return plugin


def _tracker(db: Session, name: str) -> Tracker:
    configured = _configured(db)
    config = configured.get(name)
    if config is None:
        known = ", ".join(sorted(configured)) or "none"
        raise NotFoundError(
            f'no tracker named "{name}" (incidents.trackers in the plan lists: {known})'
        )
    return config


def _reserve(
    db: Session, incident_id: int, tracker_name: str, base_url: str
) -> tuple[int, Tracker, NewIssue]:
    try:
        config = _tracker(db, tracker_name)
        incident = db.scalars(
            select(Incident).where(Incident.id == incident_id).with_for_update()
        ).one_or_none()  # the row lock makes concurrent requests for one incident queue up
        if incident is None:
            raise NotFoundError(f"incident {incident_id} does not exist")
        now = utcnow()
        for link in db.scalars(
            select(TrackerLink).where(
                TrackerLink.incident_id == incident_id, TrackerLink.tracker == tracker_name
            )
        ):
            if link.status != CREATING:
                where = f": {link.url}" if link.url else ""
                raise ConflictError(
                    f'incident {incident_id} already has an issue in tracker "{tracker_name}"'
                    f"{where}"
                )
            if _utc(now) - _utc(link.created_at) < STALE_AFTER:
                raise ConflictError(
                    f"an issue for incident {incident_id} is being opened in tracker "
                    f'"{tracker_name}" right now'
                )
            db.delete(link)  # left by a process that stopped half-way
            db.flush()
        entries = [
            TimelineLine(at=_utc(e.at), actor=e.actor, kind=e.kind, text=e.text)
            for e in timeline.events(db, incident_id)
        ]
        issue = issue_for(incident, entries, base_url)
        placeholder = TrackerLink(
            incident_id=incident_id,
            tracker=tracker_name,
            external_id="",
            url="",
            status=CREATING,
            created_at=now,
        )
        db.add(placeholder)
        try:
            db.flush()
        except IntegrityError:  # another request reserved it first (SQLite has no row lock)
            raise ConflictError(
                f"an issue for incident {incident_id} is being opened in tracker "
                f'"{tracker_name}" right now'
            ) from None
        link_id = placeholder.id
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return link_id, config, issue


def _release(db: Session, link_id: int) -> None:
    db.rollback()
    db.execute(delete(TrackerLink).where(TrackerLink.id == link_id, TrackerLink.status == CREATING))
    db.commit()


def _store(db: Session, link_id: int, config: Tracker, created: Created, actor: Actor) -> LinkView:
    try:
        link = db.get(TrackerLink, link_id)
        if link is None:  # removed meanwhile (the incident was deleted): recreate nothing
            raise NotFoundError(f"incident of tracker issue {link_id} no longer exists")
        now = utcnow()
        link.external_id = created.external_id[:128]
        link.url = created.url[:1000]
        link.status = created.status[:64]
        link.synced_at = now
        plugin = _plugin(config)
        view = _view(link, {config.name: config.type})
        timeline.add_event(
            db,
            link.incident_id,
            "tracker",
            actor.name,
            f'Opened {plugin.title} issue {view.label} in tracker "{config.name}"'
            if view.external_id
            else f'Sent the issue to {plugin.title} tracker "{config.name}"',
            {
                "tracker": config.name,
                "type": config.type,
                "external_id": link.external_id,
                "url": link.url,
                "status": link.status,
                "link_id": link.id,
            },
            at=now,
        )
        audit.record(
            db,
            actor,
            "incident.tracker_issue",
            f"incident/{link.incident_id}",
            {"tracker": config.name, "external_id": link.external_id, "url": link.url},
        )
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return view


async def open_issue(
    db: Session,
    incident_id: int,
    tracker_name: str,
    actor: str | Actor,
    http: httpx.AsyncClient,
    *,
    base_url: str = "",
) -> LinkView:
    """Open an issue for the incident in the named tracker; return the stored link.

    ``base_url`` is Watchkeeper's address, for the incident's link in the issue. Commits.
    Raise NotFoundError for an unknown incident or tracker, ConflictError when the incident
    has an issue in that tracker already (or one is being opened), TrackerError when the
    tracker fails (nothing is stored then).
    """
    who = actor_of(actor)
    link_id, config, issue = await asyncio.to_thread(
        _reserve, db, incident_id, tracker_name, base_url
    )
    plugin = _plugin(config)
    try:
        created = await plugin.create(config, issue, http)
    except BaseException as exc:
        await asyncio.shield(asyncio.to_thread(_release, db, link_id))
        if isinstance(exc, TrackerError):
            log.warning(
                "incident %d: no issue opened in tracker %s: %s", incident_id, config.name, exc
            )
        raise
    view = await asyncio.to_thread(_store, db, link_id, config, created, who)
    log.info(
        "incident %d: opened %s issue %s in tracker %s",
        incident_id,
        plugin.title,
        view.label,
        config.name,
    )
    return view


# --- following the status ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    link: LinkView
    config: Tracker
    plugin: TrackerType


def _target(db: Session, link_id: int) -> _Target:
    try:
        link = db.get(TrackerLink, link_id)
        if link is None or link.status == CREATING:
            raise NotFoundError(f"tracker issue {link_id} does not exist")
        config = _configured(db).get(link.tracker)
        if config is None:
            raise ConflictError(
                f'tracker "{link.tracker}" of issue {link_id} is no longer in the plan'
            )
        target = _Target(_view(link, {config.name: config.type}), config, _plugin(config))
    finally:
        db.rollback()  # ends the read transaction before the tracker is asked
    return target


def _apply(db: Session, target: _Target, status: str) -> tuple[LinkView, bool]:
    try:
        link = db.get(TrackerLink, target.link.id)
        if link is None:
            raise NotFoundError(f"tracker issue {target.link.id} does not exist")
        now = utcnow()
        before, status = link.status, status[:64]
        link.synced_at = now
        changed = status != before
        if changed:
            link.status = status
            was = f" (was {before})" if before else ""
            timeline.add_event(
                db,
                link.incident_id,
                "tracker",
                f"tracker:{target.config.name}"[:128],
                f"{target.plugin.title} issue {target.link.label} is now {status}{was}",
                {
                    "tracker": target.config.name,
                    "external_id": link.external_id,
                    "url": link.url,
                    "status": status,
                    "previous": before,
                    "link_id": link.id,
                },
                at=now,
            )
        view = _view(link, {target.config.name: target.config.type})
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return view, changed


async def _sync(db: Session, link_id: int, http: httpx.AsyncClient) -> tuple[LinkView, bool]:
    target = await asyncio.to_thread(_target, db, link_id)
    if not target.plugin.syncs_status or not target.link.external_id:
        return target.link, False
    status = await target.plugin.status(target.config, target.link.external_id, http)
    return await asyncio.to_thread(_apply, db, target, status)


async def sync_status(db: Session, link_id: int, http: httpx.AsyncClient) -> LinkView:
    """Ask the tracker for the issue's status; store it (and the time), and add a timeline
    entry when it changed. Commits. Trackers that cannot report status (webhooks) keep the
    last one. Raise NotFoundError for an unknown link, ConflictError when its tracker left
    the plan, TrackerError when the tracker fails."""
    view, _ = await _sync(db, link_id, http)
    return view


def _due(db: Session, limit: int) -> list[int]:
    try:
        syncing = [name for name, t in _configured(db).items() if registry[t.type].syncs_status]
        if not syncing:
            return []
        return list(
            db.scalars(
                select(TrackerLink.id)
                .where(
                    TrackerLink.tracker.in_(syncing),
                    TrackerLink.status != CREATING,
                    TrackerLink.external_id != "",
                )
                .order_by(nulls_first(TrackerLink.synced_at.asc()), TrackerLink.id)
                .limit(limit)
            )
        )
    finally:
        db.rollback()


async def sync_all(db: Session, http: httpx.AsyncClient, *, limit: int = 100) -> SyncSummary:
    """Refresh the status of up to ``limit`` issues, least recently checked first (so that
    successive runs go round all of them); for the periodic job. A tracker that fails is
    logged and counted, never raised."""
    checked = changed = failed = 0
    for link_id in await asyncio.to_thread(_due, db, limit):
        try:
            _, did_change = await _sync(db, link_id, http)
        except TrackerError as exc:
            failed += 1
            log.warning("tracker issue %d: status not refreshed: %s", link_id, exc)
            continue
        except (NotFoundError, ConflictError):  # removed or unconfigured meanwhile
            continue
        checked += 1
        changed += did_change
    return SyncSummary(checked=checked, changed=changed, failed=failed)
