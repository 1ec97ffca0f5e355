"""The offline bundle: every generated document and every runbook, as Markdown and as
self-contained HTML whose relative links all lead to a file of the bundle; written to a
directory (an earlier export replaced, anything else refused) or a zip; from the CLI with
progress."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.knowledge.generated_fixtures import NOW, seed
from tests.test_cli import run
from watchkeeper.auth.audit import Actor
from watchkeeper.knowledge.bundle import (
    MARKER,
    BundleError,
    build_bundle,
    html_links,
    write_directory,
    write_zip,
)
from watchkeeper.knowledge.generated.documents import DOCUMENTS
from watchkeeper.knowledge.runbooks import all_for_export, delete_runbook
from watchkeeper.runtime.context import AppContext
from watchkeeper.web.alerts import markdown

_MD_LINK = re.compile(r"\]\(<([^>]*)>\)|\]\(([^)\s<]+)\)")


def render(text: str) -> str:
    return str(markdown(text))


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.refs += [v for k, v in attrs if k in ("href", "src") and v]


def references(path: str, data: bytes) -> list[str]:
    text = data.decode("utf-8")
    if path.endswith(".html"):
        parser = _Refs()
        parser.feed(text)
        assert parser.scripts == 0, f"{path} has a script"
        return parser.refs
    if path.endswith(".md"):
        return [a or b for a, b in _MD_LINK.findall(text)]
    return []


def broken_links(files: dict[str, bytes]) -> list[str]:
    """Every relative link of the bundle's pages that leads to no file of the bundle, and
    every link into a server (the bundle is read while the server is down)."""
    broken = []
    for path, data in files.items():
        for ref in references(path, data):
            if re.match(r"^[a-z][a-z0-9+.-]*:", ref, re.I) or ref.startswith("#"):
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref.split("#")[0]))
            if ref.startswith("/") or target not in files:
                broken.append(f"{path}: {ref}")
    return broken


@pytest.fixture
def seeded(db: Session) -> Session:
    seed(db)
    return db


def test_bundle_holds_every_document_and_runbook_with_working_links(seeded: Session) -> None:
    heard: list[tuple[str, int, int]] = []
    bundle = build_bundle(seeded, render, now=NOW, progress=lambda *a: heard.append(a))
    files = bundle.files
    for doc in DOCUMENTS:
        assert {f"{doc.name}.md", f"{doc.name}.html"} <= files.keys()
    assert {"index.md", "index.html", "architecture.svg"} <= files.keys()
    assert {"dr/orders-db.md", "dr/orders-db.html"} <= files.keys()
    runbooks = all_for_export(seeded)
    assert len(runbooks) == 2
    for runbook in runbooks:
        assert {f"runbooks/{runbook.slug}.md", f"runbooks/{runbook.slug}.html"} <= files.keys()
    assert broken_links(files) == []
    index = files["index.html"].decode()
    for target in ("inventory.html", "architecture.html", "dr.html", "dr/orders-db.html"):
        assert f'href="{target}"' in index
    for runbook in runbooks:
        assert f'href="runbooks/{runbook.slug}.html"' in index
    assert heard[-1] == ("index", 6, 6) and [h[1] for h in heard] == [1, 2, 3, 4, 5, 6]
    assert (bundle.documents, bundle.runbooks) == (["inventory", "architecture", "dr"], 2)


def test_bundle_pages_are_self_contained_and_safe(seeded: Session) -> None:
    files = build_bundle(seeded, render, now=NOW).files
    failover = files["runbooks/orders-db-failover.html"].decode()
    assert "<script" not in failover and "&lt;script&gt;" in failover
    assert "<style>" in failover and 'href="../index.html"' in failover
    assert "Services: orders-db" in failover and "Last reviewed: 2026-11-22 10:00 UTC" in failover
    flush = files["runbooks/cache-flush.html"].decode()
    assert 'href="../runbooks/orders-db-failover.html"' in flush  # not into the server
    markdown_copy = files["runbooks/orders-db-failover.md"].decode()
    assert markdown_copy.startswith("# Orders database failover\n")
    assert "(<../index.md>)" in markdown_copy
    architecture = files["architecture.html"].decode()
    assert '<img src="architecture.svg"' in architecture
    assert "<style>" in files["architecture.svg"].decode()
    for path, data in files.items():
        assert b"s3cret-repo-passphrase" not in data, path  # secrets never leave the store


def test_html_links_point_markdown_links_at_html() -> None:
    html = (
        '<a href="dr/x.md">a</a> <a href="../index.md#top">b</a> '
        '<a href="https://e.com/a.md">c</a> <a href="/knowledge/a.md">d</a> '
        '<img src="architecture.svg">'
    )
    assert html_links(html) == (
        '<a href="dr/x.html">a</a> <a href="../index.html#top">b</a> '
        '<a href="https://e.com/a.md">c</a> <a href="/knowledge/a.md">d</a> '
        '<img src="architecture.svg">'
    )


def test_directory_export_replaces_an_earlier_one_and_refuses_others(
    seeded: Session, tmp_path: Path
) -> None:
    out = tmp_path / "usb" / "watchkeeper"
    write_directory(build_bundle(seeded, render, now=NOW), out)
    assert (out / "index.html").is_file() and (out / "runbooks" / "cache-flush.html").is_file()
    assert (out / MARKER).is_file()
    delete_runbook(seeded, "cache-flush", Actor("alice"), NOW)
    seeded.commit()
    write_directory(build_bundle(seeded, render, now=NOW), out)
    assert not (out / "runbooks" / "cache-flush.html").exists()  # no stale runbook left
    assert (out / "runbooks" / "orders-db-failover.html").is_file()
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(BundleError, match="is not empty and holds no earlier export"):
        write_directory(build_bundle(seeded, render, now=NOW), other)
    assert (other / "holiday.jpg").exists()


def test_zip_puts_everything_under_one_folder(seeded: Session) -> None:
    bundle = build_bundle(seeded, render, now=NOW)
    buffer = io.BytesIO()
    write_zip(bundle, buffer, "wk")
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        names = archive.namelist()
        assert sorted(names) == sorted(f"wk/{p}" for p in bundle.files)
        assert archive.read("wk/index.md") == bundle.files["index.md"]


def test_cli_exports_a_directory_and_a_zip_with_progress(
    ctx: AppContext, database_url: str, tmp_path: Path
) -> None:
    with ctx.sessions() as db:
        seed(db)
    env = {"WATCHKEEPER_HOME": str(tmp_path / "home"), "WATCHKEEPER_DATABASE_URL": database_url}
    out = tmp_path / "export"
    result = run(env, "knowledge", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "exported 3 generated documents and 2 runbooks" in result.stdout
    assert str(out / "index.html") in result.stdout
    written = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert broken_links(written) == []
    result = run(env, "knowledge", "export", "--out", str(tmp_path / "zips"), "--zip")
    assert result.exit_code == 0, result.output
    [made] = list((tmp_path / "zips").glob("watchkeeper-knowledge-*.zip"))
    with zipfile.ZipFile(made) as archive:
        assert f"{made.stem}/index.html" in archive.namelist()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    result = run(env, "knowledge", "export", "--out", str(foreign))
    assert result.exit_code == 1
    assert "is not empty and holds no earlier export" in result.stderr
