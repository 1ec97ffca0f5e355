"""The parser: precedence and associativity, literals, modifiers, and errors with positions."""

from __future__ import annotations

import math

import pytest

from watchkeeper.metrics.promql import PromQLError, parse
from watchkeeper.metrics.promql import ast as a


def shape(expr: a.Expr) -> object:
    """A compact rendering of a tree, to compare structure: (op, lhs, rhs) for binaries."""
    if isinstance(expr, a.NumberLiteral):
        return expr.value
    if isinstance(expr, a.StringLiteral):
        return repr(expr.value)
    if isinstance(expr, a.VectorSelector):
        return next((m.value for m in expr.matchers if m.name == "__name__"), "{}")
    if isinstance(expr, a.Binary):
        return (expr.op, shape(expr.lhs), shape(expr.rhs))
    if isinstance(expr, a.Unary):
        return (expr.op, shape(expr.expr))
    if isinstance(expr, a.Paren):
        return shape(expr.expr)
    if isinstance(expr, a.Call):
        return (expr.func, *[shape(arg) for arg in expr.args])
    if isinstance(expr, a.Aggregate):
        return (expr.op, shape(expr.expr))
    return type(expr).__name__


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("a + b * c", ("+", "a", ("*", "b", "c"))),
        ("a * b + c", ("+", ("*", "a", "b"), "c")),
        ("a - b - c", ("-", ("-", "a", "b"), "c")),  # left-associative
        ("a ^ b ^ c", ("^", "a", ("^", "b", "c"))),  # right-associative
        ("a / b ^ c", ("/", "a", ("^", "b", "c"))),
        ("a or b and c", ("or", "a", ("and", "b", "c"))),
        ("a and b unless c", ("unless", ("and", "a", "b"), "c")),
        ("a > b + c", (">", "a", ("+", "b", "c"))),
        ("a == b or c", ("or", ("==", "a", "b"), "c")),
        ("a atan2 b + c", ("+", ("atan2", "a", "b"), "c")),
        ("a % b * c", ("*", ("%", "a", "b"), "c")),
        ("(a + b) * c", ("*", ("+", "a", "b"), "c")),
        # Unary minus binds like *, so looser than ^ (Prometheus's grammar).
        ("-a ^ b", ("-", ("^", "a", "b"))),
        ("-a * b", ("*", ("-", "a"), "b")),
        ("a ^ -b", ("^", "a", ("-", "b"))),
        ("a AND b", ("and", "a", "b")),  # keywords are case-insensitive
    ],
)
def test_precedence_and_associativity(query: str, tree: object) -> None:
    assert shape(parse(query)) == tree


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("1", 1.0),
        ("1.5e3", 1500.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("0x1F", 31.0),
        ("0755", 493.0),  # a leading zero means octal, as Go's ParseInt reads it
        ("08", 8.0),  # ... unless it is not octal
        ("1_000", 1000.0),
        ("Inf", math.inf),
        ("-inf", -math.inf),
        ("-2", -2.0),  # unary minus folds into a number literal
        ("- - 3", 3.0),
        ("1h30m", 5400.0),  # a duration used as a number is seconds
    ],
)
def test_number_literals(query: str, value: float) -> None:
    expr = parse(query)
    assert isinstance(expr, a.NumberLiteral)
    assert expr.value == value


def test_nan_literal() -> None:
    expr = parse("NaN")
    assert isinstance(expr, a.NumberLiteral) and math.isnan(expr.value)


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ('"a\\"b"', 'a"b'),
        ("'it\\'s'", "it's"),
        ('"tab\\there"', "tab\there"),
        ('"\\u00e9\\x41\\101"', "éAA"),
        ("`raw \\n`", "raw \\n"),
    ],
)
def test_string_literals(query: str, value: str) -> None:
    expr = parse(query)
    assert isinstance(expr, a.StringLiteral)
    assert expr.value == value


def test_selector_matchers_and_modifiers() -> None:
    expr = parse(
        'rate(http_requests_total{job="api", code=~"5..", path!="/", m!~"x|y",}[1h30m] '
        "offset -5m @ 1609746000)"
    )
    assert isinstance(expr, a.Call)
    matrix = expr.args[0]
    assert isinstance(matrix, a.MatrixSelector)
    assert matrix.range_ms == 5_400_000
    selector = matrix.selector
    assert selector.offset_ms == -300_000
    assert selector.at == a.At(timestamp_ms=1_609_746_000_000)
    ops = [(m.name, m.op, m.value) for m in selector.matchers]
    assert ops == [
        ("__name__", "=", "http_requests_total"),
        ("job", "=", "api"),
        ("code", "=~", "5.."),
        ("path", "!=", "/"),
        ("m", "!~", "x|y"),
    ]
    assert selector.matchers[2].matches("503") and not selector.matchers[2].matches("1503")


def test_subquery_and_at_start() -> None:
    expr = parse("max_over_time(rate(x[5m])[1h:1m] @ start())")
    assert isinstance(expr, a.Call)
    subquery = expr.args[0]
    assert isinstance(subquery, a.Subquery)
    assert (subquery.range_ms, subquery.step_ms) == (3_600_000, 60_000)
    assert subquery.at == a.At(anchor="start")
    default_step = parse("x[10m:]")
    assert isinstance(default_step, a.Subquery) and default_step.step_ms == 0


