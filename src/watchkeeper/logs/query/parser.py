"""Read a log query: LogQL's syntax, plus bare words and phrases as full-text terms.

timeout                                   lines with the word "timeout" (any case)
{app="api", level=~"error|warn"} "connection refused"
{app="api"} |= "GET /health" != "200" | json | status >= 500 | user=~"a.*"
sum by (level) (count_over_time({app="api"}[5m]))
topk(5, sum by (user) (count_over_time({app="api"} | json [1h])))
absent_over_time({job="backup"} |= "backup done" [25h])
rate({app="api"} |= "error" [5m]) > 0.5
"""

from __future__ import annotations

import re
from typing import cast

from watchkeeper.logs.query import ast
from watchkeeper.logs.selector import QuerySyntaxError, read_selector, read_string
from watchkeeper.plan.types import parse_duration

_WS = re.compile(r"\s*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)")
_WORD = re.compile(r"[^\s|{}()\[\]\"'`!=~<>,]+")
_DURATION = re.compile(r"[0-9][0-9a-z.]*")
_CMP = re.compile(r"==|!=|=~|!~|>=|<=|=|>|<")
_ARITH = re.compile(r"==|!=|>=|<=|>|<|\+|-|\*|/")


def _term_pattern(text: str) -> re.Pattern[str]:
    words = re.findall(r"[^\W_]+", text)
    if not words:
        return re.compile(re.escape(text), re.IGNORECASE)
    inner = r"[\W_]+".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![^\W_]){inner}(?![^\W_])", re.IGNORECASE)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> int:
        self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]
        return self.pos

    def peek(self, literal: str) -> bool:
        self.skip()
        return self.text.startswith(literal, self.pos)

    def eat(self, literal: str) -> bool:
        if self.peek(literal):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str, what: str | None = None) -> None:
        if not self.eat(literal):
            raise QuerySyntaxError(f"expected {what or repr(literal)}", self.pos)

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self.skip()
        found = pattern.match(self.text, self.pos)
        if not found or not found.group():
            return None
        self.pos = found.end()
        return found.group()

    def string(self) -> str:
        self.skip()
        value, self.pos = read_string(self.text, self.pos)
        return value

    def at_end(self) -> bool:
        return self.skip() >= len(self.text)

    def ident_ahead(self) -> str | None:
        self.skip()
        found = _IDENT.match(self.text, self.pos)
        return found.group() if found else None


def _regex(value: str, position: int) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as exc:
        raise QuerySyntaxError(f"bad regular expression {value!r}: {exc}", position) from None


def _stage(r: _Reader) -> ast.Stage:
    at = r.skip()
    for op in ("|=", "!=", "|~", "!~"):
        if r.eat(op):
            value = r.string()
            rx = _regex(value, at) if op in ("|~", "!~") else None
            return ast.LineFilter(op, value, rx)
    r.expect("|")
    name = r.match(_IDENT)
    if name is None:
        raise QuerySyntaxError("expected json, logfmt, regexp, unwrap or a field filter", r.pos)
    if name in ("json", "logfmt") and not _CMP.match(r.text, r.skip()):
        return ast.Parser(name)  # type: ignore[arg-type]
    if name == "regexp" and not _CMP.match(r.text, r.skip()):
        at = r.skip()
        rx = _regex(r.string(), at)
        if not rx.groupindex:
            raise QuerySyntaxError("regexp needs named groups such as (?P<status>\\d+)", at)
        return ast.Parser("regexp", rx)
    if name == "unwrap":
        field = r.match(_IDENT)
        if field is None:
            raise QuerySyntaxError("expected the field to unwrap", r.pos)
        return ast.Unwrap(field)
    found = r.match(_CMP)
    if found is None:
        raise QuerySyntaxError(f"expected a comparison after {name!r} (=, !=, =~, !~, >, <)", r.pos)
    op = found
    at = r.skip()
    if op in (">", ">=", "<", "<=") or (
        op in ("==", "=", "!=") and not r.peek('"') and not r.peek("'") and not r.peek("`")
    ):
        number = r.match(_NUMBER)
        if number is None:
            if op in (">", ">=", "<", "<="):
                raise QuerySyntaxError(f"expected a number after {op}", at)
            return ast.FieldFilter(name, cast(ast.CmpOp, op), r.string())
        return ast.FieldFilter(name, cast(ast.CmpOp, op), float(number))
    value = r.string()
    rx = _regex(value, at) if op in ("=~", "!~") else None
    return ast.FieldFilter(name, cast(ast.CmpOp, op), value, rx)


