"""Runbook pages: the list (search, tag and service filters, the "review due" tab), one
runbook rendered safely with what it covers, the editor with a live preview, the history
with the diff between two revisions, and the one-click "still correct" review. Runbooks
read from the plan's folder are shown read-only."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.knowledge import runbooks
from watchkeeper.knowledge.runbook_diff import diff
from watchkeeper.knowledge.runbook_doc import RunbookInvalid, parse_runbook
from watchkeeper.knowledge.runbook_links import runbook_link, runbook_path
from watchkeeper.knowledge.runbook_refs import coverage
from watchkeeper.plan.types import format_duration
from watchkeeper.store.tables import utcnow
from watchkeeper.web.backups import runbook_html
from watchkeeper.web.pages import render, templates

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageResponder = Annotated[SessionInfo, require("responder", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
Slug = Annotated[str, Path(min_length=1, max_length=100)]
EDIT_ROLE = "responder"
DELETE_ROLE = "operator"
PER_PAGE = 50
DEFAULTS = {("tab", "all"), ("sort", "title")}
NOTICES = {
    "created": "Runbook created.",
    "saved": "Saved as a new revision.",
    "unchanged": "Nothing changed: no revision recorded.",
    "reviewed": "Marked reviewed: still correct.",
    "deleted": "Runbook deleted.",
}
TEMPLATE = """---
title: {title}
services: []
alerts: []
tags: []
owner: ""
---

# {title}

## When to use this runbook

## Check

## Fix

## Verify
"""
templates.env.filters.update(runbook_link=runbook_link, plan_duration=format_duration)


def _preview(text: str) -> dict[str, Any]:
    """The editor's preview of a document: its title and rendered body, or its problems."""
    try:
        parsed = parse_runbook(text, fallback_title="untitled")
    except RunbookInvalid as exc:
        return {
            "preview": Markup(""),
            "preview_title": "",
            "preview_problems": list(map(str, exc.problems)),
        }
    return {
        "preview": runbook_html(parsed.body),
        "preview_title": parsed.title,
        "preview_problems": [],
    }


