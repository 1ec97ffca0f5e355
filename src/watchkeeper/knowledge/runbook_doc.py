"""A runbook document: YAML front matter between two ``---`` lines, then Markdown.

:func:`parse_runbook` reads one and reports every problem at once with its line and column
in the document (``line 3:8 services[1]: ...``); :func:`compose_runbook` writes one from
its fields. The front matter is read with PyYAML's safe composer and nothing else: no
``${VAR}`` substitution and no ``!file`` tag (the plan file has them; a runbook written in
the UI must not read files on the server).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.source import format_path
from watchkeeper.plan.types import Duration, Name, format_duration

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
"""A runbook's slug: its name in ``/runbooks/<slug>`` and in ``runbook: <slug>``."""
RESERVED = frozenset({"new", "preview"})
"""Slugs the pages use for themselves (``/runbooks/new``)."""
MAX_CONTENT_BYTES = 512 * 1024
MAX_NODES = 5_000  # front matter nodes read (aliases cannot blow one up)
_HEADING = re.compile(r"^ {0,3}#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_FENCE = {"---"}
_END = {"---", "..."}

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
AlertName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class FrontMatter(BaseModel):
    """What a runbook's front matter may say."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field("", max_length=200, description="Title (else the first `# heading`).")
    services: list[Name] = Field(default_factory=list, description="Services it covers.")
    alerts: list[AlertName] = Field(
        default_factory=list,
        description="Alert names it covers (globs such as `Postgres*` allowed).",
    )
    tags: list[Tag] = Field(default_factory=list, description="Free-form tags.")
    owner: str = Field("", max_length=150, description="Who keeps it current.")
    review_period: Duration | None = Field(
        None, description="Review period of this runbook (default: `runbooks.review_period`)."
    )
    last_reviewed: date | None = Field(
        None, description="Day it was last confirmed correct (for runbooks kept in a repository)."
    )


FIELDS = tuple(FrontMatter.model_fields)


@dataclass(frozen=True)
class Problem:
    """One problem of a document, at a line and column of its text."""

    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}:{self.column}"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where} {self.message}"


class RunbookInvalid(ValidationFailed):
    """A runbook document has problems; ``problems`` lists all of them in text order."""

    def __init__(self, problems: list[Problem], field: str = "content") -> None:
        super().__init__(
            f"the runbook has {len(problems)} problem(s): " + "; ".join(map(str, problems[:5])),
            [(field, str(p)) for p in problems],
        )
        self.problems = problems


@dataclass(frozen=True)
class ParsedRunbook:
    """A valid runbook document: its front matter, title and Markdown body."""

    meta: FrontMatter
    title: str
    body: str
    """The Markdown after the front matter, leading blank lines removed."""

    @property
    def review_period(self) -> timedelta | None:
        return self.meta.review_period


def is_slug(text: str) -> bool:
    """Return True when ``text`` is a runbook slug (lowercase letters, digits, ``-``, ``_``;
    not one of the RESERVED words)."""
    return bool(SLUG.fullmatch(text)) and text not in RESERVED


def slugify(text: str) -> str:
    """Return a slug made of ``text`` ("Disk full on DB hosts" -> "disk-full-on-db-hosts");
    "" when nothing is left."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    return slug[:100].rstrip("-")


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """Return (front matter text or None, body, line of the front matter's first line);
    raise RunbookInvalid when an opening ``---`` is never closed."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n").rstrip() not in _FENCE:
        return None, text, 0
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n").rstrip() in _END:
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), 2
    raise RunbookInvalid(
        [Problem(1, 1, "", "the front matter opened by --- on line 1 is never closed by ---")]
    )


class _Reader:
    """Build plain values from a composed YAML tree, keeping each node's position."""

    def __init__(self, first_line: int) -> None:
        self.first_line = first_line
        self.positions: dict[tuple[str | int, ...], tuple[int, int]] = {}
        self.keys: dict[tuple[str | int, ...], tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.nodes = 0
        self._constructor = yaml.SafeLoader("")

    def where(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + self.first_line, node.start_mark.column + 1

    def problem(self, node: yaml.Node, path: tuple[str | int, ...], message: str) -> None:
        line, column = self.where(node)
        self.problems.append(Problem(line, column, format_path(path), message))

    def build(self, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if self.nodes == MAX_NODES + 1:
                self.problem(node, (), f"the front matter is too large (over {MAX_NODES} values)")
            return None
        self.positions[path] = self.where(node)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(key_node, path, "keys must be plain strings")
                    continue
                key = str(key_node.value)
                child = (*path, key)
                if child in self.keys:
                    first = self.keys[child][0]
                    self.problem(key_node, child, f"duplicate key (first set at line {first})")
                    continue
                self.keys[child] = self.where(key_node)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(node, path, str(getattr(exc, "problem", exc)))
            return None

    def position(self, path: tuple[str | int, ...], key: bool) -> tuple[int, int]:
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return (self.first_line, 1)


def _message(err: Any, path: tuple[str | int, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(path[-1]), FIELDS, n=1, cutoff=0.6)
        return "unknown key" + (
            f' (did you mean "{close[0]}"?)' if close else f" (allowed: {', '.join(FIELDS)})"
        )
    msg = "must be a list" if kind == "list_type" else str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    value = err.get("input")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        shown = f'"{value}"' if isinstance(value, str) else str(value)
        if shown not in msg:
            msg += f" (got {shown})"
    return msg


def _validate(data: Any, reader: _Reader) -> FrontMatter | None:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        reader.problems.append(
            Problem(reader.first_line, 1, "", "the front matter must be a mapping of keys")
        )
        return None
    try:
        return FrontMatter.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = tuple(err["loc"])
            line, column = reader.position(path, key=err["type"] == "extra_forbidden")
            reader.problems.append(Problem(line, column, format_path(path), _message(err, path)))
        return None


def first_heading(body: str) -> str:
    """Return the text of the body's first ``# heading`` ("" when it has none)."""
    for found in _HEADING.finditer(body):
        if not found.group(0).lstrip().startswith("##"):
            return found.group(1).strip()
    return ""


def parse_runbook(text: str, *, fallback_title: str = "") -> ParsedRunbook:
    """Return the runbook in ``text``; raise RunbookInvalid listing every problem.

    The title is the front matter's ``title``, else the body's first ``# heading``, else
    ``fallback_title``; a document with none of them is refused."""
    if len(text.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise RunbookInvalid(
            [Problem(1, 1, "", f"the document is larger than {MAX_CONTENT_BYTES // 1024} KiB")]
        )
    text = text.removeprefix("\ufeff")
    front, body, first_line = split_front_matter(text)
    meta: FrontMatter | None = FrontMatter()
    if front is not None:
        reader = _Reader(first_line)
        data: Any = None
        try:
            node = yaml.compose(front, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + first_line, mark.column + 1) if mark else (first_line, 1)
            why = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
            raise RunbookInvalid([Problem(line, column, "", f"YAML syntax error: {why}")]) from None
        except yaml.YAMLError as exc:
            raise RunbookInvalid([Problem(first_line, 1, "", f"YAML error: {exc}")]) from None
        if node is not None:
            data = reader.build(node, ())
        meta = _validate(data, reader) if not reader.problems else None
        if reader.problems:
            raise RunbookInvalid(sorted(reader.problems, key=lambda p: (p.line, p.column)))
    assert meta is not None
    body = body.lstrip("\r\n")
    title = meta.title.strip() or first_heading(body) or fallback_title
    if not title:
        raise RunbookInvalid(
            [Problem(1, 1, "title", "give a title in the front matter or begin with a # heading")]
        )
    return ParsedRunbook(meta=meta, title=title, body=body)


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def front_matter_data(meta: FrontMatter) -> dict[str, Any]:
    """The front matter as plain data, empty fields left out, in the documented order."""
    data: dict[str, Any] = {}
    if meta.title:
        data["title"] = meta.title
    for key in ("services", "alerts", "tags"):
        values = _dedupe(getattr(meta, key))
        if values:
            data[key] = values
    if meta.owner:
        data["owner"] = meta.owner
    if meta.review_period is not None:
        data["review_period"] = format_duration(meta.review_period)
    if meta.last_reviewed is not None:
        data["last_reviewed"] = meta.last_reviewed
    return data


def compose_runbook(meta: FrontMatter, body: str) -> str:
    """Return the document for ``meta`` and the Markdown ``body``."""
    data = front_matter_data(meta)
    head = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000) if data else ""
    return f"---\n{head}---\n\n{body.lstrip(chr(10)).rstrip()}\n"
