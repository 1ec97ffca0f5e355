"""Parse and type-check a PromQL expression (Prometheus 3.x syntax).

A precedence-climbing parser over the lexer's tokens. Binary operators, loosest first:
``or``; ``and unless``; ``== != <= < >= >``; ``+ -``; ``* / % atan2``; ``^`` (right
associative). A unary ``-``/``+`` binds like ``*``, so ``-2^2`` is ``-(2^2)`` as in
Prometheus's grammar, and a unary minus on a number literal folds into the literal. ``[range]``,
``[range:step]``, ``offset`` and ``@`` bind tighter than any operator.

Type rules are checked while the tree is built, so every error carries the position of the
text at fault: ``rate(foo)`` fails at ``foo`` with "expected type range vector in call to
function "rate", got instant vector". Subqueries and the ``@`` modifier are supported.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from watchkeeper.metrics.labels import LABEL_RE, METRIC_NAME, Matcher, MatchOp
from watchkeeper.metrics.promql import ast
from watchkeeper.metrics.promql.ast import AGGREGATIONS, TYPE_NAMES, Expr, value_type
from watchkeeper.metrics.promql.errors import PromQLError
from watchkeeper.metrics.promql.lexer import (
    DURATION,
    EOF,
    IDENT,
    NUMBER,
    STRING,
    Token,
    parse_duration,
    parse_number,
    tokenize,
)
from watchkeeper.metrics.promql.signatures import FUNCTIONS
from watchkeeper.metrics.promql.typecheck import Checker

PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    "<=": 3,
    "<": 3,
    ">=": 3,
    ">": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "^": 6,
}
_WORD_OPERATORS = frozenset({"and", "or", "unless", "atan2"})
_KEYWORDS = _WORD_OPERATORS | {"bool", "on", "ignoring", "group_left", "group_right"}
_MATCH_OPS: tuple[MatchOp, ...] = ("=", "!=", "=~", "!~")


def parse(query: str) -> Expr:
    """Return the syntax tree of ``query``; raise PromQLError with the position of the first
    syntax or type error."""
    return Parser(query).parse()


class Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.index = 0
        self.check = Checker(query)

    # -- token helpers -------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def error(self, message: str, position: int) -> PromQLError:
        return PromQLError(message, position, self.query)

    def unexpected(self, token: Token, context: str = "", expected: str = "") -> PromQLError:
        message = f"unexpected {token.describe()}"
        if context:
            message += f" in {context}"
        if expected:
            message += f", expected {expected}"
        return self.error(message, token.pos)

    def close_parenthesis(self, context: str) -> Token:
        if self.peek().kind == EOF:
            raise self.error("unclosed left parenthesis", self.peek().pos)
        return self.expect(")", context, '")"')

    def expect(self, kind: str, context: str, expected: str) -> Token:
        if self.peek().kind != kind:
            raise self.unexpected(self.peek(), context, expected)
        return self.advance()

    def keyword(self, ahead: int = 0) -> str:
        """The lower-cased word at the cursor ("" unless it is an identifier): keywords are
        case-insensitive in PromQL, function names are not."""
        token = self.peek(ahead)
        return token.text.lower() if token.kind == IDENT else ""

    # -- expressions ---------------------------------------------------------------------

    def parse(self) -> Expr:
        if self.peek().kind == EOF:
            raise self.error("no expression found in input", 0)
        expr = self.parse_expr(0)
        token = self.peek()
        if token.kind == ")":
            raise self.error("unexpected right parenthesis ')'", token.pos)
        if token.kind != EOF:
            raise self.unexpected(token)
        return expr

    def binary_operator(self) -> str | None:
        token = self.peek()
        if token.kind in PRECEDENCE:
            return token.kind
        word = self.keyword()
        return word if word in _WORD_OPERATORS else None

    def parse_expr(self, min_precedence: int) -> Expr:
        lhs = self.parse_unary()
        while (op := self.binary_operator()) is not None:
            precedence = PRECEDENCE[op]
            if precedence < min_precedence:
                break
            op_token = self.advance()
            return_bool, matching = self.parse_binary_modifiers(op)
            rhs = self.parse_expr(precedence if op == "^" else precedence + 1)
            lhs = self.check.binary(op, op_token.pos, lhs, rhs, return_bool, matching)
        return lhs

    def parse_unary(self) -> Expr:
        token = self.peek()
        if token.kind not in ("+", "-"):
            return self.parse_postfix(self.parse_primary())
        self.advance()
        operand = self.parse_expr(PRECEDENCE["^"])
        if isinstance(operand, ast.NumberLiteral):
            value = -operand.value if token.kind == "-" else operand.value
            return ast.NumberLiteral(token.pos, operand.end, value)
        kind = value_type(operand)
        if kind not in ("scalar", "vector"):
            raise self.error(
                "unary expression only allowed on expressions of type scalar or instant vector, "
                f'got "{TYPE_NAMES[kind]}"',
                operand.pos,
            )
        return ast.Unary(token.pos, operand.end, token.kind, operand)

    def parse_primary(self) -> Expr:
        token = self.peek()
        if token.kind == NUMBER:
            self.advance()
            return ast.NumberLiteral(token.pos, token.end, parse_number(token.text))
        if token.kind == DURATION:  # a duration where a number is expected means seconds
            self.advance()
            seconds = parse_duration(token.text, token.pos, self.query) / 1000
            return ast.NumberLiteral(token.pos, token.end, seconds)
        if token.kind == STRING:
            self.advance()
            return ast.StringLiteral(token.pos, token.end, token.value)
        if token.kind == "(":
            self.advance()
            inner = self.parse_expr(0)
            close = self.close_parenthesis("")
            return ast.Paren(token.pos, close.end, inner)
        if token.kind == "{":
            return self.parse_selector(None)
        if token.kind != IDENT:
            raise self.unexpected(token)
        word = token.text.lower()
        if word in AGGREGATIONS:
            return self.parse_aggregation()
        if word in ("inf", "nan"):
            self.advance()
            return ast.NumberLiteral(token.pos, token.end, float(word))
        if self.peek(1).kind == "(":
            return self.parse_call()
        if word in _KEYWORDS:
            raise self.unexpected(token)
        return self.parse_selector(self.advance())

    def parse_postfix(self, expr: Expr) -> Expr:
        while True:
            if self.peek().kind == "[":
                expr = self.parse_range(expr)
            elif self.keyword() == "offset":
                expr = self.parse_offset(expr)
            elif self.peek().kind == "@":
                expr = self.parse_at(expr)
            else:
                return expr

    # -- selectors -----------------------------------------------------------------------

    def parse_selector(self, name_token: Token | None) -> ast.VectorSelector:
        start = name_token.pos if name_token else self.peek().pos
        end = name_token.end if name_token else start
        matchers: list[Matcher] = []
        if self.peek().kind == "{":
            self.advance()
            while self.peek().kind != "}":
                matcher = self.parse_matcher()
                if matcher.name == METRIC_NAME and name_token is not None:
                    names = f'"{name_token.text}" or "{matcher.value}"'
                    raise self.error(f"metric name must not be set twice: {names}", start)
                matchers.append(matcher)
                if self.peek().kind == ",":
                    self.advance()
                elif self.peek().kind != "}":
                    raise self.unexpected(self.peek(), "label matching", '"," or "}"')
            end = self.advance().end
        if name_token is not None:
            matchers.insert(0, Matcher(METRIC_NAME, "=", name_token.text))
        if all(m.matches_empty() for m in matchers):
            raise self.error("vector selector must contain at least one non-empty matcher", start)
        return ast.VectorSelector(start, end, tuple(matchers))

    def parse_matcher(self) -> Matcher:
        label = self.peek()
        if label.kind == STRING and self.peek(1).kind in (",", "}"):
            self.advance()  # {"metric.name"}: Prometheus 3's quoted metric name
            return self.new_matcher(METRIC_NAME, "=", label.value, label)
        if label.kind not in (IDENT, STRING):
            raise self.unexpected(label, "label matching", 'identifier or "}"')
        self.advance()
        op = self.peek()
        if op.kind not in _MATCH_OPS:
            raise self.unexpected(op, "label matching", "label matching operator")
        self.advance()
        value = self.expect(STRING, "label matching", "string")
        name = label.value if label.kind == STRING else label.text
        return self.new_matcher(name, op.kind, value.value, value)

    def new_matcher(self, name: str, op: MatchOp, value: str, token: Token) -> Matcher:
        try:
            if op in ("=~", "!~"):
                re.compile(value)  # for an error message about the user's own expression
            return Matcher(name, op, value)
        except re.error as exc:
            raise self.error(f"error parsing regexp: {exc}", token.pos) from exc

    def parse_duration_value(self, context: str) -> tuple[int, Token]:
        """A duration token, or a number of seconds (Prometheus 3 accepts both)."""
        token = self.peek()
        if token.kind == DURATION:
            self.advance()
            return parse_duration(token.text, token.pos, self.query), token
        if token.kind == NUMBER:
            self.advance()
            seconds = parse_number(token.text)
            if not math.isfinite(seconds) or seconds * 1000 > 2**62:
                raise self.error(f'duration out of range: "{token.text}"', token.pos)
            return round(seconds * 1000), token
        raise self.unexpected(token, context, "duration")

    def parse_range(self, expr: Expr) -> Expr:
        bracket = self.advance()
        range_ms, _ = self.parse_duration_value("subquery or range")
        token = self.peek()
        if token.kind == "]":
            close = self.advance()
            problem = ""
            if not isinstance(expr, ast.VectorSelector):
                problem = "ranges only allowed for vector selectors"
            elif expr.offset_ms:
                problem = "no offset modifiers allowed before range"
            elif expr.at is not None:
                problem = "no @ modifiers allowed before range"
            if problem:
                raise self.error(problem, bracket.pos)
            assert isinstance(expr, ast.VectorSelector)
            return ast.MatrixSelector(expr.pos, close.end, expr, range_ms)
        if token.kind != ":":
            if token.kind == EOF:
                raise self.error("unclosed left bracket", token.pos)
            raise self.unexpected(token, "subquery or range", '":" or "]"')
        self.advance()
        step_ms = 0
        if self.peek().kind != "]":
            step_ms, _ = self.parse_duration_value("subquery selector")
        close = self.expect("]", "subquery selector", '"]"')
        kind = value_type(expr)
        if kind != "vector":
            raise self.error(
                f"subquery is only allowed on instant vector, got {TYPE_NAMES[kind]} instead",
                bracket.pos,
            )
        return ast.Subquery(expr.pos, close.end, expr, range_ms, step_ms)

    def parse_offset(self, expr: Expr) -> Expr:
        keyword = self.advance()
        sign = 1
        if self.peek().kind in ("+", "-"):
            sign = -1 if self.advance().kind == "-" else 1
        offset_ms, token = self.parse_duration_value("offset")
        return self.modify(expr, keyword, token.end, offset=sign * offset_ms)

    def parse_at(self, expr: Expr) -> Expr:
        keyword = self.advance()
        token = self.peek()
        if self.keyword() in ("start", "end") and self.peek(1).kind == "(":
            self.advance()
            self.advance()
            end = self.expect(")", "@", '")"').end
            return self.modify(
                expr,
                keyword,
                end,
                at=ast.At(anchor="start" if token.text.lower() == "start" else "end"),
            )
        sign = 1
        if token.kind in ("+", "-"):
            sign = -1 if self.advance().kind == "-" else 1
        number = self.expect(NUMBER, "@", "timestamp")
        seconds = sign * parse_number(number.text)
        if not math.isfinite(seconds) or abs(seconds) >= 2**63 / 1000:
            raise self.error(f"timestamp out of bounds for @ modifier: {seconds}", number.pos)
        return self.modify(expr, keyword, number.end, at=ast.At(round(seconds * 1000)))

    def modify(
        self, expr: Expr, keyword: Token, end: int, *, offset: int = 0, at: ast.At | None = None
    ) -> Expr:
        """Set an ``offset`` or ``@`` modifier on a selector or subquery (on a range
        selector, on its instant selector)."""
        target = expr.selector if isinstance(expr, ast.MatrixSelector) else expr
        if not isinstance(target, ast.VectorSelector | ast.Subquery):
            raise self.error(
                f"{keyword.text.lower()} modifier must be preceded by an instant vector "
                "selector or range vector selector or a subquery",
                keyword.pos,
            )
        if at is None:
            if target.offset_ms:
                raise self.error("offset may not be set multiple times", keyword.pos)
            target = replace(target, offset_ms=offset)
        else:
            if target.at is not None:
                raise self.error("@ <timestamp> may not be set multiple times", keyword.pos)
            target = replace(target, at=at)
        if isinstance(expr, ast.MatrixSelector):
            assert isinstance(target, ast.VectorSelector)
            return replace(expr, selector=target, end=end)
        return replace(target, end=end)

    # -- calls and aggregations ----------------------------------------------------------

    def parse_arguments(self, context: str) -> tuple[list[Expr], int]:
        """Parse ``( expr, ... )``; return the arguments and the end offset."""
        self.expect("(", context, '"("')
        args: list[Expr] = []
        if self.peek().kind == ")":
            return args, self.advance().end
        while True:
            args.append(self.parse_expr(0))
            token = self.peek()
            if token.kind != ",":
                return args, self.close_parenthesis(context).end
            self.advance()
            if self.peek().kind == ")":
                raise self.error("trailing commas not allowed in function call args", token.pos)

    def parse_call(self) -> ast.Call:
        name = self.advance()
        spec = FUNCTIONS.get(name.text)
        if spec is None:
            raise self.error(f'unknown function with name "{name.text}"', name.pos)
        args, end = self.parse_arguments("function call")
        return self.check.call(spec, name.pos, args, end)

    def parse_grouping(self, context: str) -> tuple[str, ...]:
        self.expect("(", context, '"("')
        labels: list[str] = []
        while self.peek().kind != ")":
            token = self.advance()
            if token.kind == STRING:
                labels.append(token.value)
            elif token.kind == IDENT and LABEL_RE.match(token.text):
                labels.append(token.text)
            else:
                raise self.unexpected(token, context, "label")
            if self.peek().kind == ",":
                self.advance()
            elif self.peek().kind != ")":
                raise self.unexpected(self.peek(), context, '"," or ")"')
        self.advance()
        return tuple(labels)

    def parse_aggregation(self) -> ast.Aggregate:
        op_token = self.advance()
        op = op_token.text.lower()
        grouping: tuple[str, ...] = ()
        without = False
        modifier_first = self.keyword() in ("by", "without")
        if modifier_first:
            without = self.advance().text.lower() == "without"
            grouping = self.parse_grouping("grouping opts")
        if self.peek().kind != "(":
            raise self.unexpected(self.peek(), "aggregation", '"("')
        args, end = self.parse_arguments("aggregation")
        if not modifier_first and self.keyword() in ("by", "without"):
            without = self.advance().text.lower() == "without"
            grouping = self.parse_grouping("grouping opts")
            end = self.tokens[self.index - 1].end
        return self.check.aggregation(op, op_token.pos, args, grouping, without, end)

    # -- binary operations ---------------------------------------------------------------

    def parse_binary_modifiers(self, op: str) -> tuple[bool, ast.VectorMatching]:
        return_bool = False
        if self.keyword() == "bool":
            token = self.advance()
            if op not in ast.COMPARISON_OPS:
                raise self.error(
                    "bool modifier can only be used on comparison operators", token.pos
                )
            return_bool = True
        card: ast.Cardinality = "many-to-many" if op in ast.SET_OPS else "one-to-one"
        on = False
        labels: tuple[str, ...] = ()
        include: tuple[str, ...] = ()
        if self.keyword() in ("on", "ignoring"):
            on = self.advance().text.lower() == "on"
            labels = self.parse_grouping("grouping opts")
            if self.keyword() in ("group_left", "group_right"):
                token = self.advance()
                if op in ast.SET_OPS:
                    raise self.error(f'no grouping allowed for "{op}" operation', token.pos)
                card = "many-to-one" if token.text.lower() == "group_left" else "one-to-many"
                if self.peek().kind == "(":
                    include = self.parse_grouping("grouping opts")
                for label in include:
                    if on and label in labels:
                        raise self.error(
                            f'label "{label}" must not occur in ON and GROUP clause at once',
                            token.pos,
                        )
        return return_bool, ast.VectorMatching(card, on, labels, include)
