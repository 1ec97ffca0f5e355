"""The offline bundle: every generated document and every runbook as Markdown and as
self-contained HTML (inline CSS, relative links), the architecture diagram as SVG, and an
index; for a USB stick or a laptop, readable during an outage without the server.

Layout::

    index.html, index.md            what is in the bundle, with links
    inventory.{md,html}             the generated documents
    architecture.{md,html,svg}
    dr.{md,html}, dr/<policy>.{md,html}
    runbooks/<slug>.{md,html}       the knowledge base's runbooks

Markdown is turned into HTML by the caller's safe renderer (the UI's: raw HTML escaped,
unsafe link schemes dropped), so the bundle shows exactly what the UI shows.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from markupsafe import Markup
from prometheus_client import Counter
from sqlalchemy.orm import Session

from watchkeeper.exceptions import WatchkeeperError
from watchkeeper.knowledge.generated import markdown as md
from watchkeeper.knowledge.generated.documents import DOCUMENTS, GeneratedDocument, get_document
from watchkeeper.knowledge.generated.page import html_page
from watchkeeper.knowledge.generated.version import PlanVersion, plan_version
from watchkeeper.knowledge.runbooks import RunbookExport, all_for_export
from watchkeeper.store.tables import utcnow
from watchkeeper.telemetry import REGISTRY

Render = Callable[[str], str]
"""Markdown in, safe HTML out."""
Progress = Callable[[str, int, int], None]
"""Told (what is being written, how many are done, how many in all)."""
MARKER = ".watchkeeper-bundle"
_RUNBOOK_LINK = re.compile(r"\]\((<?)(/runbooks/[a-z0-9_-]+)(>?(?:\s+\"[^\"]*\")?)\)")
_HREF = re.compile(r'href="(?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)([^"#?]*?)\.md((?:#[^"]*)?)"')

EXPORTS = Counter(
    "watchkeeper_knowledge_bundle_exports_total",
    "Offline bundles built, by where from (cli or api).",
    ["via"],
    registry=REGISTRY,
)


class BundleError(WatchkeeperError):
    """The bundle cannot be written where asked."""


@dataclass
class Bundle:
    """The bundle's files by relative path (``/`` separated), in the order written."""

    generated_at: datetime
    plan: PlanVersion
    files: dict[str, bytes] = field(default_factory=dict)
    documents: list[str] = field(default_factory=list)
    runbooks: int = 0

    def add(self, path: str, text: str) -> None:
        self.files[path] = text.encode("utf-8")


def html_links(html: str) -> str:
    """Point the relative links to ``.md`` files of rendered Markdown at their ``.html``."""
    return _HREF.sub(lambda m: f'href="{m.group(1)}.html{m.group(2)}"', html)


def _nav(depth: int) -> list[tuple[str, str]]:
    root = "../" * depth
    return [("Index", f"{root}index.html")] + [(d.title, f"{root}{d.name}.html") for d in DOCUMENTS]


def _unique_slugs(runbooks: Sequence[RunbookExport]) -> list[str]:
    seen: set[str] = set()
    out = []
    for r in runbooks:
        base = md.slug(r.slug)
        name, n = base, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        out.append(name)
    return out


def _offline_links(markdown: str, links: md.Links) -> str:
    """Point a runbook's links to other runbooks (``/runbooks/<slug>``) at their files."""

    def local(match: re.Match[str]) -> str:
        target = links.runbook(match.group(2))
        return f"]({match.group(1)}{target}{match.group(3)})" if target else match.group(0)

    return _RUNBOOK_LINK.sub(local, markdown)


def _runbook_markdown(runbook: RunbookExport, links: md.Links) -> str:
    """The runbook headed by its title (unless it has one) and what it covers, its links to
    other runbooks made relative."""
    facts = []
    if runbook.services:
        facts.append("Services: " + ", ".join(md.text(s) for s in runbook.services))
    if runbook.tags:
        facts.append("Tags: " + ", ".join(md.code(t) for t in runbook.tags))
    facts.append("Last reviewed: " + md.when(runbook.last_reviewed_at))
    meta = f"_{' · '.join(facts)} · {md.link('all runbooks', links.document('index'))}_"
    body = _offline_links(runbook.markdown.strip(), links)
    first = body.lstrip().split("\n", 1)[0]
    if first.startswith("# "):
        head, _, rest = body.partition("\n")
        return f"{head}\n\n{meta}\n{rest}\n"
    return f"# {md.text(runbook.title)}\n\n{meta}\n\n{body}\n"


