"""Parsing pipelines: automatic JSON/logfmt extraction, every stage, plan order, counting of
dropped lines and unparsable values, and plan errors reported with file:line."""

from __future__ import annotations

import json
from textwrap import dedent

import pytest

from watchkeeper.logs.config import LogsSection
from watchkeeper.logs.extract import LEVELS, normalise_level
from watchkeeper.logs.model import LogLine, make_labels
from watchkeeper.logs.pipeline import Processor
from watchkeeper.logs.timestamps import compile_parser
from watchkeeper.plan.loader import PlanInvalid, load_plan_text
from watchkeeper.telemetry import REGISTRY

RECEIVED = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def line(message: str, **labels: str) -> LogLine:
    return LogLine(RECEIVED, RECEIVED, make_labels(labels), message)


def section(text: str) -> LogsSection:
    """The ``logs`` section of a plan file, read through the real plan loader."""
    return load_plan_text(dedent(text), env={}).plan.logs


def run(text: str, *lines: LogLine, source: str | None = None) -> list[LogLine]:
    return Processor(section(text)).process(list(lines), source)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def errors(pipeline: str, stage: str) -> float:
    return metric("watchkeeper_log_pipeline_errors_total", pipeline=pipeline, stage=stage)


# --- automatic extraction -----------------------------------------------------------------


def test_plain_line_passes_unchanged() -> None:
    original = line("Accepted password for deploy from 10.0.0.1 port 22", app="sshd")
    [out] = Processor(LogsSection()).process([original])
    assert out is original
    assert out.message == "Accepted password for deploy from 10.0.0.1 port 22"
    assert out.fields == {} and out.labels == (("app", "sshd"),)


def test_json_message_becomes_flattened_fields_and_its_msg_the_message() -> None:
    [out] = Processor(LogsSection()).process(
        [
            line(
                '{"msg": "payment done", "level": "WARNING", "user": {"id": 7, "vip": true},'
                ' "tags": ["a", "b"], "trace": null, "took": 1.5}',
                app="shop",
            )
        ]
    )
    assert out.message == "payment done"
    assert out.fields == {
        "level": "WARNING",
        "user.id": "7",
        "user.vip": "true",
        "tags": '["a","b"]',
        "trace": "",
        "took": "1.5",
    }
    assert out.labels == (("app", "shop"), ("level", "warn"))


def test_json_without_message_keeps_the_text_and_uses_severity() -> None:
    text = '{"event": "login", "severity": "err"}'
    [out] = Processor(LogsSection()).process([line(text)])
    assert out.message == text
    assert out.fields == {"event": "login", "severity": "err"}
    assert out.label("level") == "error"


def test_json_level_does_not_override_a_level_label_but_fills_unknown() -> None:
    text = '{"message": "x", "level": "debug"}'
    kept, filled = Processor(LogsSection()).process(
        [line(text, level="error"), line(text, level="unknown")]
    )
    assert kept.label("level") == "error"
    assert filled.label("level") == "debug"


def test_json_fields_are_added_to_a_copy_of_the_receivers_fields() -> None:
    shared = {"host_ip": "10.0.0.9"}
    a = LogLine(RECEIVED, RECEIVED, (), '{"message": "a", "k": "1"}', shared)
    b = LogLine(RECEIVED, RECEIVED, (), "plain", shared)
    Processor(LogsSection()).process([a, b])
    assert a.fields == {"host_ip": "10.0.0.9", "k": "1"}
    assert shared == {"host_ip": "10.0.0.9"}


@pytest.mark.parametrize("text", ["{not json", "{}x", '["a"]', "{", '{"a": 1} trailing'])
def test_text_that_only_looks_like_json_is_kept_as_text(text: str) -> None:
    [out] = Processor(LogsSection()).process([line(text)])
    assert out.message == text
    assert out.fields == {}


def test_logfmt_message_gives_fields_and_level() -> None:
    text = 'ts=2024-05-01T12:00:00Z level=warning msg="disk \\"data\\" almost full" used=91% x='
    [out] = Processor(LogsSection()).process([line(text, app="api")])
    assert out.message == text
    assert out.fields == {
        "ts": "2024-05-01T12:00:00Z",
        "level": "warning",
        "msg": 'disk "data" almost full',
        "used": "91%",
        "x": "",
    }
    assert out.label("level") == "warn"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("user=bob logged in", {"user": "bob"}),
        ("Accepted user=bob", {}),  # must start with key=
        ("= nothing", {}),
        ("GET /?a=b HTTP/1.1", {}),
    ],
)
def test_logfmt_detection_is_cheap_and_ignores_prose(text: str, fields: dict[str, str]) -> None:
    [out] = Processor(LogsSection()).process([line(text)])
    assert out.fields == fields
    assert out.message == text


