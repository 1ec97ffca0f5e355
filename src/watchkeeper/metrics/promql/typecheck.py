"""Type rules of PromQL, checked while the parser builds the tree so that each error points
at the text at fault (the messages are Prometheus's)."""

from __future__ import annotations

import re

from watchkeeper.metrics.labels import LABEL_RE
from watchkeeper.metrics.promql import ast
from watchkeeper.metrics.promql.ast import AGGREGATIONS, TYPE_NAMES, Expr, ValueType, value_type
from watchkeeper.metrics.promql.errors import PromQLError
from watchkeeper.metrics.promql.signatures import FunctionSpec


class Checker:
    def __init__(self, query: str) -> None:
        self.query = query

    def error(self, message: str, position: int) -> PromQLError:
        return PromQLError(message, position, self.query)

    def expect_type(self, expr: Expr, wanted: ValueType, context: str) -> None:
        got = value_type(expr)
        if got != wanted:
            raise self.error(
                f"expected type {TYPE_NAMES[wanted]} in {context}, got {TYPE_NAMES[got]}", expr.pos
            )

    def call(self, spec: FunctionSpec, pos: int, args: list[Expr], end: int) -> ast.Call:
        """Return the call of ``spec`` at ``pos``; raise PromQLError for a wrong number or type
        of arguments."""
        fixed, given = len(spec.args), len(args)
        if spec.variadic == 0 and given != fixed:
            raise self.error(
                f'expected {fixed} argument(s) in call to "{spec.name}", got {given}', pos
            )
        if spec.variadic != 0 and given < fixed - 1:
            raise self.error(
                f'expected at least {fixed - 1} argument(s) in call to "{spec.name}", got {given}',
                pos,
            )
        if spec.variadic > 0 and given > fixed - 1 + spec.variadic:
            raise self.error(
                f"expected at most {fixed - 1 + spec.variadic} argument(s) in call to "
                f'"{spec.name}", got {given}',
                pos,
            )
        for i, arg in enumerate(args):
            self.expect_type(arg, spec.args[min(i, fixed - 1)], f'call to function "{spec.name}"')
        call = ast.Call(pos, end, spec.name, tuple(args))
        if call.func in ("label_replace", "label_join"):
            self.label_function(call)
        return call

    def label_function(self, call: ast.Call) -> None:
        """Check label_replace's and label_join's label names and regular expression up
        front, so that a bad one is reported with its position."""
        literals = [ast.unwrap_parens(arg) for arg in call.args[1:]]
        strings = [s for s in literals if isinstance(s, ast.StringLiteral)]
        names = [strings[0]] + (strings[2:] if call.func == "label_join" else [])
        for label in names:
            if not LABEL_RE.match(label.value):
                raise self.error(f'invalid label name "{label.value}" in {call.func}()', label.pos)
        if call.func == "label_replace":
            regex = strings[3]
            try:
                re.compile(f"(?s:{regex.value})")
            except re.error as exc:
                raise self.error(
                    f'invalid regular expression in label_replace(): "{regex.value}": {exc}',
                    regex.pos,
                ) from exc

    def aggregation(
        self,
        op: str,
        pos: int,
        args: list[Expr],
        grouping: tuple[str, ...],
        without: bool,
        end: int,
    ) -> ast.Aggregate:
        param_type = AGGREGATIONS[op]
        wanted = 1 if param_type is None else 2
        if not args:
            raise self.error("no arguments for aggregate expression provided", pos)
        if len(args) != wanted:
            raise self.error(
                "wrong number of arguments for aggregate expression provided, "
                f"expected {wanted}, got {len(args)}",
                pos,
            )
        param = args[0] if param_type is not None else None
        if param is not None and param_type is not None:
            self.expect_type(param, param_type, "aggregation parameter")
            label = ast.unwrap_parens(param)
            if isinstance(label, ast.StringLiteral) and not LABEL_RE.match(label.value):
                raise self.error(f'invalid label name "{label.value}"', param.pos)
        self.expect_type(args[-1], "vector", "aggregation expression")
        return ast.Aggregate(pos, end, op, args[-1], param, grouping, without)

    def binary(
        self,
        op: str,
        pos: int,
        lhs: Expr,
        rhs: Expr,
        return_bool: bool,
        matching: ast.VectorMatching,
    ) -> ast.Binary:
        """Return ``lhs op rhs`` (``pos``: the operator's); raise PromQLError unless the
        operand types suit the operator."""
        for side in (lhs, rhs):
            if value_type(side) not in ("scalar", "vector"):
                raise self.error(
                    "binary expression must contain only scalar and instant vector types", side.pos
                )
        both_vectors = value_type(lhs) == value_type(rhs) == "vector"
        if op in ast.SET_OPS and not both_vectors:
            raise self.error(f'set operator "{op}" not allowed in binary scalar expression', pos)
        if not both_vectors and matching.labels:
            raise self.error("vector matching only allowed between instant vectors", pos)
        scalars = value_type(lhs) == value_type(rhs) == "scalar"
        if op in ast.COMPARISON_OPS and scalars and not return_bool:
            raise self.error("comparisons between scalars must use BOOL modifier", pos)
        return ast.Binary(lhs.pos, rhs.end, op, lhs, rhs, return_bool, matching)