def _log_query(r: _Reader, *, in_range: bool = False) -> ast.LogQuery:
    stages: list[ast.Stage] = []
    matchers: tuple = ()  # type: ignore[type-arg]
    seen_selector = False
    while not r.at_end():
        if r.peek("{") and not seen_selector:
            matchers, r.pos = read_selector(r.text, r.pos)
            seen_selector = True
        elif r.peek("|") or r.peek("!=") or r.peek("!~"):
            stages.append(_stage(r))
        elif r.peek('"') or r.peek("'") or r.peek("`"):
            value = r.string()
            stages.append(ast.LineFilter("term", value, _term_pattern(value)))
        elif in_range and (r.peek("[") or r.peek(")")):
            break
        else:
            word = r.match(_WORD)
            if word is None:
                raise QuerySyntaxError(f"unexpected {r.text[r.pos]!r}", r.pos)
            stages.append(ast.LineFilter("term", word, _term_pattern(word)))
    return ast.LogQuery(matchers, tuple(stages))


def _grouping(r: _Reader) -> tuple[tuple[str, ...], bool] | None:
    for keyword, without in (("by", False), ("without", True)):
        if r.ident_ahead() == keyword:
            r.match(_IDENT)
            r.expect("(")
            names: list[str] = []
            while not r.eat(")"):
                name = r.match(_IDENT)
                if name is None:
                    raise QuerySyntaxError("expected a label name", r.pos)
                names.append(name)
                r.eat(",")
            return tuple(names), without
    return None


def _primary(r: _Reader) -> ast.MetricExpr:
    if r.eat("("):
        inner = _metric(r)
        r.expect(")")
        return inner
    at = r.skip()
    name = r.match(_IDENT)
    if name in ast.RANGE_FUNCTIONS:
        r.expect("(")
        query = _log_query(r, in_range=True)
        r.expect("[", "a range such as [5m]")
        span_at = r.skip()
        text = r.match(_DURATION) or ""
        r.expect("]")
        r.expect(")")
        try:
            window = parse_duration(text)
        except ValueError:
            raise QuerySyntaxError(
                f"{text!r} is not a duration (use 30s, 5m, 1h)", span_at
            ) from None
        if window.total_seconds() <= 0:
            raise QuerySyntaxError("the range must be longer than 0s", span_at)
        if (name in ast.UNWRAP_FUNCTIONS) != (query.unwrap is not None):
            raise QuerySyntaxError(
                f"{name} needs `| unwrap <field>`"
                if name in ast.UNWRAP_FUNCTIONS
                else f"{name} counts lines: remove `| unwrap`",
                at,
            )
        return ast.RangeAggregation(name, query, int(window.total_seconds() * 1e9))
    if name in ast.AGGREGATIONS:
        grouping = _grouping(r)
        r.expect("(")
        param = None
        if name in ("topk", "bottomk"):
            number = r.match(_NUMBER)
            if number is None or float(number) < 1:
                raise QuerySyntaxError(f"{name} needs a count first: {name}(10, ...)", r.pos)
            param = int(float(number))
            r.expect(",")
        inner = _metric(r)
        r.expect(")")
        grouping = grouping or _grouping(r) or ((), False)
        return ast.VectorAggregation(name, inner, grouping[0], grouping[1], param)
    raise QuerySyntaxError("expected a function such as count_over_time(...) or sum(...)", at)


def _metric(r: _Reader) -> ast.MetricExpr:
    expr = _primary(r)
    while True:
        at = r.skip()
        op = _ARITH.match(r.text, at)
        if op is None:
            return expr
        r.pos = op.end()
        number = r.match(_NUMBER)
        if number is None:
            raise QuerySyntaxError(f"expected a number after {op.group()}", r.pos)
        expr = ast.Comparison(op.group(), expr, float(number))  # type: ignore[arg-type]


def is_metric(text: str) -> bool:
    r = _Reader(text)
    name = r.ident_ahead()
    if name is None and r.peek("("):
        return True
    if name in ast.RANGE_FUNCTIONS or name in ast.AGGREGATIONS:
        r.match(_IDENT)
        return r.peek("(") or r.ident_ahead() in ("by", "without")
    return False


def parse(text: str) -> ast.Query:
    """Parse a log query or a metric query; raise QuerySyntaxError naming the position."""
    if len(text) > 20_000:
        raise QuerySyntaxError("the query is longer than 20,000 characters", 0)
    r = _Reader(text)
    result: ast.Query = _metric(r) if is_metric(text) else _log_query(r)
    if not r.at_end():
        raise QuerySyntaxError(f"unexpected {r.text[r.pos : r.pos + 20]!r}", r.pos)
    return result


def parse_log_query(text: str) -> ast.LogQuery:
    query = parse(text)
    if not isinstance(query, ast.LogQuery):
        raise QuerySyntaxError("expected a log query, not a metric query", 0)
    return query


def parse_metric(text: str) -> ast.MetricExpr:
    query = parse(text)
    if isinstance(query, ast.LogQuery):
        raise QuerySyntaxError(
            'expected a metric query such as count_over_time({app="api"}[5m])', 0
        )
    return query