def test_aggregation_forms_and_modifiers() -> None:
    before = parse("sum by (job, le) (x)")
    after = parse("sum(x) by (job, le)")
    without = parse("topk without (instance) (3, x)")
    for expr in (before, after):
        assert isinstance(expr, a.Aggregate)
        assert expr.grouping == ("job", "le") and not expr.without
    assert isinstance(without, a.Aggregate)
    assert without.without and without.grouping == ("instance",)
    assert isinstance(without.param, a.NumberLiteral) and without.param.value == 3


def test_vector_matching_modifiers() -> None:
    expr = parse("a * on (instance) group_left (role) b")
    assert isinstance(expr, a.Binary)
    assert expr.matching == a.VectorMatching("many-to-one", True, ("instance",), ("role",))
    expr = parse("a > bool ignoring (mode) b")
    assert isinstance(expr, a.Binary)
    assert expr.return_bool
    assert expr.matching == a.VectorMatching("one-to-one", False, ("mode",), ())
    expr = parse("a and b")
    assert isinstance(expr, a.Binary) and expr.matching.card == "many-to-many"


def test_comments_and_newlines() -> None:
    assert shape(parse("a # the first\n + b")) == ("+", "a", "b")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "1:1: parse error: no expression found in input"),
        ("foo bar", '1:5: parse error: unexpected identifier "bar"'),
        ("sum(foo", "1:8: parse error: unclosed left parenthesis"),
        ("(foo", "1:5: parse error: unclosed left parenthesis"),
        ("foo +", "1:6: parse error: unexpected end of input"),
        (
            "rate(foo[5m] bar)",
            '1:14: parse error: unexpected identifier "bar" in function call, expected ")"',
        ),
        ("foo)", "1:4: parse error: unexpected right parenthesis ')'"),
        ("foo{a=}", '1:7: parse error: unexpected "}" in label matching, expected string'),
        ("foo{", "1:5: parse error: unexpected end of input inside braces"),
        ("foo[5m", "1:7: parse error: unclosed left bracket"),
        ("foo[5x]", '1:5: parse error: bad number or duration syntax: "5x"'),
        ("foo[30m1h]", '1:5: parse error: not a valid duration string: "30m1h"'),
        ('"abc', "1:1: parse error: unterminated quoted string"),
        (
            "rate(foo)",
            '1:6: parse error: expected type range vector in call to function "rate", '
            "got instant vector",
        ),
        ("rate(foo[5m], 1)", '1:1: parse error: expected 1 argument(s) in call to "rate", got 2'),
        ("round()", '1:1: parse error: expected at least 1 argument(s) in call to "round", got 0'),
        ("nosuch(foo)", '1:1: parse error: unknown function with name "nosuch"'),
        ("1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
        (
            "foo + bool bar",
            "1:7: parse error: bool modifier can only be used on comparison operators",
        ),
        (
            "1 and foo",
            '1:3: parse error: set operator "and" not allowed in binary scalar expression',
        ),
        (
            "foo[5m] + 1",
            "1:1: parse error: binary expression must contain only scalar and instant vector types",
        ),
        (
            "sum(foo[5m])",
            "1:5: parse error: expected type instant vector in aggregation "
            "expression, got range vector",
        ),
        (
            'topk("a", foo)',
            "1:6: parse error: expected type scalar in aggregation parameter, got string",
        ),
        ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        (
            '{a=~".*"}',
            "1:1: parse error: vector selector must contain at least one non-empty matcher",
        ),
        (
            'foo{__name__="bar"}',
            '1:1: parse error: metric name must not be set twice: "foo" or "bar"',
        ),
        ("(foo)[5m]", "1:6: parse error: ranges only allowed for vector selectors"),
        ("foo offset 5m [5m]", "1:15: parse error: no offset modifiers allowed before range"),
        (
            "sum(foo) offset 5m",
            "1:10: parse error: offset modifier must be preceded by an instant "
            "vector selector or range vector selector or a subquery",
        ),
        (
            "sum(foo) @ 100",
            "1:10: parse error: @ modifier must be preceded by an instant vector selector or "
            "range vector selector or a subquery",
        ),
        ("foo offset 1m OFFSET 2m", "1:15: parse error: offset may not be set multiple times"),
        ("foo @ 1 @ 2", "1:9: parse error: @ <timestamp> may not be set multiple times"),
        (
            "foo[5m][10m:]",
            "1:8: parse error: subquery is only allowed on instant vector, got "
            "range vector instead",
        ),
        (
            "-foo[5m]",
            "1:2: parse error: unary expression only allowed on expressions of type "
            'scalar or instant vector, got "range vector"',
        ),
        (
            'foo{a=~"("}',
            "1:8: parse error: error parsing regexp: missing ), unterminated "
            "subpattern at position 0",
        ),
        (
            "a + on(x) group_left(x) b",
            '1:11: parse error: label "x" must not occur in ON and GROUP clause at once',
        ),
        (
            'label_replace(foo, "1x", "", "a", "")',
            '1:20: parse error: invalid label name "1x" in label_replace()',
        ),
        ("foo\n  + $", "2:5: parse error: unexpected character: '$'"),
    ],
)
def test_errors_carry_positions(query: str, message: str) -> None:
    with pytest.raises(PromQLError) as caught:
        parse(query)
    assert str(caught.value) == message


def test_error_position_is_a_character_offset() -> None:
    with pytest.raises(PromQLError) as caught:
        parse("sum(rate(x[5m])) by (job) + rate(y)")
    assert caught.value.position == 33
    assert caught.value.line_column == (1, 34)
