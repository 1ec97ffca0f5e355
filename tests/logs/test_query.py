"""The log query language: the parser's constructs and errors, and the engine's results
compared with the same figures computed by hand from the stored lines."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.query import ast
from watchkeeper.logs.query.engine import (
    QueryError,
    evaluate_instant,
    evaluate_range,
    histogram,
    select_lines,
)
from watchkeeper.logs.query.parser import parse, parse_log_query, parse_metric
from watchkeeper.logs.selector import Matcher, QuerySyntaxError
from watchkeeper.logs.store import ChunkStore

S = 1_000_000_000
T0 = 1_700_000_000 * S
USERS = ("bob", "eve", "ann")

# -- the parser ---------------------------------------------------------------------------------


def test_parse_a_log_query_with_every_stage() -> None:
    query = parse_log_query(
        '{app="api", level=~"error|warn"} timeout "connection refused" |= "GET" != "200"'
        ' |~ "up.*" !~ `^x` | json | logfmt | regexp "(?P<ms>\\d+)ms"'
        ' | status >= 500 | user="bob" | path=~"/api/.*" | code == 7 | unwrap ms'
    )

    assert query.matchers == (
        Matcher("app", "=", "api"),
        Matcher("level", "=~", "error|warn"),
    )
    kinds = [(type(s).__name__, getattr(s, "op", getattr(s, "kind", None))) for s in query.stages]
    assert kinds == [
        ("LineFilter", "term"),
        ("LineFilter", "term"),
        ("LineFilter", "|="),
        ("LineFilter", "!="),
        ("LineFilter", "|~"),
        ("LineFilter", "!~"),
        ("Parser", "json"),
        ("Parser", "logfmt"),
        ("Parser", "regexp"),
        ("FieldFilter", ">="),
        ("FieldFilter", "="),
        ("FieldFilter", "=~"),
        ("FieldFilter", "=="),
        ("Unwrap", None),
    ]
    assert query.stages[1] == ast.LineFilter("term", "connection refused")
    assert query.stages[9] == ast.FieldFilter("status", ">=", 500.0)
    assert query.stages[12] == ast.FieldFilter("code", "==", 7.0)
    assert query.unwrap == "ms"
    assert query.labels_from_fields


def test_parse_bare_words_without_a_selector() -> None:
    assert parse("timeout") == ast.LogQuery((), (ast.LineFilter("term", "timeout"),))


def test_parse_metric_queries() -> None:
    query = parse('topk(5, sum by (user) (count_over_time({app="api"} | json [1h])))')
    assert isinstance(query, ast.VectorAggregation)
    assert (query.op, query.param) == ("topk", 5)
    inner = query.inner
    assert isinstance(inner, ast.VectorAggregation)
    assert (inner.op, inner.by, inner.without) == ("sum", ("user",), False)
    assert isinstance(inner.inner, ast.RangeAggregation)
    assert inner.inner.window_ns == 3600 * S

    trailing = parse_metric("sum(rate({}[5m])) without (host, level) > 0.5")
    assert isinstance(trailing, ast.Comparison)
    assert (trailing.op, trailing.number) == (">", 0.5)
    assert isinstance(trailing.left, ast.VectorAggregation)
    assert trailing.left.by == ("host", "level") and trailing.left.without

    scaled = parse_metric("(count_over_time({}[30s])) * 60")
    assert isinstance(scaled, ast.Comparison) and scaled.op == "*"
    unwrap = parse_metric("avg_over_time({} | unwrap latency_ms [5m])")
    assert isinstance(unwrap, ast.RangeAggregation) and unwrap.query.unwrap == "latency_ms"


def test_a_word_named_like_a_function_is_a_term() -> None:
    assert parse("rate") == ast.LogQuery((), (ast.LineFilter("term", "rate"),))


@pytest.mark.parametrize(
    ("text", "reason", "position"),
    [
        ('{app="api"', "expected , or }", 10),
        ("{app}", "expected =, !=, =~ or !~", 4),
        ('{} |= "x', "unterminated string", 6),
        ("{} |", "expected json, logfmt, regexp, unwrap or a field filter", 4),
        ("{} | status", "expected a comparison after 'status' (=, !=, =~, !~, >, <)", 11),
        ("{} | status >", "expected a number after >", 13),
        ("{} | unwrap", "expected the field to unwrap", 11),
        ('{} | regexp "(\\d+)"', "regexp needs named groups such as (?P<status>\\d+)", 12),
        ("count_over_time({})", "expected a range such as [5m]", 18),
        ("count_over_time({}[5x])", "'5x' is not a duration (use 30s, 5m, 1h)", 19),
        ("count_over_time({}[0s])", "the range must be longer than 0s", 19),
        ("sum_over_time({}[5m])", "sum_over_time needs `| unwrap <field>`", 0),
        ("rate({} | unwrap n [5m])", "rate counts lines: remove `| unwrap`", 0),
        ("topk(x, rate({}[5m]))", "topk needs a count first: topk(10, ...)", 5),
        ("sum by (1) (rate({}[1m]))", "expected a label name", 8),
        ("sum(rate({}[5m])) >", "expected a number after >", 19),
        ("sum(rate({}[5m])) extra", "unexpected 'extra'", 18),
        ("x" * 20_001, "the query is longer than 20,000 characters", 0),
    ],
)
def test_syntax_errors_name_the_problem_and_its_position(
    text: str, reason: str, position: int
) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)

    assert (caught.value.reason, caught.value.position) == (reason, position)
    assert str(caught.value).endswith(f"(at character {position + 1})")


def test_a_bad_regular_expression_is_a_syntax_error() -> None:
    with pytest.raises(QuerySyntaxError, match=r"bad regular expression '\(\['"):
        parse('{} |~ "(["')
    with pytest.raises(QuerySyntaxError, match="bad regular expression"):
        parse('{} | path=~"*"')


def test_log_and_metric_entry_points_refuse_the_other_kind() -> None:
    with pytest.raises(QuerySyntaxError, match="expected a log query"):
        parse_log_query("rate({}[5m])")
    with pytest.raises(QuerySyntaxError, match="expected a metric query"):
        parse_metric('{app="api"}')


# -- the engine -------------------------------------------------------------------------------


def make_line(i: int) -> LogLine:
    """Line ``i`` of 60, one a second from T0 + 1 s: three apps, two levels, three users."""
    app = ("api", "api", "db")[i % 3]
    level = "error" if i % 5 == 0 else "info"
    message = f"GET /orders/{i} took {i}ms" + (" Timeout upstream" if i % 4 == 0 else "")
    fields = {"user": USERS[i % 3 if i % 2 else 0], "latency_ms": str(i), "elapsed": f"{i}00ms"}
    ts = T0 + (i + 1) * S
    return LogLine(ts, ts, make_labels({"app": app, "level": level}), message, fields)


DATA = [make_line(i) for i in range(60)]
END = T0 + 60 * S


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChunkStore]:
    opened = ChunkStore(Path(tmp_path_factory.mktemp("logs")), chunk_lines=8)
    for at in range(0, 60, 10):  # chunks, the index and heads all take part
        opened.append(DATA[at : at + 10])
    opened.tick()
    yield opened
    opened.close()


def found(store: ChunkStore, query: str) -> list[int]:
    lines = select_lines(store, query, T0, END, limit=1000).lines
    return sorted(int(ln.fields["latency_ms"]) for ln in lines)


def where(test: object) -> list[int]:
    return [i for i in range(60) if test(DATA[i])]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('{app="db"}', where(lambda ln: ln.label("app") == "db")),
        (
            '{app="api", level!="info"}',
            where(lambda ln: ln.label("app") == "api" and ln.label("level") == "error"),
        ),
        ("timeout", where(lambda ln: "Timeout" in ln.message)),
        ('{} |= "Timeout"', where(lambda ln: "Timeout" in ln.message)),
        ('{} |= "timeout"', []),  # |= is case-sensitive, a term is not
        ("meout", []),  # a term is a whole word, |= a substring
        ('{} |= "meout"', where(lambda ln: "Timeout" in ln.message)),
        ('{} != "Timeout"', where(lambda ln: "Timeout" not in ln.message)),
        ('{} |~ "orders/1[0-9] "', list(range(10, 20))),
        ('{} !~ "took [0-9]ms"', list(range(10, 60))),
        ('"took 7ms"', [7]),
        ('{} | user="eve"', where(lambda ln: ln.fields["user"] == "eve")),
        ('{} | user!="bob"', where(lambda ln: ln.fields["user"] != "bob")),
        ('{} | user=~"e.*|a.*"', where(lambda ln: ln.fields["user"] in ("eve", "ann"))),
        ('{} | user!~"b.."', where(lambda ln: ln.fields["user"] != "bob")),
        ('{} | level="error"', list(range(0, 60, 5))),  # a label, by the same syntax
        ("{} | latency_ms >= 55", list(range(55, 60))),
        ("{} | latency_ms < 3", [0, 1, 2]),
        ("{} | latency_ms == 7", [7]),
        ("{} | latency_ms != 7", [i for i in range(60) if i != 7]),
        ("{} | elapsed > 5.5", list(range(56, 60))),  # "5600ms" read as 5.6 s
        ("{} | elapsed <= 0.1", [0, 1]),
        ('{} | regexp "took (?P<took>\\\\d+)ms" | took > 57', [58, 59]),
        ('{} | regexp "orders/(?P<order>\\\\d+)" | order="3"', [3]),
        (
            '{app="api"} Timeout | user="bob" | latency_ms > 10',
            where(
                lambda ln: (
                    ln.label("app") == "api"
                    and "Timeout" in ln.message
                    and ln.fields["user"] == "bob"
                    and int(ln.fields["latency_ms"]) > 10
                )
            ),
        ),
    ],
)
def test_log_query_filters(store: ChunkStore, query: str, expected: list[int]) -> None:
    assert found(store, query) == expected


def test_lines_come_newest_first_with_a_limit(store: ChunkStore) -> None:
    result = select_lines(store, "{}", T0, END, limit=5)
    forward = select_lines(store, "{}", T0, END, limit=5, direction="forward")

    assert [ln.fields["latency_ms"] for ln in result.lines] == ["59", "58", "57", "56", "55"]
    assert result.truncated
    assert [ln.fields["latency_ms"] for ln in forward.lines] == ["0", "1", "2", "3", "4"]
    assert not select_lines(store, "{}", T0, END, limit=60).truncated


def instant(store: ChunkStore, query: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(labels.items())): value
        for labels, value in evaluate_instant(store, query, END)
    }


def by(key: str, lines: list[LogLine] = DATA) -> Counter[str]:
    return Counter(ln.label(key) or ln.fields[key] for ln in lines)


def test_count_rate_and_bytes_over_time(store: ChunkStore) -> None:
    streams = Counter(ln.labels for ln in DATA)

    assert instant(store, "count_over_time({}[1m])") == {k: float(v) for k, v in streams.items()}
    assert instant(store, "sum(count_over_time({}[1m]))") == {(): 60.0}
    assert instant(store, 'sum(rate({app="db"}[1m]))') == {(): 20 / 60}
    assert instant(store, 'sum(count_over_time({} |= "Timeout" [30s]))') == {
        (): float(sum("Timeout" in ln.message for ln in DATA[30:]))
    }
    assert instant(store, "sum(bytes_over_time({}[1m]))") == {
        (): float(sum(len(ln.message) for ln in DATA))
    }
    assert instant(store, "sum(bytes_rate({}[1m]))") == {
        (): pytest.approx(sum(len(ln.message) for ln in DATA) / 60)
    }


def test_unwrap_functions(store: ChunkStore) -> None:
    q = "{} | unwrap latency_ms [1m]"
    assert instant(store, f"sum(sum_over_time({q}))") == {(): float(sum(range(60)))}
    assert instant(store, f"min(min_over_time({q}))") == {(): 0.0}
    assert instant(store, f"max(max_over_time({q}))") == {(): 59.0}
    avg = instant(store, 'avg_over_time({app="db", level="info"} | unwrap latency_ms [1m])')
    db_info = [i for i in range(60) if i % 3 == 2 and i % 5]
    assert avg == {(("app", "db"), ("level", "info")): sum(db_info) / len(db_info)}
    seconds = instant(store, "sum(sum_over_time({} | latency_ms < 3 | unwrap elapsed [1m]))")
    assert seconds == {(): pytest.approx(0.3)}  # 0 + 0.1 + 0.2 s


def test_vector_aggregations(store: ChunkStore) -> None:
    inner = "count_over_time({}[1m])"
    assert instant(store, f"sum by (level) ({inner})") == {
        (("level", k),): float(v) for k, v in by("level").items()
    }
    assert instant(store, f"sum without (level) ({inner})") == {
        (("app", k),): float(v) for k, v in by("app").items()
    }
    assert instant(store, f"count by (app) ({inner})") == {
        (("app", "api"),): 2.0,
        (("app", "db"),): 2.0,
    }
    per_stream = Counter(ln.labels for ln in DATA)
    api = [v for k, v in per_stream.items() if ("app", "api") in k]
    assert instant(store, 'avg(count_over_time({app="api"} |= "GET" [1m]))') == {(): sum(api) / 2}
    assert instant(store, f"min by (app) ({inner})")[(("app", "api"),)] == min(api)
    assert instant(store, f"max by (app) ({inner})")[(("app", "api"),)] == max(api)
    users = by("user")
    top = instant(store, "topk(1, sum by (user) (count_over_time({} | json [1m])))")
    assert top == {(("user", users.most_common(1)[0][0]),): float(users.most_common(1)[0][1])}
    bottom = instant(store, "bottomk(2, sum by (user) (count_over_time({} | json [1m])))")
    assert sorted(bottom.values()) == sorted(users.values())[:2]


def test_comparisons_filter_and_arithmetic_scales(store: ChunkStore) -> None:
    apps = by("app")
    inner = "sum by (app) (count_over_time({}[1m]))"

    assert instant(store, f"{inner} > 25") == {(("app", "api"),): float(apps["api"])}
    assert instant(store, f"{inner} <= 25") == {(("app", "db"),): float(apps["db"])}
    assert instant(store, f"{inner} * 2") == {(("app", k),): 2.0 * v for k, v in apps.items()}
    assert instant(store, f"{inner} / 4 - 5") == {(("app", k),): v / 4 - 5 for k, v in apps.items()}


def test_absent_over_time(store: ChunkStore) -> None:
    assert instant(store, 'absent_over_time({app="nope", level=~".+"}[1m])') == {
        (("app", "nope"),): 1.0
    }
    assert instant(store, 'absent_over_time({app="api"}[1m])') == {}
    later = evaluate_range(store, 'absent_over_time({app="api"}[10s])', END, END + 20 * S, 10 * S)
    assert math.isnan(later.series[0].values[0])
    assert later.series[0].values.tolist()[1:] == [1.0, 1.0]


def test_range_evaluation_steps_and_windows(store: ChunkStore) -> None:
    result = evaluate_range(
        store, 'sum(count_over_time({app="db"}[10s]))', T0 + 10 * S, END, 10 * S
    )

    assert result.steps.tolist() == [T0 + k * 10 * S for k in range(1, 7)]
    expected = [
        sum(1 for ln in DATA if ln.label("app") == "db" and t - 10 * S < ln.ts <= t)
        for t in result.steps.tolist()
    ]
    assert result.series[0].values.tolist() == expected
    with pytest.raises(QueryError, match="steps"):
        evaluate_range(store, "count_over_time({}[1m])", 0, END, 1)
    with pytest.raises(QueryError, match="positive"):
        evaluate_range(store, "count_over_time({}[1m])", T0, END, 0)


def test_histogram_counts_matching_lines_per_bucket(store: ChunkStore) -> None:
    width, buckets = histogram(store, "timeout", T0, END, buckets=6)

    assert width == 10 * S
    assert [end for end, _ in buckets] == [(T0 + k * 10 * S) / S for k in range(1, 7)]
    assert [count for _, count in buckets] == [
        sum(1 for i in range(k * 10, k * 10 + 10) if i % 4 == 0) for k in range(6)
    ]
