"""The documentation site: links between pages and to headings resolve, the generated HTTP
API reference is current, and `mkdocs build --strict` makes a site that loads nothing from
outside itself.

The link checker is our own and fast: it reads each Markdown file as the repository shows it
and computes the anchors of headings the way MkDocs (Python-Markdown's ``toc``) does
(``watchkeeper.markdown_headings``); a test holds those anchors to Python-Markdown's own.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from watchkeeper.api.reference import reference_app, render_api_reference
from watchkeeper.markdown_headings import CODE_SPAN, headings, prose_lines

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHECKED = [*sorted(DOCS.glob("*.md")), ROOT / "README.md", ROOT / "CHANGELOG.md"]
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    file: Path
    line: int
    target: str


def links_of(path: Path) -> list[Link]:
    """The inline and reference-definition links of a Markdown file, outside code."""
    found = []
    for number, (line, prose) in enumerate(prose_lines(path.read_text(encoding="utf-8")), 1):
        if not prose:
            continue
        text = CODE_SPAN.sub("", line)
        targets = [m.group(1) for m in _LINK.finditer(text)]
        definition = _DEFINITION.match(text)
        if definition:
            targets.append(definition.group(1))
        found += [Link(path, number, t) for t in targets]
    return found


_anchor_cache: dict[Path, set[str]] = {}


def anchors_of(path: Path) -> set[str]:
    if path not in _anchor_cache:
        text = path.read_text(encoding="utf-8")
        _anchor_cache[path] = {anchor for _, _, anchor in headings(text)}
    return _anchor_cache[path]


def broken(link: Link, root: Path) -> str | None:
    """Why ``link`` does not resolve, or None when it does (external links are not
    followed: the site must work offline, and CI has no internet)."""
    if _EXTERNAL.match(link.target) or link.target.startswith("//"):
        return None
    path_part, _, anchor = link.target.partition("#")
    if path_part.startswith("/"):
        return "absolute path: write it relative to the file"
    target = (link.file.parent / path_part).resolve() if path_part else link.file
    if not target.exists():
        return f"{path_part} does not exist"
    if anchor and target.suffix == ".md" and anchor not in anchors_of(target):
        return f"{target.relative_to(root)} has no heading with the anchor #{anchor}"
    return None


def problems(paths: list[Path], root: Path = ROOT) -> list[str]:
    """One line per broken link: ``file:line: (target): why``, files relative to ``root``."""
    out = []
    for path in paths:
        for link in links_of(path):
            why = broken(link, root)
            if why:
                out.append(f"{path.relative_to(root)}:{link.line}: ({link.target}): {why}")
    return out


def test_every_internal_link_resolves() -> None:
    assert problems(CHECKED) == []


def test_the_checker_finds_missing_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(
        "# Guide\n\n## Sign-in `throttling` and *lockout*\n\n```sh\n# not a heading\n```\n",
        encoding="utf-8",
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](guide.md#sign-in-throttling-and-lockout) [top](#page) [web](https://x.org/#a)\n"
        "[gone](missing.md) [bad anchor](guide.md#not-a-heading) `[code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n"
        "[ref]: guide.md#nope\n",
        encoding="utf-8",
    )
    assert problems([page], tmp_path) == [
        "page.md:4: (missing.md): missing.md does not exist",
        "page.md:4: (guide.md#not-a-heading): guide.md has no heading with the anchor "
        "#not-a-heading",
        "page.md:8: (guide.md#nope): guide.md has no heading with the anchor #nope",
    ]


@functools.cache
def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts/mkdocs_hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _site_markdown(path: Path) -> str:
    """A page's Markdown as the site's hooks hand it to Python-Markdown."""
    hooks = _hooks()
    return str(hooks.normalise_lists(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.name)
def test_our_anchors_are_python_markdowns(path: Path) -> None:
    import markdown

    md = markdown.Markdown(extensions=["toc", "tables", "fenced_code"])
    md.convert(_site_markdown(path))

    def flatten(tokens: list[dict[str, object]]) -> list[str]:
        out: list[str] = []
        for token in tokens:
            out.append(str(token["id"]))
            out += flatten(token["children"])  # type: ignore[arg-type]
        return out

    ours = [anchor for _, _, anchor in headings(path.read_text(encoding="utf-8"))]
    assert ours == flatten(md.toc_tokens)  # type: ignore[attr-defined]


def test_the_api_reference_is_current() -> None:
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == render_api_reference(reference_app()), "docs/api.md is stale: `make docs`"


def test_the_api_reference_names_roles_and_bodies() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")

    def section(title: str) -> str:
        start = text.index(f"\n### {title}\n")
        return text[start : text.index("\n### ", start + 1)]

    silence = section("POST /api/v1/silences")
    assert "**Role:** responder" in silence
    assert "**Request body** (`application/json`): [SilenceIn](#silencein)" in silence
    assert "| `matchers` | array of string or [MatcherObject](#matcherobject) | yes |" in silence
    assert "| 201 | Created | `application/json`: [SilenceOut](#silenceout) |" in silence
    assert "**Role:** public (no sign-in)" in section("GET /healthz")
    assert "HTTP basic" in section("POST /loki/api/v1/push")
    assert "| `report_id` | path | integer | yes |" in section(
        "GET /api/v1/compliance/reports/{report_id}.pdf"
    )


def test_the_nav_lists_every_page_once() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    hooks = _hooks()

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [p for item in nav for p in pages(item)]
        if isinstance(nav, dict):
            return [p for value in nav.values() for p in pages(value)]
        return []

    listed = pages(config["nav"])
    assert len(listed) == len(set(listed))
    expected = {p.name for p in DOCS.glob("*.md")} | set(hooks.ROOT_PAGES.values())
    assert set(listed) == expected


def test_the_hooks_rewrite_links_for_the_site() -> None:
    hooks = _hooks()
    readme = "See [logs](docs/logs.md#queue), [the changes](CHANGELOG.md), [ex](examples/a.yaml)."
    assert hooks.rewrite_links(readme, "README.md", "readme.md") == (
        "See [logs](logs.md#queue), [the changes](changelog.md), ex (`examples/a.yaml` in the "
        "repository)."
    )
    guide = "[figures](../README.md#performance) [plan](plan.md#logs) [x](https://x.org)"
    assert hooks.rewrite_links(guide, "docs/logs.md", "logs.md") == (
        "[figures](readme.md#performance) [plan](plan.md#logs) [x](https://x.org)"
    )


def test_the_hooks_indent_lists_for_python_markdown() -> None:
    hooks = _hooks()
    commonmark = (
        "1. Run:\n   ```sh\n   make up\n     indented\n   ```\n   then look.\n"
        "2. Next\n   - nested\n     more\n\n"
        "```yaml\n- not: a list\n```\n"
    )
    assert hooks.normalise_lists(commonmark) == (
        "1. Run:\n\n        :::sh\n        make up\n          indented\n\n    then look.\n"
        "2. Next\n    - nested\n        more\n\n"
        "```yaml\n- not: a list\n```\n"
    )


class _Assets(HTMLParser):
    """Collects the URLs an HTML page loads (not the links a reader may follow)."""

    LOADING = {
        "script": ("src",),
        "link": ("href",),
        "img": ("src", "srcset"),
        "iframe": ("src",),
        "source": ("src", "srcset"),
        "video": ("src", "poster"),
        "audio": ("src",),
        "embed": ("src",),
        "object": ("data",),
    }

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in self.LOADING.get(tag, ()):
            if values.get(name):
                self.urls.append(str(values[name]))
        if values.get("style"):
            self.styles.append(str(values["style"]))
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False


_CSS_URL = re.compile(r"""url\(\s*["']?([^"')\s]+)|@import\s+["']([^"']+)""")
_JS_LOAD = re.compile(
    r"""(?:importScripts|import|fetch)\s*\(\s*["'](?:https?:)?//"""
    r"""|\.(?:src|href)\s*=\s*["'](?:https?:)?//"""
    r"""|<(?:script|link|img)[^>]+(?:src|href)=\\?["'](?:https?:)?//""",
    re.IGNORECASE,
)


def _external(url: str) -> bool:
    return bool(re.match(r"^(?:https?:)?//", url.strip(), re.IGNORECASE))


def external_assets(site: Path) -> list[str]:
    """Every asset of the built site that would be fetched from another host."""
    found = []
    for path in sorted(site.rglob("*")):
        where = path.relative_to(site)
        if path.suffix == ".html":
            parser = _Assets()
            parser.feed(path.read_text(encoding="utf-8"))
            found += [f"{where}: {u}" for u in parser.urls if _external(u)]
            css = parser.styles
        elif path.suffix == ".css":
            css = [path.read_text(encoding="utf-8")]
        elif path.suffix == ".js":
            text = path.read_text(encoding="utf-8")
            found += [f"{where}: {m.group(0)}" for m in _JS_LOAD.finditer(text)]
            continue
        else:
            continue
        for style in css:
            for match in _CSS_URL.finditer(style):
                url = match.group(1) or match.group(2)
                if _external(url):
                    found.append(f"{where}: {url}")
    return found


def test_the_asset_check_sees_external_loads(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<link rel="stylesheet" href="https://cdn.example/x.css"><a href="https://ok.example">'
        '</a><img src="img/local.png"><style>body{background:url(//cdn.example/b.png)}</style>',
        encoding="utf-8",
    )
    (tmp_path / "b.css").write_text(
        "@import 'https://fonts.example/f.css'; .x{background:url(\"data:image/svg+xml,"
        "<svg xmlns='http://www.w3.org/2000/svg'/>\")}",
        encoding="utf-8",
    )
    (tmp_path / "c.js").write_text(
        '// see https://docs.example\nimportScripts("https://cdn.example/w.js")', encoding="utf-8"
    )
    assert external_assets(tmp_path) == [
        "a.html: https://cdn.example/x.css",
        "a.html: //cdn.example/b.png",
        "b.css: https://fonts.example/f.css",
        'c.js: importScripts("https://',
    ]


def test_the_site_builds_strictly_and_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "index.html").exists() and (site / "api.html").exists()
    assert (site / "readme.html").exists() and (site / "css" / "watchkeeper.css").exists()
    assert external_assets(site) == []
