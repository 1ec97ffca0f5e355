"""The text exposition parser: Prometheus 0.0.4 and OpenMetrics 1.0, errors with positions."""

from __future__ import annotations

import math

import pytest

from watchkeeper.metrics.exposition import Sample, format_of, parse, parse_bytes
from watchkeeper.metrics.labels import make_labels

# The example of the Prometheus exposition format documentation.
PROMETHEUS_DOC_EXAMPLE = r"""# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
MSDOS_LINE

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
""".replace(
    "MSDOS_LINE",
    r'msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",'
    r'error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9',
)


def sample(name: str, value: float, ts: int | None = None, **labels: str) -> Sample:
    return Sample(make_labels({"__name__": name, **labels}), value, ts)


def test_prometheus_documentation_example() -> None:
    result = parse(PROMETHEUS_DOC_EXAMPLE)
    assert result.errors == []
    assert result.samples == [
        sample("http_requests_total", 1027, 1395066363000, method="post", code="200"),
        sample("http_requests_total", 3, 1395066363000, method="post", code="400"),
        sample(
            "msdos_file_access_time_seconds",
            1.458255915e9,
            path="C:\\DIR\\FILE.TXT",
            error='Cannot find file:\n"FILE.TXT"',
        ),
        sample("metric_without_timestamp_and_labels", 12.47),
        sample("something_weird", math.inf, -3982045, problem="division by zero"),
        sample("http_request_duration_seconds_bucket", 24054, le="0.05"),
        sample("http_request_duration_seconds_bucket", 144320, le="+Inf"),
        sample("http_request_duration_seconds_sum", 53423),
        sample("http_request_duration_seconds_count", 144320),
    ]
    families = result.families
    assert families["http_requests_total"].type == "counter"
    assert families["http_requests_total"].help == "The total number of HTTP requests."
    assert families["http_request_duration_seconds"].type == "histogram"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("m NaN", math.nan),
        ("m nan", math.nan),
        ("m +Inf", math.inf),
        ("m -Inf", -math.inf),
        ("m inf", math.inf),
        ("m -0", -0.0),
        ("m 1e3", 1000.0),
        ("m .5", 0.5),
        ("m 5.", 5.0),
        ("m +3", 3.0),
    ],
)
def test_values_are_go_floats(text: str, value: float) -> None:
    (got,) = parse(text).samples
    assert got.value == value or (math.isnan(value) and math.isnan(got.value))


def test_escapes_in_label_values_and_help() -> None:
    text = (
        '# HELP m A \\\\ backslash,\\n a newline and a \\" kept as written\n'
        'm{a="x\\\\y",b="q\\"q",c="l\\nl",d="\\t stays"} 1\n'
    )
    result = parse(text)
    assert result.errors == []
    assert dict(result.samples[0].labels) == {
        "__name__": "m",
        "a": "x\\y",
        "b": 'q"q',
        "c": "l\nl",
        "d": "\\t stays",  # an unknown escape is kept, as Prometheus does
    }
    assert result.families["m"].help == 'A \\ backslash,\n a newline and a \\" kept as written'


def test_prometheus_format_is_lenient_with_blanks() -> None:
    result = parse('  m { a = "1" , b="2", }   7   123  \n\t# just a comment\n\n')
    assert result.errors == []
    assert result.samples == [sample("m", 7, 123, a="1", b="2")]


def test_empty_label_value_is_no_label() -> None:
    assert parse('m{a="",b="x"} 1').samples == [sample("m", 1, b="x")]


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("1metric 1", 1, "expected a metric name"),
        ("m{a=1} 1", 5, "expected a quoted value for the label"),
        ('m{a="1} 2', 5, 'the value of the label "a" has no closing quote'),
        ('m{a="1" b="2"} 1', 9, 'expected "," or "}"'),
        ('m{1a="1"} 1', 3, 'expected a label name or "}"'),
        ('m{a="1",a="2"} 1', 9, 'duplicate label "a"'),
        ('m{__name__="x"} 1', 3, "cannot also be given as the label __name__"),
        ("m", 2, "expected a space and the sample value"),
        ("m one", 3, '"one" is not a number'),
        ("m 1_000", 3, '"1_000" is not a number'),
        ("m 0x10", 3, '"0x10" is not a number'),
        ("m 1e400", 3, "out of range"),
        ("m 1 1.5", 5, "is not a timestamp (integer milliseconds)"),
        ("m 1 99999999999999999999", 5, "out of range"),
        ("m 1 2 3", 7, "unexpected text after the sample"),
        ("# TYPE m kounter", 10, 'unknown metric type "kounter"'),
        ("# TYPE m gaugehistogram", 10, "unknown metric type"),  # OpenMetrics only
        ("# HELP", 7, "expected a metric name after HELP"),
    ],
)
def test_errors_name_line_column_and_reason(line: str, column: int, message: str) -> None:
    result = parse(f"good 1\n{line}\nalso_good 2\n")
    assert [s.labels[0][1] for s in result.samples] == ["good", "also_good"]
    (error,) = result.errors
    assert (error.line, error.column) == (2, column)
    assert message in error.message
    assert str(error).startswith(f"2:{column}: ")


