"""MkDocs hooks for the documentation site (mkdocs.yml `hooks:`).

- README.md and CHANGELOG.md, which live at the repository's root, become the pages
  `readme.md` and `changelog.md`, so that the tour and the changes are in the site too.
- Links are rewritten from the repository's layout to the site's: `docs/x.md` in the
  README becomes `x.md`, `../README.md#performance` in a guide becomes `readme.md#performance`;
  a link to another file of the repository (an example, a script) is not part of the site
  and becomes its path in code.
- Lists are re-indented the way Python-Markdown reads them (four spaces a level), since the
  files are written for CommonMark (content under its marker: `1. ` is three), and a fenced
  block inside a list item, which Python-Markdown does not take, becomes an indented one.
- The site's stylesheet is written at build time: code highlighting by Pygments (light and
  dark; the theme's own highlighter would load from a CDN, and the site must work offline)
  and long headings (API paths) wrapping in the sidebar.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from pygments.formatters import HtmlFormatter

from watchkeeper.markdown_headings import prose_lines

ROOT = Path(__file__).resolve().parents[1]
ROOT_PAGES = {"README.md": "readme.md", "CHANGELOG.md": "changelog.md"}
"""Repository files shown as pages, and their names in the site."""
DOCS = "docs"
SITE_CSS = "css/watchkeeper.css"
_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ITEM = re.compile(r"^( *)([-*+]|[0-9]{1,9}[.)])( +|$)(.*)$")
_EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)", re.IGNORECASE)


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for source, name in ROOT_PAGES.items():
        files.append(File.generated(config, name, abs_src_path=str(ROOT / source)))
    files.append(File.generated(config, SITE_CSS, content=site_css()))
    return files


def site_css() -> str:
    """Pygments' default style, monokai under the dark theme, and wrapping sidebar links."""
    light = HtmlFormatter(style="default").get_style_defs(".codehilite")
    dark = HtmlFormatter(style="monokai").get_style_defs('[data-bs-theme="dark"] .codehilite')
    sidebar = ".bs-sidebar .nav-link { overflow-wrap: anywhere; }"
    return f"{light}\n{dark}\n{sidebar}\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    src_uri: str = page.file.src_uri
    inverse = {name: source for source, name in ROOT_PAGES.items()}
    # where the page's Markdown lives in the repository, and where the page is in the site
    repo_file = inverse.get(src_uri, posixpath.join(DOCS, src_uri))
    return normalise_lists(rewrite_links(markdown, repo_file, src_uri))


def site_target(target: str, repo_file: str, site_file: str) -> str | None:
    """The link ``target`` written in ``repo_file`` (a path in the repository), as the page
    ``site_file`` of the site must write it; None when it points at no page of the site."""
    if _EXTERNAL.match(target):
        return target
    path, hash_, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(repo_file), path))
    if repo_path in ROOT_PAGES:
        in_site = ROOT_PAGES[repo_path]
    elif repo_path.startswith(DOCS + "/"):
        in_site = repo_path[len(DOCS) + 1 :]
    else:
        return None
    relative = posixpath.relpath(in_site, posixpath.dirname(site_file) or ".")
    return relative + hash_ + anchor


def rewrite_links(markdown: str, repo_file: str, site_file: str) -> str:
    """Rewrite the inline links of ``markdown`` (outside fenced code) for the site."""

    def rewrite(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        new = site_target(target, repo_file, site_file)
        if new is None:
            path = posixpath.normpath(posixpath.join(posixpath.dirname(repo_file), target))
            return f"{text} (`{path}` in the repository)" if text.strip("`") != path else text
        return f"[{text}]({new})"

    lines = prose_lines(markdown)
    return "\n".join(_LINK.sub(rewrite, line) if prose else line for line, prose in lines)


def normalise_lists(markdown: str) -> str:
    """Re-indent list items and their content to four spaces a level, and turn a fenced
    block inside an item into an indented one (``:::lang`` keeps its highlighting)."""
    out: list[str] = []
    items: list[int] = []  # content column of each open list item, outermost first
    fence = ""  # the open fence, at the top level or inside an item
    fence_indent = -1  # where the fence's content starts; -1: a top-level fence
    blank = True
    for line in markdown.split("\n"):
        indent = len(line) - len(line.lstrip(" "))
        if fence:
            marks = line.strip()
            closing = len(marks) >= len(fence) and not marks.strip(fence[0])
            if fence_indent < 0:
                out.append(line)
            elif not closing:
                body = line[min(indent, fence_indent) :]
                out.append(" " * (4 * len(items) + 4) + body if body else "")
            if closing:
                fence = ""
                blank = fence_indent >= 0
                if blank:
                    out.append("")
            continue
        if not line.strip():
            out.append(line)
            blank = True
            continue
        item = _ITEM.match(line)
        opening = _FENCE.match(line[min(indent, items[-1]) :] if items else line)
        while items and indent < items[-1] and (blank or opening or item):
            items.pop()
        if item:
            marker, gap, rest = item.group(2), item.group(3), item.group(4)
            width = len(marker) + (1 if len(gap) > 4 or not gap else len(gap))
            out.append(" " * (4 * len(items)) + marker + " " + rest)
            items.append(indent + width)
        elif opening:
            fence = opening.group(1)
            fence_indent = items[-1] if items else -1
            if not items:
                out.append(line)
                continue
            info = line.strip()[len(fence) :].strip()
            if not blank:
                out.append("")
            if info:
                out.append(" " * (4 * len(items) + 4) + f":::{info}")
        elif items:
            extra = max(indent - items[-1], 0)
            out.append(" " * (4 * len(items) + extra) + line.lstrip(" "))
        else:
            out.append(line)
        blank = False
    return "\n".join(out)
