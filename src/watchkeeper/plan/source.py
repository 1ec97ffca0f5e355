"""Read a YAML plan into plain Python values while remembering where every node came from.

PyYAML's composer gives a node tree with marks; we construct values ourselves so that we can
keep ``path -> (line, column)`` for every mapping key and value, reject duplicate keys,
substitute ``${ENV_VAR}`` (with ``${VAR:-default}``) in strings and read ``!file path`` tags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from watchkeeper.exceptions import ValidationFailed

Path_ = tuple[str | int, ...]
_FILE_NEEDS_PATH = "!file needs a path, e.g. !file /run/secrets/db_password"
_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass(frozen=True)
class SourceProblem:
    """One problem found in a plan file, ready to print as ``file:line:col path: message``."""

    file: str
    position: Position | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.position:
            where += f":{self.position.line}:{self.position.column}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where} {self.message}"


class PlanInvalid(ValidationFailed):
    """The plan file has problems; ``problems`` lists all of them in file order."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in plan", [(p.path, p.message) for p in problems]
        )
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


@dataclass
class SourceDocument:
    """A parsed plan file: its values plus the positions of every key and value."""

    file: str
    data: Any
    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)
    by_id: dict[int, Path_] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)

    def position(self, path: Path_, *, key: bool = False) -> Position | None:
        """Return the position of ``path`` (its key when ``key``), else of its nearest parent."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            pos = self.values.get(path[:end])
            if pos:
                return pos
        return None


def format_path(path: Path_) -> str:
    """Return ``checks[2].interval`` for ``("checks", 2, "interval")``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _compose(text: str) -> yaml.Node | None:
    """The document's node tree; raise yaml.YAMLError on a syntax error.

    libyaml's parser composes a plan of ten thousand checks in half the time and with a
    third less memory than PyYAML's own (which keeps a mark object per token), with the
    same nodes and marks. Its error messages are terser (a tab is "a character that cannot
    start any token"), so a document it rejects is parsed again by PyYAML for the error.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _single_node(fast(text))
        except yaml.YAMLError:
            pass  # parsed again below, for PyYAML's message
    return _single_node(yaml.SafeLoader(text))


def _single_node(loader: Any) -> yaml.Node | None:
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    finally:
        loader.dispose()


def _is_custom_tag(tag: str) -> bool:
    return tag.startswith("!") and not tag.startswith("!!")


class _Builder:
    def __init__(self, doc: SourceDocument, env: Mapping[str, str], base_dir: Path) -> None:
        self.doc = doc
        self.env = env
        self.base_dir = base_dir
        self.constructor = yaml.SafeLoader("")

    def problem(self, node: yaml.Node, path: Path_, message: str) -> None:
        mark = node.start_mark
        self.doc.problems.append(
            SourceProblem(
                self.doc.file, Position(mark.line + 1, mark.column + 1), format_path(path), message
            )
        )

    def build(self, node: yaml.Node, path: Path_) -> Any:
        mark = node.start_mark
        self.doc.values[path] = Position(mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.CollectionNode) and _is_custom_tag(node.tag):
            self.problem(
                node,
                path,
                _FILE_NEEDS_PATH
                if node.tag == "!file"
                else f'unknown tag "{node.tag}" (supported: !file)',
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            self.doc.by_id[id(items)] = path
            return items
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        self.constructor.flatten_mapping(node)
        # flatten_mapping puts the pairs from `<<` merges first; keys set explicitly override
        # them (YAML merge semantics), so take the explicit pairs first and skip merged keys
        # that are already set.
        merged_count = len(node.value) - explicit
        pairs = node.value[merged_count:] + node.value[:merged_count]
        result: dict[str, Any] = {}
        for index, (key_node, value_node) in enumerate(pairs):
            from_merge = index >= explicit
            key = self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | bool) or key is None:
                self.problem(key_node, path, "keys must be plain strings")
                continue
            key = str(key)
            child = (*path, key)
            if key in result and from_merge:
                continue
            if key in result:
                first = self.doc.keys[child]
                self.problem(key_node, child, f"duplicate key (first set at line {first.line})")
                continue
            self.doc.keys[child] = Position(
                key_node.start_mark.line + 1, key_node.start_mark.column + 1
            )
            result[key] = self.build(value_node, child)
        self.doc.by_id[id(result)] = path
        return result

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        if node.tag == "!file":
            return self._file(node, path)
        if _is_custom_tag(node.tag):
            self.problem(node, path, f'unknown tag "{node.tag}" (supported: !file)')
            return None
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(node, path, str(getattr(exc, "problem", exc)))
            return None
        if isinstance(value, str):
            return self._substitute(node, path, value)
        return value

    def _substitute(self, node: yaml.Node, path: Path_, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            value = self.env.get(name)
            if value and default is not None or value is not None and default is None:
                return value
            if default is not None:
                return default
            self.problem(
                node,
                path,
                f"environment variable {name} is not set (set it, or write ${{{name}:-default}})",
            )
            return ""

        return _ENV_REF.sub(replace, text) if "$" in text else text

    def _file(self, node: yaml.Node, path: Path_) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or not node.value:
            self.problem(node, path, _FILE_NEEDS_PATH)
            return None
        target = Path(self._substitute(node, path, node.value)).expanduser()
        if not target.is_absolute():
            target = self.base_dir / target
        try:
            return target.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            self.problem(node, path, f"!file {target}: {exc.strerror or exc}")
        except UnicodeDecodeError:
            self.problem(node, path, f"!file {target}: not UTF-8 text")
        return None


def parse_plan_text(
    text: str,
    *,
    file: str = "watchkeeper.yaml",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> SourceDocument:
    """Return the document for ``text``; syntax errors land in ``problems``, never raise."""
    doc = SourceDocument(file=file, data=None)
    builder = _Builder(doc, env or {}, base_dir or Path.cwd())
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(mark.line + 1, mark.column + 1) if mark else None
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        doc.problems.append(SourceProblem(file, pos, "", f"YAML syntax error: {message}"))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(SourceProblem(file, None, "", f"YAML error: {exc}"))
        return doc
    doc.data = {} if node is None else builder.build(node, ())
    return doc