def test_columns_count_characters_not_bytes() -> None:
    (error,) = parse('m{a="ünïcödé",b=x} 1').errors
    assert error.column == 17  # the "x"; in bytes it would be 21


def test_duplicate_series_keeps_the_first() -> None:
    result = parse('m{a="1"} 1\nm{a="1"} 2\nm{a="1"} 3 1000\n')
    assert result.samples == [sample("m", 1, a="1"), sample("m", 3, 1000, a="1")]
    assert [(e.line, e.column) for e in result.errors] == [(2, 1)]
    assert "duplicate sample" in result.errors[0].message


def test_ordinary_comments_are_ignored_in_the_prometheus_format() -> None:
    result = parse("#HELP not a help line\n# HELPER neither\n# m 1\nm 1\n")
    assert result.errors == []
    assert result.families == {}
    assert len(result.samples) == 1


def test_line_that_is_not_utf8_is_reported_and_skipped() -> None:
    result = parse_bytes(b'a 1\nb{x="\xff"} 2\nc 3\n')
    assert [s.labels[0][1] for s in result.samples] == ["a", "c"]
    assert [(e.line, e.column, e.message) for e in result.errors] == [
        (2, 6, "the line is not valid UTF-8")
    ]


# -- OpenMetrics -----------------------------------------------------------------------------

OPENMETRICS = """# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE go_goroutines gauge
go_goroutines 69 1520879607.789
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
# HELP process_cpu_seconds Total user and system CPU time spent in seconds.
process_cpu_seconds_total 4.20072246e+06 # {trace_id="KOO5S4vxi0o"} 0.67
process_cpu_seconds_created 1520872607.123
# TYPE build info
build_info{version="1.2"} 1
# EOF
"""


def test_openmetrics_counters_keep_total_and_created_series() -> None:
    result = parse(OPENMETRICS, "openmetrics")
    assert result.errors == []
    names = [dict(s.labels)["__name__"] for s in result.samples]
    assert names == [
        "acme_http_router_request_seconds_sum",
        "acme_http_router_request_seconds_count",
        "acme_http_router_request_seconds_created",
        "go_goroutines",
        "process_cpu_seconds_total",
        "process_cpu_seconds_created",
        "build_info",
    ]
    assert result.samples[3].timestamp_ms == 1520879607789  # seconds with ms, exactly
    assert result.samples[4].value == 4.20072246e06  # the exemplar is ignored
    assert result.samples[5].value == 1520872607.123
    family = result.families["process_cpu_seconds"]
    assert (family.type, family.unit) == ("counter", "seconds")
    assert family.help == "Total user and system CPU time spent in seconds."


def test_openmetrics_must_end_with_eof() -> None:
    result = parse("a 1\nb 2\n", "openmetrics")
    assert len(result.samples) == 2
    assert [(e.line, e.column) for e in result.errors] == [(3, 1)]
    assert "must end with # EOF" in result.errors[0].message


def test_openmetrics_text_after_eof_is_an_error_and_ignored() -> None:
    result = parse("a 1\n# EOF\nb 2\n", "openmetrics")
    assert [s.labels[0][1] for s in result.samples] == ["a"]
    assert [(e.line, e.message) for e in result.errors] == [(3, "text after # EOF")]


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("", 1, "empty line"),
        ("# a free comment", 1, "OpenMetrics has no comments"),
        ("a  1", 2, "(exactly one)"),
        ("a 1 ", 4, "trailing space"),
        ('a{x = "1"} 1', 4, 'expected "=" after the label name "x"'),
        ("a 1 17", 0, ""),  # a timestamp in seconds is fine
        ("a 1 1e3", 0, ""),
        ("a 1 abc", 5, "is not a timestamp (seconds since the epoch)"),
        ("a 1 NaN", 5, "is not a timestamp"),
        ("a 1 # x", 5, 'expected an exemplar ("# {labels} value")'),
        ('a 1 # {id="x"}', 15, "expected a space and the exemplar value"),
        ('a 1 # {id="x"} 1 2 3', 19, "unexpected text after the exemplar"),
        ("# TYPE a untyped", 10, "unknown metric type"),
        ("# UNIT a_bytes seconds", 16, 'unit "seconds" is not a suffix of the metric name'),
    ],
)
def test_openmetrics_is_strict(line: str, column: int, message: str) -> None:
    result = parse(f"ok 1\n{line}\n# EOF\n", "openmetrics")
    if not message:
        assert result.errors == []
        return
    (error,) = result.errors
    assert (error.line, error.column) == (2, column), error
    assert message in error.message


def test_format_follows_the_content_type() -> None:
    assert format_of("application/openmetrics-text; version=1.0.0; charset=utf-8") == (
        "openmetrics"
    )
    assert format_of("text/plain; version=0.0.4") == "prometheus"
    assert format_of("") == "prometheus"
