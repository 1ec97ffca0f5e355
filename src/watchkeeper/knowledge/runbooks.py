"""Runbooks in the store: list and search, read, create, edit (every edit a revision with
author, time and note), delete, review ("still correct"), and what the knowledge bundle
exports (:func:`all_for_export`).

Runbooks read from the plan's folder (``source`` "folder", see
:mod:`watchkeeper.knowledge.runbook_folder`) are read-only here, as plan-managed objects
are; they can still be reviewed, since a review changes nothing in the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from fnmatch import fnmatchcase

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.exceptions import ConflictError, NotFoundError, ValidationFailed
from watchkeeper.knowledge import runbook_alerts
from watchkeeper.knowledge.config import RunbooksSection
from watchkeeper.knowledge.runbook_doc import (
    RESERVED,
    ParsedRunbook,
    is_slug,
    parse_runbook,
    slugify,
)
from watchkeeper.knowledge.runbook_metrics import RUNBOOK_REVIEWS, RUNBOOK_REVISIONS
from watchkeeper.plan.stored import stored_section
from watchkeeper.store.tables import Runbook, RunbookReview, RunbookRevision

log = logging.getLogger(__name__)

SOURCES = ("store", "folder")
SORTS = ("title", "review", "updated")
MAX_NOTE = 500
MAX_WORDS = 10
DUE_SOON = timedelta(days=14)
"""A runbook due for review within this long is flagged as due soon."""


def load_section(db: Session) -> RunbooksSection:
    """The stored ``runbooks`` section (the defaults when absent or unreadable)."""
    try:
        return RunbooksSection.model_validate(stored_section(db, "runbooks"))
    except ValidationError as exc:
        log.error("runbooks: stored configuration is invalid (%d problem(s))", exc.error_count())
        return RunbooksSection()


@dataclass(frozen=True)
class RunbookView:
    """A runbook as pages, the API and the CLI show it (``content`` and ``body`` only when
    asked for)."""

    slug: str
    title: str
    source: str
    path: str
    services: list[str]
    alerts: list[str]
    tags: list[str]
    owner: str
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    last_reviewed_at: datetime
    last_reviewed_by: str
    review_period: timedelta
    review_due_at: datetime
    review_due: bool
    review_due_soon: bool
    content: str = ""
    body: str = ""

    @property
    def read_only(self) -> bool:
        """Read from the plan's folder: edited there, not here."""
        return self.source == "folder"

    @property
    def url(self) -> str:
        return f"/runbooks/{self.slug}"


@dataclass(frozen=True)
class RevisionView:
    version: int
    title: str
    author: str
    at: datetime
    note: str
    content: str = ""


@dataclass(frozen=True)
class ReviewView:
    at: datetime
    by: str
    note: str


@dataclass(frozen=True)
class RunbookPage:
    """One page of a runbook list: the rows, how many matched, and how many are due."""

    rows: list[RunbookView]
    total: int
    due: int
    tags: list[str] = field(default_factory=list)
    """Every tag of the runbooks that matched the search, for the filter."""


@dataclass(frozen=True)
class RunbookExport:
    """A runbook as the static knowledge bundle writes it."""

    slug: str
    title: str
    markdown: str
    """The Markdown body, front matter stripped."""
    services: list[str]
    tags: list[str]
    last_reviewed_at: datetime


def review_period(row: Runbook, section: RunbooksSection) -> timedelta:
    if row.review_period_s is not None:
        return timedelta(seconds=row.review_period_s)
    return section.review_period


