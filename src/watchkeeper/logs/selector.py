"""Stream selectors: ``{app="api", level=~"error|warn", host!="db-1"}`` (LogQL's syntax)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from watchkeeper.logs.model import Labels

Op = Literal["=", "!=", "=~", "!~"]


class QuerySyntaxError(ValueError):
    """A query that cannot be read; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.reason = message
        self.position = position


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    _rx: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: Op, value: str, position: int = 0) -> Matcher:
        rx = None
        if op in ("=~", "!~"):
            try:
                rx = re.compile(value)
            except re.error as exc:
                raise QuerySyntaxError(
                    f"bad regular expression {value!r}: {exc}", position
                ) from None
        return cls(name, op, value, rx)

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self._rx is not None
        hit = self._rx.fullmatch(value) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{quote(self.value)}"


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def matches_all(matchers: Iterable[Matcher], labels: Labels) -> bool:
    found = dict(labels)
    return all(m.matches(found.get(m.name, "")) for m in matchers)


_WS = re.compile(r"\s*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_OP = re.compile(r"=~|!~|!=|=")


def read_string(text: str, pos: int) -> tuple[str, int]:
    """Read a ``"double"``, ``'single'`` or ```raw``` quoted string at ``pos``; return
    (value, position after it)."""
    if pos >= len(text) or text[pos] not in "\"'`":
        raise QuerySyntaxError("expected a quoted string", pos)
    quote_char, i = text[pos], pos + 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == quote_char:
            return "".join(out), i + 1
        if ch == "\\" and quote_char != "`" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(
                {"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt if nxt in "\"'\\" else "\\" + nxt)
            )
            i += 2
            continue
        out.append(ch)
        i += 1
    raise QuerySyntaxError("unterminated string", pos)


def read_selector(text: str, pos: int) -> tuple[tuple[Matcher, ...], int]:
    """Read ``{...}`` at ``pos``; return the matchers and the position after ``}``."""
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if pos >= len(text) or text[pos] != "{":
        raise QuerySyntaxError('expected a stream selector such as {app="api"}', pos)
    pos += 1
    matchers: list[Matcher] = []
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos < len(text) and text[pos] == "}":
            return tuple(matchers), pos + 1
        name = _NAME.match(text, pos)
        if not name:
            raise QuerySyntaxError("expected a label name or }", pos)
        pos = _WS.match(text, name.end()).end()  # type: ignore[union-attr]
        op = _OP.match(text, pos)
        if not op:
            raise QuerySyntaxError("expected =, !=, =~ or !~", pos)
        pos = _WS.match(text, op.end()).end()  # type: ignore[union-attr]
        value, after = read_string(text, pos)
        matchers.append(Matcher.make(name.group(), op.group(), value, pos))  # type: ignore[arg-type]
        pos = _WS.match(text, after).end()  # type: ignore[union-attr]
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "}":
            raise QuerySyntaxError("expected , or }", pos)


def parse_selector(text: str) -> tuple[Matcher, ...]:
    """Parse a whole selector string; raise QuerySyntaxError."""
    matchers, pos = read_selector(text, 0)
    if text[pos:].strip():
        raise QuerySyntaxError("unexpected text after the selector", pos)
    return matchers