@router.get("/runbooks")
def runbooks_page(
    request: Request,
    db: Db,
    user: PageUser,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    service: Annotated[str, Query(max_length=128)] = "",
    source: Annotated[str, Query(pattern="^(|store|folder)$")] = "",
    tab: Annotated[str, Query(pattern="^(all|due)$")] = "all",
    sort: Annotated[str, Query(pattern="^(title|review|updated)$")] = "title",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    found = runbooks.list_runbooks(
        db,
        utcnow(),
        q=q,
        tag=tag,
        service=service,
        source=source,
        due=tab == "due",
        sort="review" if tab == "due" and sort == "title" else sort,
        limit=PER_PAGE,
        offset=(page - 1) * PER_PAGE,
    )
    kept = {"q": q, "tag": tag, "service": service, "source": source, "tab": tab, "sort": sort}

    def qs(**changes: object) -> str:
        """The list's query string with ``changes`` (defaults and empty values left out)."""
        merged = {**kept, **changes}
        pairs = {
            k: v for k, v in merged.items() if v not in ("", None, 1) and (k, v) not in DEFAULTS
        }
        return f"?{urlencode(pairs)}" if pairs else ""

    return render(
        request,
        "runbooks.html",
        found=found,
        qs=qs,
        filters={"q": q, "tag": tag, "service": service, "source": source, "sort": sort},
        tab=tab,
        page=page,
        pages=max(1, -(-found.total // PER_PAGE)),
        notice=NOTICES.get(request.query_params.get("done", "")),
        can_edit=role_allows(user.role, EDIT_ROLE),
        active="runbooks",
        page_title="Runbooks",
    )


def _editor(
    request: Request,
    *,
    slug: str,
    content: str,
    note: str = "",
    base_version: int | None = None,
    errors: list[str] | None = None,
    status: int = 200,
    title: str = "",
) -> Response:
    return render(
        request,
        "runbook_edit.html",
        status=status,
        slug=slug,
        creating=base_version is None,
        content=content,
        note=note,
        base_version=base_version,
        errors=errors or [],
        **_preview(content),
        active="runbooks",
        page_title=title or "New runbook",
    )


def _messages(exc: ValidationFailed) -> list[str]:
    if isinstance(exc, RunbookInvalid):
        return [str(p) for p in exc.problems]
    return [f"{field}: {message}" for field, message in exc.errors] or [str(exc)]


@router.get("/runbooks/new")
def new_runbook_page(request: Request, user: PageResponder) -> Response:
    return _editor(request, slug="", content=TEMPLATE.format(title="New runbook"))


@router.post("/runbooks/new")
def create_runbook(
    request: Request,
    db: Db,
    user: PageResponder,
    content: Annotated[str, Form()] = "",
    slug: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        row = runbooks.create_runbook(
            db, content, _actor(request, user), utcnow(), slug=slug, note=note
        )
    except (ValidationFailed, ConflictError) as exc:
        db.rollback()
        errors = _messages(exc) if isinstance(exc, ValidationFailed) else [str(exc)]
        return _editor(request, slug=slug, content=content, note=note, errors=errors, status=422)
    db.commit()
    return RedirectResponse(f"{runbook_path(row.slug)}?done=created", status_code=303)


@router.post("/runbooks/preview")
def preview(request: Request, user: PageUser, content: Annotated[str, Form()] = "") -> HTMLResponse:
    """The editor's live preview: the rendered Markdown, or the document's problems."""
    return render(request, "_runbook_preview.html", **_preview(content))


@router.get("/runbooks/{slug}")
def runbook_page(
    request: Request,
    slug: Slug,
    db: Db,
    user: PageUser,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    now = utcnow()
    rb = runbooks.get_runbook(db, slug, now)
    old = None
    body = rb.body
    if version is not None and version != rb.version:
        old = runbooks.revision(db, slug, version)
        try:
            body = parse_runbook(old.content, fallback_title=slug).body
        except RunbookInvalid:
            body = old.content
    return render(
        request,
        "runbook.html",
        rb=rb,
        old=old,
        rendered=runbook_html(body),  # under the page's h1: its own title left out
        covered=coverage(db, rb.slug, rb.services, rb.alerts),
        reviews=runbooks.reviews(db, slug, limit=5),
        notice=NOTICES.get(request.query_params.get("done", "")),
        error=request.query_params.get("error", ""),
        can_edit=role_allows(user.role, EDIT_ROLE) and not rb.read_only,
        can_review=role_allows(user.role, EDIT_ROLE),
        can_delete=role_allows(user.role, DELETE_ROLE) and not rb.read_only,
        now=now,
        active="runbooks",
        page_title=rb.title,
    )


@router.get("/runbooks/{slug}/edit")
def edit_runbook_page(request: Request, slug: Slug, db: Db, user: PageResponder) -> Response:
    rb = runbooks.get_runbook(db, slug, utcnow())
    if rb.read_only:
        raise ConflictError(
            f'runbook "{slug}" is read from the plan\'s runbooks folder ({rb.path}); edit the '
            "file there and apply the plan"
        )
    return _editor(
        request, slug=slug, content=rb.content, base_version=rb.version, title=f"Edit {rb.title}"
    )


@router.post("/runbooks/{slug}/edit")
def save_runbook(
    request: Request,
    slug: Slug,
    db: Db,
    user: PageResponder,
    content: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    base_version: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
) -> Response:
    try:
        row = runbooks.update_runbook(
            db,
            slug,
            content,
            _actor(request, user),
            utcnow(),
            note=note,
            base_version=base_version,
        )
    except (ValidationFailed, ConflictError) as exc:
        db.rollback()
        errors = _messages(exc) if isinstance(exc, ValidationFailed) else [str(exc)]
        return _editor(
            request,
            slug=slug,
            content=content,
            note=note,
            base_version=base_version,
            errors=errors,
            status=409 if isinstance(exc, ConflictError) else 422,
            title=f"Edit {slug}",
        )
    done = "saved" if base_version is None or row.version != base_version else "unchanged"
    db.commit()
    return RedirectResponse(f"{runbook_path(slug)}?done={done}", status_code=303)


@router.post("/runbooks/{slug}/review")
def review_runbook(
    request: Request,
    slug: Slug,
    db: Db,
    user: PageResponder,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        runbooks.review_runbook(db, slug, _actor(request, user), utcnow(), note=note)
    except ValidationFailed as exc:
        db.rollback()
        return RedirectResponse(
            f"{runbook_path(slug)}?error={quote(_messages(exc)[0])}", status_code=303
        )
    db.commit()
    return RedirectResponse(f"{runbook_path(slug)}?done=reviewed", status_code=303)


@router.post("/runbooks/{slug}/delete")
def delete_runbook(request: Request, slug: Slug, db: Db, user: PageOperator) -> Response:
    runbooks.delete_runbook(db, slug, _actor(request, user), utcnow())
    db.commit()
    return RedirectResponse("/runbooks?done=deleted", status_code=303)


@router.get("/runbooks/{slug}/history")
def history_page(request: Request, slug: Slug, db: Db, user: PageUser) -> Response:
    rb = runbooks.get_runbook(db, slug, utcnow())
    revisions = runbooks.revisions(db, slug)
    return render(
        request,
        "runbook_history.html",
        rb=rb,
        revisions=revisions,
        reviews=runbooks.reviews(db, slug),
        active="runbooks",
        page_title=f"History of {rb.title}",
    )


@router.get("/runbooks/{slug}/diff")
def diff_page(
    request: Request,
    slug: Slug,
    db: Db,
    user: PageUser,
    from_: Annotated[int | None, Query(alias="from", ge=1, le=2**31 - 1)] = None,
    to: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    rb = runbooks.get_runbook(db, slug, utcnow())
    new = to or rb.version
    old = from_ or max(1, new - 1)
    if old == new and new > 1:
        old = new - 1
    found = diff(db, slug, min(old, new), max(old, new))
    return render(
        request,
        "runbook_diff.html",
        rb=rb,
        d=found,
        active="runbooks",
        page_title=f"Changes to {rb.title}",
    )
