"""Writing the generated documents' Markdown: escaped table cells, tables, times, links whose
targets depend on where the document is read (the web UI, the API, the offline bundle), and
headings moved down a level when one document is put inside another."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

from watchkeeper.knowledge.runbook_links import named_slug, runbook_link

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^(#{1,5})(\s)")

Style = Literal["page", "api", "bundle"]


def text(value: object) -> str:
    """``value`` as Markdown text that renders as itself: punctuation Markdown would read as
    formatting is escaped, line breaks become spaces."""
    flat = " ".join(str(value).split())
    return _SPECIAL.sub(r"\\\1", flat)


def code(value: object) -> str:
    """``value`` as inline code (a backtick in it is replaced: inline code cannot escape)."""
    flat = " ".join(str(value).split()).replace("`", "'")
    return f"`{flat}`" if flat else ""


def link(label: str, target: str) -> str:
    """A Markdown link; ``label`` is escaped, ``target`` is used as given (a URL or path)."""
    if not target:
        return text(label)
    return f"[{text(label)}](<{target.replace('>', '%3E')}>)"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table; cells are Markdown already (use :func:`text` for plain values)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for row in rows:
        cells = [c.replace("\n", " ") or "–" for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def when(moment: datetime | None, never: str = "never") -> str:
    """``2026-12-06 04:00 UTC`` (``never`` when there is no moment)."""
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else never


def demote(markdown: str, levels: int = 1) -> str:
    """Return ``markdown`` with its ATX headings ``levels`` deeper (outside code fences), for
    a document placed under a heading of another."""
    out, fence = [], ""
    for line in markdown.splitlines():
        opened = _FENCE.match(line)
        if opened:
            marker = opened.group(1)
            if not fence:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = ""
        elif not fence:
            line = _HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + levels) + m.group(2), line)
        out.append(line)
    return "\n".join(out)


def slug(name: str) -> str:
    """A file-name-safe form of an object name (``orders-db``, ``Payments API`` ->
    ``payments-api``); never empty, never a path."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return cleaned[:100] or "unnamed"


@dataclass(frozen=True)
class Links:
    """Where a generated document's links point.

    ``page``: the web UI (the architecture page shows its diagram itself); ``api``: the
    web UI, and the diagram as an image from the API; ``bundle``: files of the offline
    bundle, relative to the folder the document is in (``depth`` folders below the root),
    and no link into a server that may be down."""

    style: Style
    depth: int = 0
    runbooks: frozenset[str] | None = None
    """In the bundle: the runbooks it holds (a reference to another is not linked)."""

    @property
    def bundle(self) -> bool:
        return self.style == "bundle"

    def _root(self) -> str:
        return "../" * self.depth

    def document(self, name: str) -> str:
        if self.bundle:
            return f"{self._root()}{name}.md"
        return f"/knowledge/{name}"

    def diagram(self) -> str:
        """The architecture diagram as an image ("" where the page draws it itself)."""
        if self.style == "page":
            return ""
        if self.bundle:
            return f"{self._root()}architecture.svg"
        return "/api/v1/knowledge/documents/architecture?format=svg"

    def dr_policy(self, policy: str) -> str:
        if self.bundle:
            return f"{self._root()}dr/{slug(policy)}.md"
        return f"/backups/{quote(policy, safe='')}"

    def runbook(self, reference: str) -> str:
        """Where a runbook reference (a slug, or a link) leads: the runbook's page, its
        file in the bundle; a link as it is (but a path on the server, in the bundle)."""
        found = named_slug(reference)
        if self.bundle:
            if found:
                held = self.runbooks is None or found in self.runbooks
                return f"{self._root()}runbooks/{slug(found)}.md" if held else ""
            target = runbook_link(reference)
            return "" if target.startswith("/") else target
        return runbook_link(reference)

    def host(self, name: str) -> str:
        return "" if self.bundle else f"/hosts/{quote(name, safe='')}"

    def check(self, name: str) -> str:
        return "" if self.bundle else f"/checks/{quote(name, safe='')}"

    def database(self, name: str) -> str:
        return "" if self.bundle else f"/databases/{quote(name, safe='')}"
