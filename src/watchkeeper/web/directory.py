"""Emergency directory pages: contacts by kind, the people who can be paged and how, the
emergency procedures; and one procedure rendered from its Markdown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.roles import role_allows
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.incidents import directory as domain
from watchkeeper.plan import catalog
from watchkeeper.plan.types import format_duration
from watchkeeper.web.alerts import markdown
from watchkeeper.web.pages import render, templates

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
CONTACTS_KIND = "incidents.contacts"
PROCEDURES_KIND = "incidents.procedures"


def tel_href(number: str) -> str:
    """Return a ``tel:`` link for a phone number as people write it ("+49 30 1234-56")."""
    kept = "".join(ch for ch in number if ch.isdigit() or ch in "+*#")
    return f"tel:{kept}" if kept.strip("+") else ""


templates.env.filters.update(tel_href=tel_href, plan_duration=format_duration)


@router.get("/incidents/directory")
def directory_page(request: Request, db: Db, user: PageUser) -> Response:
    return render(
        request,
        "incidents_directory.html",
        directory=domain.directory(db),
        can_create=role_allows(user.role, "operator"),
        contacts_kind=CONTACTS_KIND,
        procedures_kind=PROCEDURES_KIND,
        active="incidents",
        page_title="Emergency directory",
    )


@router.get("/incidents/procedures/{name}")
def procedure_page(request: Request, name: str, db: Db, user: PageUser) -> Response:
    procedure = domain.get_procedure(db, name)
    stored = catalog.get_object(db, PROCEDURES_KIND, name)
    return render(
        request,
        "procedure.html",
        procedure=procedure,
        body=markdown(procedure.body),
        managed=stored.managed,
        can_edit=not stored.managed and role_allows(user.role, "operator"),
        kind=PROCEDURES_KIND,
        active="incidents",
        page_title=procedure.title or procedure.name,
    )