@pytest.mark.parametrize(
    ("spelling", "level"),
    [
        ("WARNING", "warn"),
        ("Warn", "warn"),
        ("err", "error"),
        ("SEVERE", "error"),
        ("crit", "critical"),
        ("fatal", "critical"),
        ("emerg", "critical"),
        ("information", "info"),
        ("notice", "info"),
        ("TRACE", "trace"),
        ("30", "info"),  # pino
        ("50", "error"),
    ],
)
def test_level_spellings_are_normalised(spelling: str, level: str) -> None:
    assert normalise_level(spelling) == level
    assert level in LEVELS


# --- stages -------------------------------------------------------------------------------

NGINX_RX = (
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) [^"]*" '
    r"(?P<status>\d{3}) (?P<bytes>\d+)"
)
NGINX = f"""\
logs:
  pipelines:
    - name: nginx
      match: '{{app="nginx"}}'
      stages:
        - regex: {{expression: {json.dumps(NGINX_RX)}}}
        - timestamp: {{field: time, format: "%d/%b/%Y:%H:%M:%S %z"}}
        - drop: {{field: path, regex: '^/healthz'}}
        - rename: {{bytes: size}}
        - labels: [method]
"""
ACCESS = '192.0.2.7 - - [10/Oct/2023:13:55:36 +0200] "GET /index.html HTTP/1.1" 200 2326'


def test_nginx_pipeline_parses_times_filters_renames_and_promotes() -> None:
    health = ACCESS.replace("/index.html", "/healthz")
    before = metric("watchkeeper_log_pipeline_dropped_total", pipeline="nginx")
    before_source = metric(
        "watchkeeper_log_lines_total", source="t_nginx", outcome="dropped_pipeline"
    )
    out = run(NGINX, line(ACCESS, app="nginx"), line(health, app="nginx"), source="t_nginx")
    assert len(out) == 1
    [kept] = out
    assert kept.fields == {
        "client": "192.0.2.7",
        "time": "10/Oct/2023:13:55:36 +0200",
        "path": "/index.html",
        "status": "200",
        "size": "2326",
    }
    assert kept.labels == (("app", "nginx"), ("method", "GET"))
    assert kept.ts == 1_696_938_936_000_000_000  # 11:55:36 UTC
    assert kept.received == RECEIVED
    assert metric("watchkeeper_log_pipeline_dropped_total", pipeline="nginx") == before + 1
    after_source = metric(
        "watchkeeper_log_lines_total", source="t_nginx", outcome="dropped_pipeline"
    )
    assert after_source == before_source + 1


def test_pipeline_applies_only_to_matching_streams() -> None:
    [out] = run(NGINX, line(ACCESS, app="apache"))
    assert out.fields == {} and out.ts == RECEIVED


def test_regex_on_a_field_and_no_match_leaves_the_line() -> None:
    text = """\
    logs:
      pipelines:
        - name: rx
          stages:
            - regex: {expression: '^(?P<user>\\w+)@(?P<domain>[\\w.]+)$', source: email}
    """
    a, b = run(text, line('{"message": "m", "email": "bob@example.com"}'), line("no email"))
    assert a.fields == {"email": "bob@example.com", "user": "bob", "domain": "example.com"}
    assert b.fields == {} and b.message == "no email"


def test_json_and_logfmt_stages_parse_fields_and_count_failures() -> None:
    text = """\
    logs:
      pipelines:
        - name: nested
          stages:
            - regex: {expression: 'payload=(?P<payload>\\{.*\\}) kv=(?P<kv>.*)$'}
            - json: payload
            - logfmt: kv
    """
    good = line('got payload={"a": {"b": 1}, "message": "stays"} kv=x=1 y="two words"')
    bad = line("got payload={oops} kv=just words")
    json_before, logfmt_before = errors("nested", "json"), errors("nested", "logfmt")
    a, b = run(text, good, bad)
    assert a.fields["a.b"] == "1"
    assert a.fields["message"] == "stays"  # only JSON of the message replaces the message
    assert a.fields["x"] == "1" and a.fields["y"] == "two words"
    assert b.message == "got payload={oops} kv=just words"
    assert errors("nested", "json") == json_before + 1
    assert errors("nested", "logfmt") == logfmt_before + 1


