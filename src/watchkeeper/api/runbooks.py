"""Runbooks: list and search, read, create, edit with a revision note, delete, history and
diffs, and the "still correct" review. Viewers read; responders write; deleting needs an
operator. Runbooks read from the plan's folder answer 409 to edits and deletes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.orm import Session

from watchkeeper.api.deps import Db, request_actor, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.knowledge import runbooks
from watchkeeper.knowledge.runbook_diff import diff
from watchkeeper.knowledge.runbook_doc import FrontMatter, compose_runbook
from watchkeeper.knowledge.runbook_refs import coverage
from watchkeeper.plan.source import format_path
from watchkeeper.plan.types import format_duration
from watchkeeper.store.tables import utcnow

router = APIRouter(prefix="/api/v1", tags=["runbooks"])
Viewer = Annotated[SessionInfo, require("viewer")]
Responder = Annotated[SessionInfo, require("responder")]
Operator = Annotated[SessionInfo, require("operator")]
Slug = Annotated[str, Path(min_length=1, max_length=100, description="The runbook's slug.")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="A revision's number.")]


class RunbookOut(BaseModel):
    slug: str
    title: str
    source: str = Field(description="store (made in the UI/API) or folder (the plan's folder).")
    path: str = Field(description="File in the plan's runbooks folder (folder runbooks).")
    read_only: bool
    url: str = Field(description="The runbook's page.")
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
    review_period: str = Field(description="Review period, as a duration (180d).")
    review_due_at: datetime
    review_due: bool


class RunbookFull(RunbookOut):
    content: str = Field(description="The whole document: front matter and Markdown.")
    body: str = Field(description="The Markdown after the front matter.")
    covers: dict[str, list[str]] = Field(
        description="What it covers, from its front matter and the plan: services, alerts, checks."
    )


class RunbookList(BaseModel):
    items: list[RunbookOut]
    total: int = Field(description="Runbooks matching the filters.")
    review_due: int = Field(description="Of those (before the `due` filter), how many are due.")


class Document(BaseModel):
    """A runbook's document: ``content`` (front matter and Markdown, as one text), or
    ``markdown`` with the front matter's fields given separately."""

    model_config = ConfigDict(extra="forbid")
    content: str | None = Field(None, description="The whole document, front matter included.")
    markdown: str | None = Field(None, description="The Markdown body (with the fields below).")
    title: str = ""
    services: list[str] = Field(default_factory=list)
    alerts: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    owner: str = ""
    review_period: str | None = Field(None, description="A duration such as 90d.")
    note: str = Field("", description="Why it changed (kept in the history).")

    @model_validator(mode="after")
    def _one_form(self) -> Document:
        if (self.content is None) == (self.markdown is None):
            raise ValueError("give either `content` or `markdown`")
        return self

    def document(self) -> str:
        """Return the document text; raise ValidationFailed naming the bad field."""
        if self.content is not None:
            return self.content
        fields: dict[str, Any] = {
            "title": self.title,
            "services": self.services,
            "alerts": self.alerts,
            "tags": self.tags,
            "owner": self.owner,
        }
        if self.review_period:
            fields["review_period"] = self.review_period
        try:
            meta = FrontMatter.model_validate(fields)
        except ValidationError as exc:
            raise ValidationFailed(
                "the runbook's fields are not valid",
                [(format_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()],
            ) from None
        return compose_runbook(meta, self.markdown or "")


class RunbookCreate(Document):
    slug: str = Field("", description="Its name in /runbooks/<slug>; made of the title if empty.")


class RunbookUpdate(Document):
    base_version: int | None = Field(
        None, description="The version the edit started from: 409 if it changed since."
    )


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", description="What was checked (optional).")


class RevisionOut(BaseModel):
    version: int
    title: str
    author: str
    at: datetime
    note: str


class RevisionFull(RevisionOut):
    content: str


class ReviewOut(BaseModel):
    at: datetime
    by: str
    note: str


class DiffLineOut(BaseModel):
    kind: str = Field(description="hunk, add, del or same.")
    old: int | None
    new: int | None
    text: str


class DiffOut(BaseModel):
    slug: str
    old: RevisionOut
    new: RevisionOut
    added: int
    removed: int
    lines: list[DiffLineOut]
    unified: str = Field(description="The same diff as `diff -u` prints it.")


def _out(v: runbooks.RunbookView) -> dict[str, Any]:
    return {
        "slug": v.slug,
        "title": v.title,
        "source": v.source,
        "path": v.path,
        "read_only": v.read_only,
        "url": v.url,
        "services": v.services,
        "alerts": v.alerts,
        "tags": v.tags,
        "owner": v.owner,
        "version": v.version,
        "created_at": v.created_at,
        "created_by": v.created_by,
        "updated_at": v.updated_at,
        "updated_by": v.updated_by,
        "last_reviewed_at": v.last_reviewed_at,
        "last_reviewed_by": v.last_reviewed_by,
        "review_period": format_duration(v.review_period),
        "review_due_at": v.review_due_at,
        "review_due": v.review_due,
    }


def _full(db: Session, slug: str) -> RunbookFull:
    v = runbooks.get_runbook(db, slug, utcnow())
    covered = coverage(db, v.slug, v.services, v.alerts)
    return RunbookFull(
        **_out(v),
        content=v.content,
        body=v.body,
        covers={
            "services": covered.services,
            "alerts": covered.alerts,
            "checks": covered.checks,
        },
    )


def _revision(r: runbooks.RevisionView) -> RevisionOut:
    return RevisionOut(version=r.version, title=r.title, author=r.author, at=r.at, note=r.note)


@router.get("/runbooks", response_model=RunbookList, summary="List and search runbooks")
def list_runbooks(
    db: Db,
    _: Viewer,
    q: Annotated[str, Query(max_length=200, description="Words in title, tags or text.")] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    service: Annotated[str, Query(max_length=128)] = "",
    alert: Annotated[str, Query(max_length=200, description="An alert name covered.")] = "",
    owner: Annotated[str, Query(max_length=150)] = "",
    source: Annotated[str, Query(pattern="^(|store|folder)$")] = "",
    due: Annotated[bool, Query(description="Only those past their review period.")] = False,
    sort: Annotated[str, Query(pattern="^(title|review|updated)$")] = "title",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RunbookList:
    page = runbooks.list_runbooks(
        db,
        utcnow(),
        q=q,
        tag=tag,
        service=service,
        alert=alert,
        owner=owner,
        source=source,
        due=due,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return RunbookList(
        items=[RunbookOut(**_out(v)) for v in page.rows], total=page.total, review_due=page.due
    )


@router.post(
    "/runbooks",
    response_model=RunbookFull,
    status_code=201,
    summary="Create a runbook (409 if the slug is taken)",
)
def create_runbook(body: RunbookCreate, request: Request, db: Db, info: Responder) -> RunbookFull:
    row = runbooks.create_runbook(
        db,
        body.document(),
        request_actor(request, info),
        utcnow(),
        slug=body.slug,
        note=body.note,
    )
    db.commit()
    return _full(db, row.slug)


@router.get("/runbooks/{slug}", response_model=RunbookFull, summary="Get a runbook")
def get_runbook(slug: Slug, db: Db, _: Viewer) -> RunbookFull:
    return _full(db, slug)


@router.put(
    "/runbooks/{slug}",
    response_model=RunbookFull,
    summary="Edit a runbook: the new document becomes a revision with its note",
)
def update_runbook(
    slug: Slug, body: RunbookUpdate, request: Request, db: Db, info: Responder
) -> RunbookFull:
    runbooks.update_runbook(
        db,
        slug,
        body.document(),
        request_actor(request, info),
        utcnow(),
        note=body.note,
        base_version=body.base_version,
    )
    db.commit()
    return _full(db, slug)


@router.delete("/runbooks/{slug}", status_code=204, summary="Delete a runbook and its history")
def delete_runbook(slug: Slug, request: Request, db: Db, info: Operator) -> Response:
    runbooks.delete_runbook(db, slug, request_actor(request, info), utcnow())
    db.commit()
    return Response(status_code=204)


@router.post(
    "/runbooks/{slug}/review",
    response_model=RunbookFull,
    summary="Mark a runbook reviewed: still correct (resolves RunbookReviewDue)",
)
def review_runbook(
    slug: Slug, request: Request, db: Db, info: Responder, body: ReviewIn | None = None
) -> RunbookFull:
    runbooks.review_runbook(
        db, slug, request_actor(request, info), utcnow(), note=body.note if body else ""
    )
    db.commit()
    return _full(db, slug)


@router.get(
    "/runbooks/{slug}/reviews", response_model=list[ReviewOut], summary="A runbook's reviews"
)
def list_reviews(slug: Slug, db: Db, _: Viewer) -> list[ReviewOut]:
    return [ReviewOut(at=r.at, by=r.by, note=r.note) for r in runbooks.reviews(db, slug)]


@router.get(
    "/runbooks/{slug}/revisions",
    response_model=list[RevisionOut],
    summary="A runbook's revisions, newest first",
)
def list_revisions(slug: Slug, db: Db, _: Viewer) -> list[RevisionOut]:
    return [_revision(r) for r in runbooks.revisions(db, slug)]


@router.get(
    "/runbooks/{slug}/revisions/{version}",
    response_model=RevisionFull,
    summary="One revision of a runbook, with its document",
)
def get_revision(slug: Slug, version: Version, db: Db, _: Viewer) -> RevisionFull:
    r = runbooks.revision(db, slug, version)
    return RevisionFull(**_revision(r).model_dump(), content=r.content)


@router.get(
    "/runbooks/{slug}/diff",
    response_model=DiffOut,
    summary="The difference between two revisions of a runbook",
)
def get_diff(
    slug: Slug,
    db: Db,
    _: Viewer,
    from_: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1)],
    to: Annotated[int, Query(ge=1, le=2**31 - 1)],
) -> DiffOut:
    d = diff(db, slug, from_, to)
    return DiffOut(
        slug=slug,
        old=_revision(d.old),
        new=_revision(d.new),
        added=d.added,
        removed=d.removed,
        lines=[DiffLineOut(kind=x.kind, old=x.old, new=x.new, text=x.text) for x in d.lines],
        unified=d.unified(),
    )
