"""Knowledge API: the generated documents (list; one as Markdown, as a self-contained HTML
page, or the architecture diagram as SVG) and the offline bundle as a zip file."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from watchkeeper.api.deps import Db, require
from watchkeeper.auth.sessions import SessionInfo
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.knowledge.bundle import build_bundle, folder_name, zip_bytes
from watchkeeper.knowledge.generated.documents import DOCUMENTS, all_documents, get_document
from watchkeeper.knowledge.generated.markdown import Links
from watchkeeper.knowledge.generated.page import CSP, html_page
from watchkeeper.web.alerts import markdown

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"])
Viewer = Annotated[SessionInfo, require("viewer")]
API = Links("api")
Name = Annotated[
    str, Path(max_length=64, description="inventory, architecture or dr (GET .../documents).")
]
Format = Literal["markdown", "html", "svg"]


class DocumentOut(BaseModel):
    name: str
    title: str
    summary: str
    generated_at: datetime
    plan_version: int = Field(description="The plan apply it was built from (0: none yet).")
    provenance: str = Field(description='"Generated at ... from plan version N (...)".')
    markdown_url: str
    html_url: str
    page_url: str = Field(description="The document's page in the UI.")


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]
    bundle_url: str


def _nav() -> list[tuple[str, str]]:
    return [("Knowledge", "/knowledge")] + [
        (d.title, f"/api/v1/knowledge/documents/{d.name}?format=html") for d in DOCUMENTS
    ]


@router.get("/documents", response_model=DocumentsOut, summary="The generated documents")
def list_documents(db: Db, _: Viewer) -> DocumentsOut:
    base = "/api/v1/knowledge/documents/"
    return DocumentsOut(
        documents=[
            DocumentOut(
                name=d.name,
                title=d.title,
                summary=d.info.summary,
                generated_at=d.generated_at,
                plan_version=d.plan.number,
                provenance=d.provenance,
                markdown_url=f"{base}{d.name}?format=markdown",
                html_url=f"{base}{d.name}?format=html",
                page_url=f"/knowledge/{d.name}",
            )
            for d in all_documents(db, API)
        ],
        bundle_url="/api/v1/knowledge/bundle.zip",
    )


@router.get(
    "/documents/{name}",
    summary="One generated document: Markdown, a self-contained HTML page, or (architecture) "
    "the diagram as SVG",
    response_class=Response,
    responses={
        200: {
            "content": {"text/markdown": {}, "text/html": {}, "image/svg+xml": {}},
            "description": "The document.",
        }
    },
)
def get_one(
    db: Db,
    _: Viewer,
    name: Name,
    format: Annotated[Format, Query(description="markdown (default), html or svg.")] = "markdown",  # noqa: A002
) -> Response:
    doc = get_document(db, name, API)
    if format == "svg":
        if not doc.svg_file:
            raise ValidationFailed(
                "no diagram",
                [("format", f'"svg" is only for a document with a diagram, not "{name}"')],
            )
        return Response(
            doc.svg_file,
            media_type="image/svg+xml",
            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
        )
    if format == "html":
        page = html_page(
            doc.title,
            markdown(doc.markdown),
            nav=_nav(),
            footer=doc.provenance,
        )
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
        )
    return Response(
        doc.markdown,
        media_type="text/markdown; charset=utf-8",
        headers={
            "Content-Disposition": f'inline; filename="{doc.name}.md"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/bundle.zip",
    summary="The offline bundle: every generated document and runbook as Markdown and "
    "self-contained HTML, with an index",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "A zip file."}},
)
def get_bundle(db: Db, _: Viewer) -> Response:
    bundle = build_bundle(db, lambda text: str(markdown(text)), via="api")
    root = folder_name(bundle)
    return Response(
        zip_bytes(bundle, root),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{root}.zip"',
            "Cache-Control": "no-store",
        },
    )
