"""Object pages: view any object; create, edit and delete the ones made in the UI.

Objects are edited as YAML, the same text the plan file would hold, and checked by the same
models; problems are shown with the line they are on.
"""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.api.deps import Db, require
from watchkeeper.api.deps import request_actor as _actor
from watchkeeper.auth.audit import Actor, mask_secrets
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import NotFoundError, ValidationFailed
from watchkeeper.knowledge.onboarding import STARTERS as ONBOARDING_STARTERS
from watchkeeper.plan import catalog
from watchkeeper.plan.source import parse_plan_text
from watchkeeper.web.nav import DOMAINS
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PageOperator = Annotated[SessionInfo, require("operator", page=True)]
EDIT_ROLE = "operator"

STARTERS = ONBOARDING_STARTERS  # what /objects/<kind>/new opens with (the first-run tour's)


def _domain_slug(kind: str) -> str:
    section = kind.split(".", 1)[0]
    return next((d.slug for d in DOMAINS if d.section == section), "")


def _known_kind(kind: str) -> str:
    if kind not in catalog.collection_kinds():
        raise NotFoundError(f'no object kind "{kind}"')
    return kind


def _parse(text: str) -> tuple[Any, list[str]]:
    """Return (data, problems) for the YAML in the editor; positions are editor lines."""
    doc = parse_plan_text(text, file="editor")
    problems = [
        f"line {p.position.line}: {p.path + ': ' if p.path else ''}{p.message}"
        if p.position
        else p.message
        for p in doc.problems
    ]
    return doc.data, problems


def _editor(
    request: Request,
    kind: str,
    text: str,
    *,
    name: str | None,
    status: int = 200,
    errors: list[str] | None = None,
) -> Response:
    return render(
        request,
        "object_edit.html",
        status=status,
        kind=kind,
        name=name,
        text=text,
        errors=errors or [],
        back=_domain_slug(kind),
        active=_domain_slug(kind),
        page_title=f"Edit {kind}/{name}" if name else f"New {kind}",
    )


def _save(
    request: Request, db: Db, kind: str, text: str, actor: Actor, name: str | None
) -> Response:
    data, problems = _parse(text)
    if problems:
        return _editor(request, kind, text, name=name, status=422, errors=problems)
    try:
        if name is None:
            view = catalog.create_object(db, kind, data, actor)
        else:
            view = catalog.update_object(db, kind, name, data, actor)
    except ValidationFailed as exc:
        db.rollback()
        errors = [f"{field}: {message}" for field, message in exc.errors] or [str(exc)]
        return _editor(request, kind, text, name=name, status=422, errors=errors)
    db.commit()
    return RedirectResponse(f"/objects/{kind}/{view.name}", status_code=303)


@router.get("/objects/{kind}/new")
def new_object(request: Request, kind: str, _: PageOperator) -> Response:
    return _editor(request, _known_kind(kind), STARTERS.get(kind, "name: new-object\n"), name=None)


@router.post("/objects/{kind}/new")
def create_object(
    request: Request, kind: str, db: Db, user: PageOperator, spec: Annotated[str, Form()]
) -> Response:
    return _save(request, db, _known_kind(kind), spec, _actor(request, user), None)


@router.get("/objects/{kind}/{name}")
def object_page(request: Request, kind: str, name: str, db: Db, user: PageUser) -> Response:
    obj = catalog.get_object(db, kind, name)
    return render(
        request,
        "object.html",
        obj=obj,
        back=_domain_slug(kind),
        active=_domain_slug(kind),
        page_title=f"{kind}/{name}",
        spec_yaml=yaml.safe_dump(
            mask_secrets(catalog.compact_spec(kind, obj.spec)), sort_keys=False, allow_unicode=True
        ),
        can_edit=not obj.managed and role_allows(user.role, EDIT_ROLE),
    )


@router.get("/objects/{kind}/{name}/edit")
def edit_object(request: Request, kind: str, name: str, db: Db, _: PageOperator) -> Response:
    obj = catalog.get_object(db, kind, name)
    if obj.managed:
        return RedirectResponse(f"/objects/{kind}/{name}", status_code=303)
    # Secrets are masked; saving the text with the masks unchanged keeps the stored values.
    shown = mask_secrets(catalog.compact_spec(kind, obj.spec))
    text = yaml.safe_dump(shown, sort_keys=False, allow_unicode=True)
    return _editor(request, kind, text, name=name)


@router.post("/objects/{kind}/{name}/edit")
def update_object(
    request: Request, kind: str, name: str, db: Db, user: PageOperator, spec: Annotated[str, Form()]
) -> Response:
    return _save(request, db, _known_kind(kind), spec, _actor(request, user), name)


@router.post("/objects/{kind}/{name}/delete")
def delete_object(request: Request, kind: str, name: str, db: Db, user: PageOperator) -> Response:
    catalog.delete_object(db, kind, name, _actor(request, user))
    db.commit()
    return RedirectResponse(f"/{_domain_slug(kind)}", status_code=303)
