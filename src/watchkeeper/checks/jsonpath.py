"""JSON path assertions for HTTP checks: ``$.status == "ok"``, ``$.items[0].count > 3``.

A deliberately small subset of JSONPath: dot keys, ``[index]`` (negative counts from the
end), ``["quoted key"]``, then one comparison (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``)
against a JSON literal, or ``exists``. No wildcards, filters or scripts: an assertion picks
exactly one value, so a failure can say which value was wrong, and nothing from the plan file
is ever executed. Assertions are parsed when the plan is loaded, so a typo is a plan error
rather than a check that is always down.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from watchkeeper.exceptions import WatchkeeperError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX = re.compile(r"-?\d+")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")  # two-character ones first
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SHOWN = 60  # longest rendering of a value in a message

Step = str | int


class JsonPathSyntaxError(WatchkeeperError, ValueError):
    """An assertion that cannot be parsed; the message says what is wrong and where."""


@dataclass(frozen=True)
class JsonAssertion:
    """One parsed assertion: a path, an operator (or ``exists``) and the expected value."""

    path: tuple[Step, ...]
    operator: str
    expected: Any = None

    def failure(self, document: Any) -> str | None:
        """Return None when the assertion holds for ``document``, else why it does not."""
        value, missing = _select(document, self.path)
        shown = render_path(self.path)
        if missing is not None:
            return f"{shown} not found: {missing}"
        if self.operator == "exists":
            return None
        if self.operator in ("==", "!="):
            if _json_equal(value, self.expected) == (self.operator == "=="):
                return None
            return f"{shown} is {_show(value)}, expected {self.operator} {_show(self.expected)}"
        if _kind(value) != _kind(self.expected):
            kind = "" if value is None else f" ({_article(_kind(value))})"
            return (
                f"{shown} is {_show(value)}{kind}, cannot compare with {self.operator} "
                f"{_show(self.expected)}"
            )
        if _ORDERING[self.operator](value, self.expected):
            return None
        return f"{shown} is {_show(value)}, expected {self.operator} {_show(self.expected)}"


def parse(text: str) -> JsonAssertion:
    """Return the assertion written in ``text``; raise JsonPathSyntaxError if it is not one."""
    text = text.strip()
    if not text.startswith("$"):
        raise JsonPathSyntaxError('must start with "$" (e.g. $.status == "ok")')
    path, pos = _parse_path(text, 1)
    pos += len(text[pos:]) - len(text[pos:].lstrip())
    rest = text[pos:]
    if rest == "exists":
        return JsonAssertion(path, "exists")
    comparison = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if comparison is None:
        found = f"{rest[:12]!r} at character {pos + 1}" if rest else "nothing"
        raise JsonPathSyntaxError(
            f"expected a comparison (== != < <= > >=) or exists after the path, found {found}"
        )
    expected = _parse_literal(rest[len(comparison) :].strip(), comparison)
    return JsonAssertion(path, comparison, expected)


def render_path(path: tuple[Step, ...]) -> str:
    """Return ``path`` written the way a plan file writes it (``$.items[0]["odd key"]``)."""
    out = "$"
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _KEY.fullmatch(step):
            out += f".{step}"
        else:
            out += f"[{json.dumps(step)}]"
    return out


def _parse_path(text: str, pos: int) -> tuple[tuple[Step, ...], int]:
    steps: list[Step] = []
    while pos < len(text) and text[pos] in ".[":
        if text[pos] == ".":
            match = _KEY.match(text, pos + 1)
            if match is None:
                raise JsonPathSyntaxError(
                    f'expected a key after "." at character {pos + 2} '
                    '(use ["..."] for keys with other characters)'
                )
            steps.append(match.group())
            pos = match.end()
            continue
        step, pos = _parse_bracket(text, pos + 1)
        steps.append(step)
    return tuple(steps), pos


def _parse_bracket(text: str, pos: int) -> tuple[Step, int]:
    """Parse what follows ``[``: an index or a quoted key, and the closing ``]``."""
    step: Step
    index = _INDEX.match(text, pos)
    if index is not None:
        step, pos = int(index.group()), index.end()
    elif text.startswith('"', pos):
        try:
            step, pos = json.JSONDecoder().raw_decode(text, pos)
        except json.JSONDecodeError:
            raise JsonPathSyntaxError(f"unterminated key at character {pos + 1}") from None
    elif text.startswith("'", pos):
        end = text.find("'", pos + 1)
        if end < 0:
            raise JsonPathSyntaxError(f"unterminated key at character {pos + 1}")
        step, pos = text[pos + 1 : end], end + 1
    else:
        raise JsonPathSyntaxError(
            f'expected an index or a quoted key after "[" at character {pos + 1}'
        )
    if not text.startswith("]", pos):
        raise JsonPathSyntaxError(f'expected "]" at character {pos + 1}')
    return step, pos + 1


def _parse_literal(literal: str, comparison: str) -> Any:
    if not literal:
        raise JsonPathSyntaxError(f"expected a value after {comparison}")
    if len(literal) >= 2 and literal[0] == literal[-1] == "'" and "'" not in literal[1:-1]:
        value: Any = literal[1:-1]
    else:
        try:
            value = json.loads(literal)
        except json.JSONDecodeError:
            raise JsonPathSyntaxError(
                f"{literal} is not a JSON value (a string in quotes, a number, true, false or null)"
            ) from None
    if comparison in _ORDERING and _kind(value) not in ("number", "string"):
        raise JsonPathSyntaxError(f"{comparison} needs a number or a string, not {literal}")
    return value


def _select(document: Any, path: tuple[Step, ...]) -> tuple[Any, str | None]:
    """Return ``(value, None)``, or ``(None, why)`` when the path leads nowhere."""
    node = document
    for i, step in enumerate(path):
        where = render_path(path[:i])
        if isinstance(step, int):
            if not isinstance(node, list):
                return None, f"{where} is {_article(_kind(node))}, not an array"
            if not -len(node) <= step < len(node):
                return None, f"{where} has {len(node)} item(s)"
            node = node[step]
        else:
            if not isinstance(node, dict):
                return None, f"{where} is {_article(_kind(node))}, not an object"
            if step not in node:
                return None, f"{where} has no key {json.dumps(step)}"
            node = node[step]
    return node, None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _article(kind: str) -> str:
    if kind == "null":
        return kind
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _json_equal(a: Any, b: Any) -> bool:
    """Equality with JSON's types: unlike Python, ``true`` is not ``1``."""
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