def test_json_stage_on_the_message_after_automatic_extraction_is_harmless() -> None:
    text = """\
    logs:
      pipelines:
        - name: dup-json
          stages:
            - json: message
            - logfmt: message
    """
    before = errors("dup-json", "json")
    [out] = run(text, line('{"message": "hello", "k": "v"}'))
    assert out.message == "hello" and out.fields == {"k": "v"}
    assert errors("dup-json", "json") == before


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("rfc3339", "2023-11-14T22:13:20Z", RECEIVED),
        ("rfc3339", "2023-11-14T22:13:20.123456789Z", RECEIVED + 123_456_789),
        ("rfc3339", "2023-11-14T23:13:20.5+01:00", RECEIVED + 500_000_000),
        ("rfc3339", "2023-11-14 22:13:20,25", RECEIVED + 250_000_000),
        ("rfc3339", "2023-11-14T22:13:20-0130", RECEIVED + 5400 * 10**9),
        ("unix", "1700000000", RECEIVED),
        ("unix", "1700000000.000000001", RECEIVED + 1),
        ("unix_ms", "1700000000123", RECEIVED + 123_000_000),
        ("unix_us", "1700000000123456", RECEIVED + 123_456_000),
        ("unix_ns", "1700000000000000042", RECEIVED + 42),
        ("%d/%b/%Y:%H:%M:%S %z", "14/Nov/2023:23:13:20 +0100", RECEIVED),
        ("%Y-%m-%d %H:%M:%S.%f", "2023-11-14 22:13:20.000250", RECEIVED + 250_000),
    ],
)
def test_timestamp_formats(fmt: str, value: str, expected: int) -> None:
    assert compile_parser(fmt)(value, RECEIVED) == expected


def test_timestamp_zone_applies_to_times_without_offset() -> None:
    berlin = compile_parser("%Y-%m-%d %H:%M:%S", "Europe/Berlin")
    assert berlin("2023-11-14 23:13:20", RECEIVED) == RECEIVED  # CET, UTC+1
    assert compile_parser("rfc3339", "America/New_York")("2023-07-01T08:00:00", 0) == (
        1_688_212_800 * 10**9  # EDT, UTC-4
    )


def test_timestamp_without_year_takes_the_receive_year() -> None:
    syslog = compile_parser("%b %d %H:%M:%S")
    assert syslog("Nov 14 22:13:20", RECEIVED) == RECEIVED
    # Late December seen in early January belongs to the year before.
    jan_2 = 1_704_153_600 * 10**9  # 2024-01-02T00:00:00Z
    assert syslog("Dec 31 23:00:00", jan_2) == 1_704_063_600 * 10**9


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("rfc3339", "yesterday"),
        ("rfc3339", "2023-13-01T00:00:00Z"),
        ("rfc3339", "2023-02-30T00:00:00Z"),
        ("rfc3339", "2023-11-14T22:13:20+25:00"),
        ("unix", "NaN"),
        ("unix", "-5"),
        ("unix", "1e400"),
        ("unix_ms", "12ab"),
        ("%d/%b/%Y:%H:%M:%S %z", "14/Nov/2023"),
    ],
)
def test_bad_timestamp_keeps_the_receive_time_and_is_counted(fmt: str, value: str) -> None:
    text = f"""\
    logs:
      pipelines:
        - name: ts-bad
          stages:
            - timestamp: {{field: t, format: "{fmt}"}}
    """
    before = errors("ts-bad", "timestamp")
    [out] = run(text, line(f"t={value} message follows"))
    assert out.ts == RECEIVED
    assert out.message == f"t={value} message follows"
    assert errors("ts-bad", "timestamp") == before + 1


def test_java_level_map_sets_the_level_label() -> None:
    text = """\
    logs:
      pipelines:
        - name: java
          match: '{app="billing"}'
          stages:
            - regex: {expression: '^\\S+ \\S+ (?P<severity>[A-Z]+)\\s+\\[(?P<thread>[^\\]]+)\\]'}
            - level: {field: severity, map: {W: warn, E: error, SEVERE: critical}}
    """
    lines = [
        line("2024-05-01 12:00:00,001 E [main] boom", app="billing"),
        line("2024-05-01 12:00:00,002 SEVERE [main] worse", app="billing"),
        line("2024-05-01 12:00:00,003 WARNING [pool-1] slow", app="billing"),
        line("2024-05-01 12:00:00,004 CUSTOM [pool-1] odd", app="billing"),
    ]
    out = run(text, *lines)
    assert [ln.label("level") for ln in out] == ["error", "critical", "warn", "custom"]
    assert out[0].fields["thread"] == "main"


def test_keep_by_value_and_drop_by_message_regex() -> None:
    text = """\
    logs:
      pipelines:
        - name: keep-errors
          stages:
            - keep: {field: status, value: "500"}
        - name: drop-noise
          stages:
            - drop: {regex: 'noise'}
    """
    before = metric("watchkeeper_log_pipeline_dropped_total", pipeline="keep-errors")
    out = run(
        text,
        line("status=500 path=/a"),
        line("status=200 path=/b"),
        line("no status at all"),
        line("status=500 noise"),
    )
    assert [ln.message for ln in out] == ["status=500 path=/a"]
    assert metric("watchkeeper_log_pipeline_dropped_total", pipeline="keep-errors") == before + 2
    assert metric("watchkeeper_log_pipeline_dropped_total", pipeline="drop-noise") >= 1


