"""Public status pages: what the outside world may see of checks, incidents and maintenance.

``page_view`` builds a tree that holds only public fields: the page's title, component names
and their status, the titles and bodies people posted as status updates, and times. It never
carries check names, targets, error messages, internal incident titles, assignees, labels or
drill incidents; the web layer renders it as HTML and JSON without adding anything.

Statuses, from best to worst: operational, maintenance, degraded, partial_outage,
major_outage. A component's checks decide (some down: partial outage; all down: major
outage); an open incident affecting it raises that (SEV1: major outage, SEV2: partial outage,
SEV3/SEV4: degraded); posted maintenance in progress replaces what its checks say (checks are
expected to fail then), but not what an incident says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Literal, cast

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.incidents import timeline
from watchkeeper.incidents.config import Component, StatusPage
from watchkeeper.incidents.plan import load_incidents
from watchkeeper.store.tables import CheckStatus, Incident, StatusUpdate, StoredObject, utcnow

ComponentStatus = Literal[
    "operational", "maintenance", "degraded", "partial_outage", "major_outage"
]
RANK: dict[str, int] = {
    "operational": 0,
    "maintenance": 1,
    "degraded": 2,
    "partial_outage": 3,
    "major_outage": 4,
}
STATUS_TEXT: dict[str, str] = {
    "operational": "All systems operational",
    "maintenance": "Maintenance in progress",
    "degraded": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
}
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
UPDATE_STATUSES = (*INCIDENT_STATUSES, "maintenance")
SEVERITY_IMPACT: dict[str, ComponentStatus] = {
    "SEV1": "major_outage",
    "SEV2": "partial_outage",
    "SEV3": "degraded",
    "SEV4": "degraded",
}
NEUTRAL_TITLE = "Service disruption"
MAX_TITLE = 300
MAX_BODY = 20_000


# -- the public tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicUpdate:
    at: datetime
    status: str
    body: str


@dataclass(frozen=True)
class PublicComponent:
    name: str
    status: ComponentStatus


@dataclass(frozen=True)
class PublicGroup:
    name: str
    status: ComponentStatus
    components: list[PublicComponent]


@dataclass(frozen=True)
class PublicIncident:
    title: str
    status: str
    """investigating | identified | monitoring | resolved."""
    impact: ComponentStatus
    """What it does to the components it affects: degraded, partial_outage, major_outage."""
    started_at: datetime
    resolved_at: datetime | None
    components: list[str]
    updates: list[PublicUpdate] = field(default_factory=list)
    """Newest first."""


@dataclass(frozen=True)
class PublicMaintenance:
    title: str
    body: str
    status: Literal["scheduled", "in_progress"]
    starts_at: datetime
    ends_at: datetime
    components: list[str]


@dataclass(frozen=True)
class PublicPage:
    name: str
    title: str
    status: ComponentStatus
    status_text: str
    generated_at: datetime
    groups: list[PublicGroup]
    incidents: list[PublicIncident]
    maintenance: list[PublicMaintenance]
    history: list[PublicIncident]


# -- helpers -----------------------------------------------------------------------------------


def worst(statuses: Iterable[str]) -> ComponentStatus:
    """Return the worst of ``statuses`` (operational for none)."""
    found = max(statuses, key=lambda s: RANK[s], default="operational")
    return cast(ComponentStatus, found)


def component_services(component: Component) -> set[str]:
    return set(component.services or [component.name])


def find_page(db: Session, name: str) -> StatusPage:
    """Return the status page ``name``; raise NotFoundError if the plan has none."""
    for page in load_incidents(db).status_pages:
        if page.name == name:
            return page
    raise NotFoundError(f'there is no status page "{name}"')


def list_pages(db: Session) -> list[StatusPage]:
    """Return every status page of the plan, by name."""
    return sorted(load_incidents(db).status_pages, key=lambda p: p.name)


def _components(page: StatusPage) -> list[Component]:
    return [c for g in page.groups for c in g.components]


def _check_states(db: Session, page: StatusPage) -> dict[str, list[str]]:
    """``component -> [status of each check it shows]`` (only checks the plan defines)."""
    patterns = {c.name: c.checks for c in _components(page) if c.checks}
    if not patterns:
        return {}
    defined = set(db.scalars(select(StoredObject.name).where(StoredObject.kind == "checks")))
    states = {
        row.name: row.status
        for row in db.scalars(select(CheckStatus).where(CheckStatus.name.in_(defined)))
    }
    out: dict[str, list[str]] = {}
    for component, globs in patterns.items():
        names = {n for n in defined if any(fnmatchcase(n, g) for g in globs)}
        out[component] = [states.get(n, "pending") for n in sorted(names)]
    return out


def _from_checks(states: Sequence[str]) -> ComponentStatus:
    known = [s for s in states if s in ("up", "down")]
    down = sum(1 for s in known if s == "down")
    if not down:
        return "operational"
    return "major_outage" if down == len(known) else "partial_outage"


@dataclass
class _Thread:
    """One public incident being assembled: an internal incident or, for updates not
    linked to one, the updates sharing a title."""

    incident: Incident | None
    updates: list[StatusUpdate] = field(default_factory=list)  # oldest first
    components: set[str] = field(default_factory=set)

    @property
    def latest(self) -> StatusUpdate | None:
        return self.updates[-1] if self.updates else None

    @property
    def public_status(self) -> str:
        latest = self.latest
        if self.incident is not None and self.incident.status == "resolved":
            return "resolved"
        return latest.status if latest is not None else "investigating"

    @property
    def resolved_at(self) -> datetime | None:
        if self.public_status != "resolved":
            return None
        if self.incident is not None and self.incident.resolved_at is not None:
            return self.incident.resolved_at
        latest = self.latest
        return latest.posted_at if latest is not None else None

    @property
    def started_at(self) -> datetime:
        if self.incident is not None:
            return self.incident.opened_at
        return self.updates[0].posted_at

    @property
    def impact(self) -> ComponentStatus:
        if self.incident is not None:
            return SEVERITY_IMPACT.get(self.incident.severity, "degraded")
        return "degraded"

    def public(self, order: list[str]) -> PublicIncident:
        latest = self.latest
        return PublicIncident(
            title=latest.title if latest is not None else NEUTRAL_TITLE,
            status=self.public_status,
            impact=self.impact,
            started_at=self.started_at,
            resolved_at=self.resolved_at,
            components=[c for c in order if c in self.components],
            updates=[PublicUpdate(u.posted_at, u.status, u.body) for u in reversed(self.updates)],
        )


def _threads(
    db: Session, page: StatusPage, updates: list[StatusUpdate], since: datetime
) -> list[_Thread]:
    """The public incidents of ``page``: open ones and those resolved after ``since``."""
    services = {c.name: component_services(c) for c in _components(page)}
    linked = {u.incident_id for u in updates if u.incident_id is not None}
    rows = db.scalars(
        select(Incident)
        .where(
            Incident.drill == "",
            or_(Incident.status != "resolved", Incident.resolved_at >= since),
        )
        .order_by(Incident.opened_at, Incident.id)
    )
    threads: dict[int | str, _Thread] = {}
    for row in rows:
        touched = {c for c, s in services.items() if s & set(row.services or [])}
        if touched or row.id in linked:
            threads[row.id] = _Thread(row, components=touched)
    for update in updates:
        if update.status == "maintenance":
            continue
        key: int | str
        if update.incident_id is not None:
            key = update.incident_id
            if key not in threads:  # a drill, or resolved before the history began
                continue
        else:
            key = f"title:{update.title}"
            threads.setdefault(key, _Thread(None))
        threads[key].updates.append(update)
        threads[key].components.update(update.components)
    return [
        t
        for t in threads.values()
        if t.public_status != "resolved" or (t.resolved_at is not None and t.resolved_at >= since)
    ]


def page_view(db: Session, page_name: str, now: datetime) -> PublicPage:
    """Return what the public sees of status page ``page_name`` at ``now``; raise
    NotFoundError if the plan has no such page."""
    page = find_page(db, page_name)
    since = now - page.history
    # only what can still show: recent updates, those of open incidents, maintenance not over
    open_incidents = select(Incident.id).where(Incident.status != "resolved")
    updates = list(
        db.scalars(
            select(StatusUpdate)
            .where(
                StatusUpdate.page == page.name,
                or_(
                    StatusUpdate.posted_at >= since,
                    StatusUpdate.incident_id.in_(open_incidents),
                    and_(StatusUpdate.status == "maintenance", StatusUpdate.ends_at >= now),
                ),
            )
            .order_by(StatusUpdate.posted_at, StatusUpdate.id)
        )
    )
    order = [c.name for c in _components(page)]
    threads = _threads(db, page, updates, since)
    active = [t for t in threads if t.public_status != "resolved"]
    past = [t for t in threads if t.public_status == "resolved"]

    maintenance = sorted(
        (
            PublicMaintenance(
                title=u.title,
                body=u.body,
                status="in_progress" if u.starts_at <= now else "scheduled",
                starts_at=u.starts_at,
                ends_at=u.ends_at,
                components=[c for c in order if c in (u.components or [])],
            )
            for u in updates
            if u.status == "maintenance"
            and u.starts_at is not None
            and u.ends_at is not None
            and u.ends_at > now
        ),
        key=lambda m: m.starts_at,
    )
    in_maintenance = {c for m in maintenance if m.status == "in_progress" for c in m.components}
    checks = _check_states(db, page)
    groups = []
    for group in page.groups:
        rows = []
        for component in group.components:
            from_incidents = worst(t.impact for t in active if component.name in t.components)
            from_checks = _from_checks(checks.get(component.name, []))
            if component.name in in_maintenance:
                status = worst(["maintenance", from_incidents])
            else:
                status = worst([from_checks, from_incidents])
            rows.append(PublicComponent(component.name, status))
        groups.append(PublicGroup(group.name, worst(r.status for r in rows), rows))
    everything = [c.status for g in groups for c in g.components]
    overall = worst(everything)
    if overall == "major_outage" and any(s != "major_outage" for s in everything):
        overall = "partial_outage"  # one service down is not the whole site down
    return PublicPage(
        name=page.name,
        title=page.title or page.name,
        status=overall,
        status_text=STATUS_TEXT[overall],
        generated_at=now,
        groups=groups,
        incidents=sorted(
            (t.public(order) for t in active), key=lambda i: i.started_at, reverse=True
        ),
        maintenance=maintenance,
        history=sorted(
            (t.public(order) for t in past),
            key=lambda i: i.resolved_at or i.started_at,
            reverse=True,
        ),
    )


# -- posting updates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateView:
    """A posted update as the team sees it (with who posted it and the incident link)."""

    id: int
    page: str
    incident_id: int | None
    status: str
    title: str
    body: str
    components: list[str]
    starts_at: datetime | None
    ends_at: datetime | None
    posted_at: datetime
    posted_by: str

    @classmethod
    def of(cls, row: StatusUpdate) -> UpdateView:
        return cls(
            row.id,
            row.page,
            row.incident_id,
            row.status,
            row.title,
            row.body,
            list(row.components or []),
            row.starts_at,
            row.ends_at,
            row.posted_at,
            row.posted_by,
        )


def _check_update(
    db: Session,
    page: StatusPage,
    status: str,
    title: str,
    body: str,
    components: Sequence[str],
    incident_id: int | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if status not in UPDATE_STATUSES:
        errors.append(("status", f'"{status}" is not one of {", ".join(UPDATE_STATUSES)}'))
    if not title.strip():
        errors.append(("title", "give a title (it is shown to the public)"))
    elif len(title) > MAX_TITLE:
        errors.append(("title", f"at most {MAX_TITLE} characters"))
    if len(body) > MAX_BODY:
        errors.append(("body", f"at most {MAX_BODY} characters"))
    known = {c.name for c in _components(page)}
    for i, name in enumerate(components):
        if name not in known:
            errors.append((f"components[{i}]", f'"{name}" is not a component of "{page.name}"'))
    if status == "maintenance":
        if incident_id is not None:
            errors.append(("incident_id", "maintenance is not linked to an incident"))
        if starts_at is None:
            errors.append(("starts_at", "maintenance needs a start"))
        if ends_at is None:
            errors.append(("ends_at", "maintenance needs an end"))
        if starts_at is not None and ends_at is not None and ends_at <= starts_at:
            errors.append(("ends_at", "must be after starts_at"))
    elif status in UPDATE_STATUSES:
        for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
            if value is not None:
                errors.append((name, "only maintenance has a start and an end"))
    if incident_id is not None and status != "maintenance":
        incident = db.get(Incident, incident_id)
        if incident is None:
            errors.append(("incident_id", f"there is no incident {incident_id}"))
        elif incident.drill:
            errors.append(("incident_id", "a drill is never shown on a status page"))
    return errors


def post_update(
    db: Session,
    page: str,
    status: str,
    title: str,
    body: str = "",
    components: Sequence[str] = (),
    incident_id: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    actor: str | Actor = "system",
    *,
    now: datetime | None = None,
) -> UpdateView:
    """Post a public update on status page ``page`` and return it; the caller commits.

    Linked to an incident, it also becomes a "status_update" entry of the incident's
    timeline. Raise NotFoundError if the page does not exist, ValidationFailed (by field:
    status, title, body, components[i], incident_id, starts_at, ends_at) for bad input.
    """
    found = find_page(db, page)
    errors = _check_update(
        db, found, status, title, body, components, incident_id, starts_at, ends_at
    )
    if errors:
        raise ValidationFailed("the status update has invalid fields", errors)
    who = audit.actor_of(actor)
    row = StatusUpdate(
        page=found.name,
        incident_id=incident_id,
        status=status,
        title=title.strip(),
        body=body.strip(),
        components=list(dict.fromkeys(components)),
        starts_at=starts_at,
        ends_at=ends_at,
        posted_at=now or utcnow(),
        posted_by=who.name[:128],
    )
    db.add(row)
    db.flush()
    if incident_id is not None:
        timeline.add_event(
            db,
            incident_id,
            "status_update",
            who.name,
            f"{found.title or found.name}: {status}: {row.title}",
            {"page": found.name, "update_id": row.id, "status": status},
            at=row.posted_at,
        )
    audit.record(
        db,
        who,
        "status_update.post",
        f"status_page/{found.name}",
        {"id": row.id, "status": status, "title": row.title, "incident_id": incident_id},
    )
    return UpdateView.of(row)


def list_updates(db: Session, page: str, limit: int = 200) -> list[UpdateView]:
    """Return the updates posted on ``page``, newest first; raise NotFoundError if the
    plan has no such page."""
    found = find_page(db, page)
    rows = db.scalars(
        select(StatusUpdate)
        .where(StatusUpdate.page == found.name)
        .order_by(StatusUpdate.posted_at.desc(), StatusUpdate.id.desc())
        .limit(limit)
    )
    return [UpdateView.of(r) for r in rows]


def delete_update(db: Session, update_id: int, actor: str | Actor) -> UpdateView:
    """Delete a posted update and return what it was; raise NotFoundError if there is no
    such update. The caller commits."""
    row = db.get(StatusUpdate, update_id)
    if row is None:
        raise NotFoundError(f"there is no status update {update_id}")
    view = UpdateView.of(row)
    db.delete(row)
    audit.record(
        db,
        audit.actor_of(actor),
        "status_update.delete",
        f"status_page/{view.page}",
        {"id": view.id, "status": view.status, "title": view.title},
    )
    return view
