"""Knowledge pages: the index of generated documents (with the runbooks and the offline
bundle), and each generated document (system inventory, architecture overview with its
diagram, disaster-recovery runbooks), rendered from the same Markdown the API and the
bundle give out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.knowledge.generated.documents import all_documents, get_document
from watchkeeper.knowledge.generated.markdown import Links
from watchkeeper.knowledge.runbooks import counts
from watchkeeper.web.alerts import markdown
from watchkeeper.web.pages import render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[SessionInfo, require("viewer", page=True)]
PAGE = Links("page")


@router.get("/knowledge")
def knowledge_index(request: Request, db: Db, _: PageUser) -> Response:
    docs = all_documents(db, PAGE)
    return render(
        request,
        "knowledge.html",
        documents=docs,
        plan=docs[0].plan if docs else None,
        runbook_count=sum(counts(db).values()),
        active="knowledge",
        page_title="Knowledge",
    )


@router.get("/knowledge/{name}")
def knowledge_document(request: Request, name: str, db: Db, _: PageUser) -> Response:
    doc = get_document(db, name, PAGE)
    return render(
        request,
        "knowledge_document.html",
        doc=doc,
        body=markdown(doc.body),
        diagram=Markup(doc.svg_inline),
        active="knowledge",
        page_title=doc.title,
    )