def view(
    row: Runbook, section: RunbooksSection, now: datetime, *, full: bool = False
) -> RunbookView:
    """Return ``row`` as a view judged at ``now``; ``full`` includes the document."""
    period = review_period(row, section)
    due_at = row.last_reviewed_at + period
    return RunbookView(
        slug=row.slug,
        title=row.title,
        source=row.source,
        path=row.path,
        services=list(row.services or []),
        alerts=list(row.alerts or []),
        tags=list(row.tags or []),
        owner=row.owner,
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        last_reviewed_at=row.last_reviewed_at,
        last_reviewed_by=row.last_reviewed_by,
        review_period=period,
        review_due_at=due_at,
        review_due=now >= due_at,
        review_due_soon=now < due_at <= now + DUE_SOON,
        content=row.content if full else "",
        body=row.body if full else "",
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_conditions(q: str) -> list[ColumnElement[bool]]:
    """SQL conditions matching every word of ``q`` in a runbook's title, tags, slug,
    services, alerts, owner or body (case-insensitive, on SQLite and PostgreSQL)."""
    words = q.lower().split()[:MAX_WORDS]
    return [Runbook.search_text.like(_like(w), escape="\\") for w in words]


def search_text(slug: str, parsed: ParsedRunbook) -> str:
    """What the search matches for a runbook, lowercased."""
    meta = parsed.meta
    parts = [
        parsed.title,
        slug,
        " ".join(meta.tags),
        " ".join(meta.services),
        " ".join(meta.alerts),
        meta.owner,
        parsed.body,
    ]
    return "\n".join(parts).lower()


def list_runbooks(
    db: Session,
    now: datetime,
    *,
    q: str = "",
    tag: str = "",
    service: str = "",
    alert: str = "",
    owner: str = "",
    source: str = "",
    due: bool = False,
    sort: str = "title",
    limit: int = 50,
    offset: int = 0,
    section: RunbooksSection | None = None,
) -> RunbookPage:
    """Return the runbooks matching every filter given: ``q`` (words in the title, tags or
    body), ``tag``, ``service``, ``alert`` (an alert name its front matter covers),
    ``owner``, ``source`` and ``due`` (past its review period); sorted by ``sort`` (title,
    review: the longest overdue first, updated: the latest first)."""
    if source and source not in SOURCES:
        raise ValidationFailed(
            f"source must be one of {', '.join(SOURCES)}", [("source", "unknown source")]
        )
    if sort not in SORTS:
        raise ValidationFailed(f"sort must be one of {', '.join(SORTS)}", [("sort", "unknown")])
    section = section or load_section(db)
    conditions = search_conditions(q)
    if source:
        conditions.append(Runbook.source == source)
    if owner:
        conditions.append(func.lower(Runbook.owner) == owner.lower())
    rows = db.scalars(select(Runbook).where(and_(True, *conditions))).all()
    views = [view(r, section, now) for r in rows]
    tags = sorted({t for v in views for t in v.tags}, key=str.lower)
    if tag:
        views = [v for v in views if tag.lower() in (t.lower() for t in v.tags)]
    if service:
        views = [v for v in views if service in v.services]
    if alert:
        views = [v for v in views if any(fnmatchcase(alert, p) for p in v.alerts)]
    due_count = sum(1 for v in views if v.review_due)
    if due:
        views = [v for v in views if v.review_due]
    if sort == "review":
        views.sort(key=lambda v: (v.review_due_at, v.title.lower()))
    elif sort == "updated":
        views.sort(key=lambda v: (v.updated_at, v.slug), reverse=True)
    else:
        views.sort(key=lambda v: (v.title.lower(), v.slug))
    return RunbookPage(views[offset : offset + limit], len(views), due_count, tags)


def find(db: Session, slug: str) -> Runbook:
    """Return the runbook ``slug``; raise NotFoundError if there is none."""
    row = db.scalar(select(Runbook).where(Runbook.slug == slug))
    if row is None:
        raise NotFoundError(f'no runbook is named "{slug}"')
    return row


def get_runbook(db: Session, slug: str, now: datetime) -> RunbookView:
    """Return the runbook ``slug`` with its document; raise NotFoundError if there is none."""
    row = db.scalar(
        select(Runbook)
        .where(Runbook.slug == slug)
        .options(undefer(Runbook.content), undefer(Runbook.body))
    )
    if row is None:
        raise NotFoundError(f'no runbook is named "{slug}"')
    return view(row, load_section(db), now, full=True)


def _note(note: str) -> str:
    note = " ".join(note.split())
    if len(note) > MAX_NOTE:
        raise ValidationFailed(
            f"the note is longer than {MAX_NOTE} characters", [("note", "too long")]
        )
    return note


def fill(row: Runbook, parsed: ParsedRunbook, content: str) -> None:
    """Set ``row``'s document and the columns read from its front matter."""
    meta = parsed.meta
    row.content = content
    row.title = parsed.title[:200]
    row.body = parsed.body
    row.services = list(dict.fromkeys(meta.services))
    row.alerts = list(dict.fromkeys(meta.alerts))
    row.tags = list(dict.fromkeys(meta.tags))
    row.owner = meta.owner
    row.review_period_s = (
        int(meta.review_period.total_seconds()) if meta.review_period is not None else None
    )
    row.search_text = search_text(row.slug, parsed)
    if meta.last_reviewed is not None:
        declared = datetime.combine(meta.last_reviewed, time(), tzinfo=UTC)
        last = row.last_reviewed_at
        if last is None or declared > last:
            row.last_reviewed_at, row.last_reviewed_by = declared, "front matter"


def add_revision(db: Session, row: Runbook, author: str, note: str, at: datetime) -> None:
    """Record ``row``'s current document as its revision ``row.version``."""
    db.add(
        RunbookRevision(
            runbook_id=row.id,
            version=row.version,
            content=row.content,
            title=row.title,
            author=author,
            at=at,
            note=note,
        )
    )


def _flush_or_conflict(db: Session, message: str) -> None:
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise ConflictError(message) from None


def _refuse_folder(row: Runbook) -> None:
    if row.source == "folder":
        raise ConflictError(
            f'runbook "{row.slug}" is read from the plan\'s runbooks folder ({row.path}); '
            "edit the file there and apply the plan"
        )


def create_runbook(
    db: Session,
    content: str,
    actor: Actor,
    now: datetime,
    *,
    slug: str = "",
    note: str = "",
) -> Runbook:
    """Store a new runbook from its document; its slug is ``slug`` or made from its title.
    Raise ValidationFailed (RunbookInvalid) for a bad document or slug, ConflictError if
    the slug is taken. Caller commits."""
    note = _note(note)
    slug = slug.strip()
    if slug and not is_slug(slug):
        raise ValidationFailed(
            f'"{slug}" is not a valid slug',
            [
                (
                    "slug",
                    "use lowercase letters, digits, - and _ (at most 100 characters; not "
                    + " or ".join(sorted(RESERVED))
                    + ")",
                )
            ],
        )
    parsed = parse_runbook(content, fallback_title=slug)
    slug = slug or slugify(parsed.title)
    if not is_slug(slug):
        raise ValidationFailed(
            "give a slug: none can be made of the title", [("slug", "give a slug")]
        )
    if db.scalar(select(Runbook.id).where(Runbook.slug == slug)) is not None:
        raise ConflictError(f'a runbook is already named "{slug}"')
    row = Runbook(
        slug=slug,
        source="store",
        path="",
        version=1,
        created_at=now,
        created_by=actor.name,
        updated_at=now,
        updated_by=actor.name,
        last_reviewed_at=now,  # its author vouches for it when writing it
        last_reviewed_by=actor.name,
    )
    fill(row, parsed, content)
    db.add(row)
    _flush_or_conflict(db, f'a runbook is already named "{slug}"')
    add_revision(db, row, actor.name, note or "created", now)
    audit.record(db, actor, "runbook.create", f"runbook/{slug}", {"title": row.title})
    RUNBOOK_REVISIONS.labels("store").inc()
    return row


def update_runbook(
    db: Session,
    slug: str,
    content: str,
    actor: Actor,
    now: datetime,
    *,
    note: str = "",
    base_version: int | None = None,
) -> Runbook:
    """Replace the document of runbook ``slug`` as a new revision. ``base_version`` is the
    version the editor started from: ConflictError if someone saved since (or if the
    runbook comes from the folder). An unchanged document records nothing. Caller commits."""
    note = _note(note)
    row = db.scalar(select(Runbook).where(Runbook.slug == slug).options(undefer(Runbook.content)))
    if row is None:
        raise NotFoundError(f'no runbook is named "{slug}"')
    _refuse_folder(row)
    if base_version is not None and base_version != row.version:
        raise ConflictError(
            f'runbook "{slug}" was changed meanwhile (it is at version {row.version}, the '
            f"edit started from {base_version}); reload it and edit again"
        )
    parsed = parse_runbook(content, fallback_title=slug)
    if content == row.content:
        return row
    row.version += 1
    fill(row, parsed, content)
    row.updated_at, row.updated_by = now, actor.name
    add_revision(db, row, actor.name, note, now)
    _flush_or_conflict(db, f'runbook "{slug}" was changed meanwhile; reload it and edit again')
    audit.record(
        db,
        actor,
        "runbook.update",
        f"runbook/{slug}",
        {"version": row.version, "note": note},
    )
    RUNBOOK_REVISIONS.labels("store").inc()
    return row


def delete_runbook(db: Session, slug: str, actor: Actor, now: datetime) -> None:
    """Delete runbook ``slug`` with its history; ConflictError for a folder runbook.
    Caller commits."""
    row = find(db, slug)
    _refuse_folder(row)
    runbook_alerts.resolve_for(db, slug, now)
    db.delete(row)
    audit.record(db, actor, "runbook.delete", f"runbook/{slug}", {"title": row.title})


def review_runbook(db: Session, slug: str, actor: Actor, now: datetime, note: str = "") -> Runbook:
    """Record that ``actor`` confirmed runbook ``slug`` still correct at ``now``, and resolve
    its ``RunbookReviewDue``. Caller commits."""
    note = _note(note)
    row = find(db, slug)
    row.last_reviewed_at, row.last_reviewed_by = now, actor.name
    db.add(RunbookReview(runbook_id=row.id, at=now, reviewed_by=actor.name, note=note))
    runbook_alerts.resolve_for(db, slug, now)
    audit.record(db, actor, "runbook.review", f"runbook/{slug}", {"note": note})
    RUNBOOK_REVIEWS.inc()
    return row


def revisions(db: Session, slug: str) -> list[RevisionView]:
    """Return the revisions of runbook ``slug``, newest first (without their documents)."""
    row = find(db, slug)
    return [
        RevisionView(r.version, r.title, r.author, r.at, r.note)
        for r in db.scalars(
            select(RunbookRevision)
            .where(RunbookRevision.runbook_id == row.id)
            .order_by(RunbookRevision.version.desc())
        )
    ]


def revision(db: Session, slug: str, version: int) -> RevisionView:
    """Return revision ``version`` of runbook ``slug`` with its document; NotFoundError if
    either does not exist."""
    row = find(db, slug)
    found = db.scalar(
        select(RunbookRevision)
        .where(RunbookRevision.runbook_id == row.id, RunbookRevision.version == version)
        .options(undefer(RunbookRevision.content))
    )
    if found is None:
        raise NotFoundError(f'runbook "{slug}" has no version {version}')
    return RevisionView(
        found.version, found.title, found.author, found.at, found.note, found.content
    )


def reviews(db: Session, slug: str, limit: int = 50) -> list[ReviewView]:
    """Return the latest reviews of runbook ``slug``, newest first."""
    row = find(db, slug)
    return [
        ReviewView(r.at, r.reviewed_by, r.note)
        for r in db.scalars(
            select(RunbookReview)
            .where(RunbookReview.runbook_id == row.id)
            .order_by(RunbookReview.at.desc(), RunbookReview.id.desc())
            .limit(limit)
        )
    ]


def due_for_review(
    db: Session, now: datetime, section: RunbooksSection | None = None
) -> list[runbook_alerts.DueRunbook]:
    """Return every runbook past its review period at ``now``."""
    section = section or load_section(db)
    return [
        runbook_alerts.DueRunbook(
            v.slug,
            v.title,
            v.owner,
            v.last_reviewed_at,
            v.last_reviewed_by,
            v.review_period,
            v.review_due_at,
        )
        for v in (view(r, section, now) for r in db.scalars(select(Runbook)))
        if v.review_due
    ]


def counts(db: Session) -> dict[str, int]:
    """Return how many runbooks each source holds."""
    found = dict.fromkeys(SOURCES, 0)
    for source, count in db.execute(select(Runbook.source, func.count()).group_by(Runbook.source)):
        found[source] = count
    return found


def all_for_export(db: Session) -> list[RunbookExport]:
    """Return every runbook for the static knowledge bundle, by title."""
    rows = db.scalars(select(Runbook).options(undefer(Runbook.body)))
    found = [
        RunbookExport(
            slug=r.slug,
            title=r.title,
            markdown=r.body,
            services=list(r.services or []),
            tags=list(r.tags or []),
            last_reviewed_at=r.last_reviewed_at,
        )
        for r in rows
    ]
    found.sort(key=lambda r: (r.title.lower(), r.slug))
    return found


def titles(db: Session, slugs: Sequence[str]) -> dict[str, str]:
    """Return the titles of the runbooks among ``slugs`` that exist."""
    if not slugs:
        return {}
    return dict(
        db.execute(select(Runbook.slug, Runbook.title).where(Runbook.slug.in_(list(slugs)))).all()
    )
