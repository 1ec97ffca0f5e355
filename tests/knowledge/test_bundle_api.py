"""The knowledge API and pages over real HTTP: the documents as Markdown, HTML and SVG, the
offline bundle as a zip (viewer role), problems for bad names and formats."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import httpx
import pytest

from tests.helpers import LiveServer
from tests.knowledge.generated_fixtures import seed
from watchkeeper.knowledge.generated.page import CSP
from watchkeeper.runtime.context import AppContext

Client = Callable[..., httpx.Client]


@pytest.fixture
def viewer(ctx: AppContext, sign_in: Client) -> httpx.Client:
    with ctx.sessions() as db:
        seed(db)
    return sign_in("vera", "viewer")


def test_documents_are_listed_with_their_plan_version(viewer: httpx.Client) -> None:
    body = viewer.get("/api/v1/knowledge/documents").json()
    assert [d["name"] for d in body["documents"]] == ["inventory", "architecture", "dr"]
    assert all(d["plan_version"] > 0 for d in body["documents"])
    assert body["documents"][0]["provenance"].startswith("Generated at ")
    assert body["bundle_url"] == "/api/v1/knowledge/bundle.zip"


def test_one_document_as_markdown_html_and_svg(viewer: httpx.Client) -> None:
    md = viewer.get("/api/v1/knowledge/documents/inventory")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# System inventory") and "[db-1](</hosts/db-1>)" in md.text
    page = viewer.get("/api/v1/knowledge/documents/dr", params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP  # its inline CSS, nothing else
    assert "<style>" in page.text and "<script" not in page.text
    assert "Disaster recovery runbook: orders-db" in page.text
    svg = viewer.get("/api/v1/knowledge/documents/architecture", params={"format": "svg"})
    assert svg.headers["content-type"] == "image/svg+xml"
    assert 'data-service="orders-api"' in svg.text


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/v1/knowledge/documents/nope", 404, None),
        ("/api/v1/knowledge/documents/inventory?format=svg", 422, "format"),
        ("/api/v1/knowledge/documents/inventory?format=pdf", 422, "format"),
    ],
)
def test_bad_names_and_formats_are_problems(
    viewer: httpx.Client, path: str, status: int, field: str | None
) -> None:
    resp = viewer.get(path)
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    if field:
        assert field in [e["field"].split(".")[-1] for e in resp.json()["errors"]]


def test_bundle_zip_for_viewers(viewer: httpx.Client, server: LiveServer) -> None:
    resp = viewer.get("/api/v1/knowledge/bundle.zip")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    root = resp.headers["content-disposition"].split('filename="')[1].rstrip('"')[:-4]
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        names = set(archive.namelist())
    for path in ("index.html", "architecture.svg", "runbooks/orders-db-failover.html"):
        assert f"{root}/{path}" in names
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/api/v1/knowledge/bundle.zip").status_code == 401
        assert anonymous.get("/api/v1/knowledge/documents").status_code == 401


def test_knowledge_pages(viewer: httpx.Client) -> None:
    index = viewer.get("/knowledge")
    assert index.status_code == 200
    for target in ("/knowledge/inventory", "/knowledge/architecture", "/knowledge/dr", "/runbooks"):
        assert f'href="{target}"' in index.text
    assert "2 runbooks in the knowledge base" in index.text
    arch = viewer.get("/knowledge/architecture").text
    assert 'class="arch-diagram"' in arch and "Dependency cycle" in arch
    assert "<style>" not in arch  # the page's stylesheet themes the diagram (CSP)
    assert "from plan version" in viewer.get("/knowledge/dr").text
    assert viewer.get("/knowledge/nope").status_code == 404