def test_labels_stage_promotes_resorts_and_later_pipelines_see_the_label() -> None:
    text = """\
    logs:
      pipelines:
        - name: promote
          stages:
            - labels: [tenant, missing]
        - name: per-tenant
          match: '{tenant="acme"}'
          stages:
            - message: text
    """
    [out] = run(text, line('{"tenant": "acme", "text": "hello", "x": "1"}', app="api", zone="a"))
    assert out.labels == (("app", "api"), ("tenant", "acme"), ("zone", "a"))
    assert out.message == "hello"
    assert out.fields == {"x": "1"}


def test_labels_beyond_the_limit_stay_fields_and_are_counted() -> None:
    text = """\
    logs:
      pipelines:
        - name: too-many
          stages:
            - labels: [extra]
    """
    many = {f"l{i:02d}": "v" for i in range(15)}
    before = errors("too-many", "labels")
    [out] = run(text, line("extra=1", **many))
    assert out.fields == {"extra": "1"}
    assert len(out.labels) == 15
    assert errors("too-many", "labels") == before + 1


def test_pipelines_run_in_plan_order() -> None:
    text = """\
    logs:
      pipelines:
        - name: first
          stages:
            - rename: {a: b}
        - name: second
          stages:
            - rename: {b: c}
    """
    [out] = run(text, line("a=1"))
    assert out.fields == {"c": "1"}


def test_mask_stage_with_own_regex_selected_fields_and_builtin_default_text() -> None:
    text = """\
    logs:
      pipelines:
        - name: mask-own
          stages:
            - mask: {pattern: 'sess-[0-9a-f]+', replace: '<session>', fields: [sid]}
            - mask: {pattern: email, fields: ['*']}
    """
    [out] = run(text, line("sid=sess-9f0a other=sess-11 to=ann@example.org note=ann@example.org"))
    assert out.message == "sid=<session> other=<session> to=[email] note=[email]"
    assert out.fields["sid"] == "<session>"
    assert out.fields["other"] == "sess-11"  # not listed: only the message and `sid`
    assert out.fields["to"] == "[email]" and out.fields["note"] == "[email]"


# --- plan errors --------------------------------------------------------------------------


def problems(text: str) -> list[str]:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(dedent(text), env={})
    return [str(p) for p in info.value.problems]


def test_plan_errors_name_file_line_and_path() -> None:
    text = """\
    logs:
      mask: [email, phone]
      pipelines:
        - name: broken
          match: '{app='
          stages:
            - regex:
                expression: '(?P<ip>[0-9.+'
            - json: message
              logfmt: message
            - mask: {pattern: '(unclosed'}
            - timestamp: {field: t, timezone: Mars/Olympus}
    """
    found = problems(text)
    assert len(found) == 6, found
    assert found[0].startswith("watchkeeper.yaml:2:17 logs.mask[1]: ")
    assert "'email', 'card_number', 'iban', 'ipv4', 'bearer_token' or 'password_field'" in found[0]
    assert found[1].startswith("watchkeeper.yaml:5:14 logs.pipelines[0].match: not a stream")
    assert found[2].startswith(
        "watchkeeper.yaml:8:25 logs.pipelines[0].stages[0].regex.expression: "
        '"(?P<ip>[0-9.+" is not a valid regular expression'
    )
    assert found[3] == (
        "watchkeeper.yaml:9:11 logs.pipelines[0].stages[1]: give exactly one of regex, json, "
        "logfmt, timestamp, level, drop, keep, rename, labels, mask, message"
    )
    assert found[4].startswith("watchkeeper.yaml:11:27 logs.pipelines[0].stages[2].mask.pattern:")
    assert found[5].startswith(
        "watchkeeper.yaml:12:43 logs.pipelines[0].stages[3].timestamp.timezone: not a time zone"
    )


def test_filter_needs_exactly_one_test() -> None:
    text = """\
    logs:
      pipelines:
        - name: f
          stages:
            - drop: {field: a, regex: x, value: y}
    """
    [problem] = problems(text)
    assert problem.startswith("watchkeeper.yaml:5:17 logs.pipelines[0].stages[0].drop: ")
    assert "exactly one of `regex` or `value`" in problem


def test_an_unexpected_error_keeps_the_line_masked_and_counts_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = """\
    logs:
      mask: [email]
      pipelines:
        - name: any
          stages:
            - rename: {a: b}
    """
    broken = LogLine(RECEIVED, RECEIVED, (), "mail ann@example.com", None)  # type: ignore[arg-type]
    before = errors("*", "internal")
    out = run(text, broken, line("a=1"))
    assert [ln.message for ln in out] == ["mail [email]", "a=1"]
    assert out[1].fields == {"b": "1"}
    assert errors("*", "internal") == before + 1
    assert "log pipeline failed on a line" in caplog.text