def _index(
    bundle: Bundle, docs: list[GeneratedDocument], runbooks: list[tuple[RunbookExport, str]]
) -> str:
    lines = [
        "# Watchkeeper knowledge bundle",
        "",
        f"_Exported at {md.when(bundle.generated_at)} from {md.text(bundle.plan.describe())}._",
        "",
        "Everything here works offline: open `index.html` in a browser, or read the "
        "Markdown files. Secrets (passwords, tokens, keys) are not in it.",
        "",
        "## Generated documents",
        "",
    ]
    for doc in docs:
        lines.append(f"- {md.link(doc.title, f'{doc.name}.md')}: {md.text(doc.info.summary)}")
        lines += [
            f"  - {md.link(p.policy, f'dr/{md.slug(p.policy)}.md')}"
            for p in (doc.parts if doc.name == "dr" else ())
        ]
    lines += ["", f"## Runbooks ({len(runbooks)})", ""]
    if not runbooks:
        lines.append("The knowledge base has no runbooks yet.")
    for runbook, name in runbooks:
        extra = ", ".join(md.text(s) for s in runbook.services)
        lines.append(
            f"- {md.link(runbook.title, f'runbooks/{name}.md')}"
            + (f" ({extra})" if extra else "")
            + f", last reviewed {md.when(runbook.last_reviewed_at)}"
        )
    return "\n".join(lines) + "\n"


def build_bundle(
    db: Session,
    render: Render,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    via: str = "cli",
) -> Bundle:
    """Build the bundle in memory from the store; ``progress`` hears of each file set."""
    now = now or utcnow()
    plan = plan_version(db)
    bundle = Bundle(generated_at=now, plan=plan)
    runbooks = all_for_export(db)
    total = len(DOCUMENTS) + len(runbooks) + 1
    done = 0

    def step(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(what, done, total)

    held = frozenset(r.slug for r in runbooks)
    links = md.Links("bundle", runbooks=held)
    docs = []
    for info in DOCUMENTS:
        doc = get_document(db, info.name, links, now=now)
        docs.append(doc)
        _write_document(bundle, doc, render)
        step(doc.title)
    named = list(zip(runbooks, _unique_slugs(runbooks), strict=True))
    nested = md.Links("bundle", depth=1, runbooks=held)
    for runbook, name in named:
        text = _runbook_markdown(runbook, nested)
        bundle.add(f"runbooks/{name}.md", text)
        bundle.add(
            f"runbooks/{name}.html",
            html_page(
                runbook.title,
                Markup(html_links(render(text))),
                nav=_nav(1),
                footer=f"Runbook {runbook.slug}; exported at {md.when(now)}",
            ),
        )
        step(f"runbook {runbook.title}")
    index = _index(bundle, docs, named)
    bundle.add("index.md", index)
    bundle.add(
        "index.html",
        html_page(
            "Watchkeeper knowledge bundle",
            Markup(html_links(render(index))),
            nav=_nav(0),
            footer=f"Exported at {md.when(now)} from {plan.describe()}",
        ),
    )
    step("index")
    bundle.documents = [d.name for d in docs]
    bundle.runbooks = len(runbooks)
    EXPORTS.labels(via).inc()
    return bundle


def _write_document(bundle: Bundle, doc: GeneratedDocument, render: Render) -> None:
    bundle.add(f"{doc.name}.md", doc.markdown)
    bundle.add(
        f"{doc.name}.html",
        html_page(
            doc.title, Markup(html_links(render(doc.markdown))), nav=_nav(0), footer=doc.provenance
        ),
    )
    if doc.svg_file:
        bundle.add(f"{doc.name}.svg", doc.svg_file)
    for part in doc.parts:
        name = md.slug(part.policy)
        bundle.add(f"dr/{name}.md", part.markdown)
        bundle.add(
            f"dr/{name}.html",
            html_page(
                f"DR runbook: {part.policy}",
                Markup(html_links(render(part.markdown))),
                nav=_nav(1),
                footer=doc.provenance,
            ),
        )


def write_zip(bundle: Bundle, target: BinaryIO, root: str) -> None:
    """Write ``bundle`` as a zip whose files are under the folder ``root``."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in bundle.files.items():
            info = zipfile.ZipInfo(f"{root}/{path}", date_time=bundle.generated_at.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def zip_bytes(bundle: Bundle, root: str) -> bytes:
    buffer = io.BytesIO()
    write_zip(bundle, buffer, root)
    return buffer.getvalue()


def folder_name(bundle: Bundle) -> str:
    """``watchkeeper-knowledge-20261206-0430``: the folder (and zip) name of a bundle."""
    return f"watchkeeper-knowledge-{bundle.generated_at:%Y%m%d-%H%M}"


def write_directory(bundle: Bundle, out: Path) -> None:
    """Write ``bundle`` into ``out`` (made when missing). An earlier export there is
    replaced (its files, listed in ``.watchkeeper-bundle``, removed first); raise
    BundleError when ``out`` holds anything else, or is not a directory."""
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a directory")
    marker = out / MARKER
    if out.exists() and any(out.iterdir()):
        if not marker.is_file():
            raise BundleError(
                f"{out} is not empty and holds no earlier export; choose a new or empty directory"
            )
        _remove_previous(out, marker)
    out.mkdir(parents=True, exist_ok=True)
    for path, data in bundle.files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    marker.write_text("\n".join(bundle.files) + "\n", encoding="utf-8")


def _remove_previous(out: Path, marker: Path) -> None:
    base = out.resolve()
    for line in marker.read_text(encoding="utf-8").splitlines():
        target = (out / line).resolve()
        if line and target.is_relative_to(base) and target.is_file():
            target.unlink()
    for folder in ("dr", "runbooks"):
        sub = out / folder
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()
