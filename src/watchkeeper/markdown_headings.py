"""Headings of Markdown documents and the anchors MkDocs gives them.

The documentation site is built by MkDocs, whose anchors are Python-Markdown's ``toc``
slugs; the generated API reference links to its own headings with them, and the docs link
checker (tests/test_docs_site.py) checks ``page.md#anchor`` links against them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

CODE_SPAN = re.compile(r"(`+)(.+?)\1")
"""An inline code span (its backticks, its text)."""
_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^(#{1,6})(.*?)#*\s*$")


def heading_slug(text: str) -> str:
    """Return the anchor Python-Markdown's ``toc`` extension makes of a heading's text."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def _unique(slug: str, used: set[str]) -> str:
    # toc's rule: a repeated anchor gets _1, _2, ...
    while slug in used or not slug:
        match = re.match(r"^(.*)_([0-9]+)$", slug)
        slug = f"{match.group(1)}_{int(match.group(2)) + 1}" if match else f"{slug}_1"
    used.add(slug)
    return slug


def prose_lines(markdown: str) -> Iterator[tuple[str, bool]]:
    """Yield each line of ``markdown`` with True when it is prose, False inside (or on the
    fences of) a fenced code block."""
    fence = ""
    for line in markdown.split("\n"):
        opening = _FENCE.match(line)
        if fence:
            marks = line.strip()
            if opening and len(marks) >= len(fence) and not marks.strip(fence[0]):
                fence = ""
            yield line, False
        elif opening:
            fence = opening.group(1)
            yield line, False
        else:
            yield line, True


def heading_text(markdown: str) -> str:
    """Return the plain text of a heading's inline Markdown (code, links, emphasis,
    escapes), as the ``toc`` extension reads it."""
    parts: list[str] = []
    pos = 0
    for match in CODE_SPAN.finditer(markdown):
        parts.append(_plain(markdown[pos : match.start()]))
        parts.append(match.group(2).strip())
        pos = match.end()
    parts.append(_plain(markdown[pos:]))
    return "".join(parts)


def _plain(text: str) -> str:
    text = _INLINE_LINK.sub(r"\1", text)
    text = re.sub(r"\\(.)", r"\1", text)
    text = text.replace("*", "")
    return re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)


def headings(markdown: str) -> list[tuple[int, str, str]]:
    """Return (level, text, anchor) of every ATX heading of ``markdown``, in order, outside
    fenced code blocks, with the anchors MkDocs gives them (repeats made unique)."""
    used: set[str] = set()
    found: list[tuple[int, str, str]] = []
    for line, prose in prose_lines(markdown):
        heading = _ATX.match(line) if prose else None
        if heading:
            text = heading_text(heading.group(2).strip())
            found.append((len(heading.group(1)), text, _unique(heading_slug(text), used)))
    return found
