"""``watchkeeper rules test``: promtool's series notation, rule semantics over time, what a
failure explains, bad files with file:line, and the command's exit codes."""

from __future__ import annotations

import math
from pathlib import Path
from textwrap import dedent

import pytest
from typer.testing import CliRunner

from watchkeeper.alerts.unittest import (
    FileResult,
    NotationError,
    RuleTestInvalid,
    expand_values,
    parse_series,
    run_rule_test_file,
)
from watchkeeper.cli import app
from watchkeeper.metrics.labels import is_stale

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()

PLAN = """\
alerts:
  rules:
    - name: ApiDown
      expr: up == 0
      for: 2m
      severity: critical
      annotations:
        summary: "{{ $labels.instance }} is down"
    - name: Flapping
      expr: flap > 0
      keep_firing_for: 3m
    - name: NoDatabase
      absent: up{job="db"}
      for: 1m
    - name: Region
      expr: up == 0
      annotations:
        where: "{{ $externalLabels.region }} {{ $externalURL }}/alerts"
    - name: CheckDown
      check: api
checks:
  - name: api
    type: tcp
    host: 127.0.0.1
    port: 9
"""

API_DOWN = """\
rule_files: [plan.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="api", instance="a:80"}'
        values: '1 1 0 0 0 0 1'
    alert_rule_test:
{cases}
"""


def write(tmp_path: Path, tests: str, plan: str = PLAN) -> Path:
    (tmp_path / "plan.yaml").write_text(plan, encoding="utf-8")
    path = tmp_path / "test.yaml"
    path.write_text(dedent(tests), encoding="utf-8")
    return path


def run_file(tmp_path: Path, tests: str, plan: str = PLAN) -> FileResult:
    return run_rule_test_file(write(tmp_path, tests, plan), env={})


def statuses(result: FileResult) -> list[tuple[str, str]]:
    return [(o.title, o.status) for g in result.groups for o in g.outcomes]


def api_down_at(minute: str, alerts: str = "[]") -> str:
    case = f"""\
      - eval_time: {minute}
        alertname: ApiDown
        exp_alerts: {alerts}"""
    return API_DOWN.replace("{cases}", case)


FIRING = (
    '[{exp_labels: {severity: critical, job: api, instance: "a:80"}, '
    'exp_annotations: {summary: "a:80 is down"}}]'
)


# -- promtool's expanding notation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("1 2 3", [1, 2, 3]),
        ("1+2x3", [1, 3, 5, 7]),
        ("-2+4x3", [-2, 2, 6, 10]),
        ("1-2x4", [1, -1, -3, -5, -7]),
        ("1x3", [1, 1, 1, 1]),
        ("1x0", [1]),
        ("0.5+0.25x2", [0.5, 0.75, 1.0]),
        ("1e3x1 -1.5", [1000, 1000, -1.5]),
        ("_", [None]),
        ("1 _x3 2", [1, None, None, None, 2]),
        ("  1   _  ", [1, None]),
        ("", []),
    ],
)
def test_expanding_notation(values: str, expected: list[float | None]) -> None:
    assert expand_values(values) == expected


def test_stale_inf_and_nan_values() -> None:
    got = expand_values("stale Inf -Inf NaN")
    assert got[0] is not None and is_stale(got[0])
    assert got[1:3] == [math.inf, -math.inf]
    assert got[3] is not None and math.isnan(got[3]) and not is_stale(got[3])


@pytest.mark.parametrize(
    ("values", "position", "message"),
    [
        ("1+x3", 1, '"1+x3" is not a value'),
        ("1 2 abc", 5, '"abc" is not a value'),
        ("1 1+2", 3, '"1+2" is not a value'),
        ("_+1x3", 1, "a missing sample cannot be incremented"),
        ("0 stale+1x2", 3, "a stale marker cannot be incremented"),
        ("{{schema:0 sum:1}}", 1, "native histogram samples are not supported"),
        ("1x2000000", 1, "longer than 1,000,000 samples"),
    ],
)
def test_bad_notation_names_the_position(values: str, position: int, message: str) -> None:
    with pytest.raises(NotationError) as info:
        expand_values(values)
    assert info.value.position == position
    assert message in info.value.message


def test_series_labels() -> None:
    assert parse_series('up{job="api", instance="a:80"}') == (
        ("__name__", "up"),
        ("instance", "a:80"),
        ("job", "api"),
    )
    assert parse_series('{__name__="up"}') == (("__name__", "up"),)
    assert parse_series("{}") == ()


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ('up{job=~"a.*"}', 'a series has values, not matchers ("=~")'),
        ('up{job="a", job="b"}', "label job is set twice"),
        ("up[5m]", "not a series"),
        ('up{job="a"', "unexpected end of input"),
    ],
)
def test_bad_series(series: str, message: str) -> None:
    with pytest.raises(NotationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_series(series)


# -- rule semantics over time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minute", "alerts"),
    [
        ("1m", "[]"),  # up
        ("2m", "[]"),  # down: pending
        ("3m", "[]"),  # still pending
        ("4m", FIRING),  # down for 2m: fires
        ("5m", FIRING),
        ("5m59s", FIRING),  # checked against the evaluation at 5m
        ("6m", "[]"),  # up again: resolved
    ],
)
def test_pending_then_firing_with_for(tmp_path: Path, minute: str, alerts: str) -> None:
    result = run_file(tmp_path, api_down_at(minute, alerts))
    assert statuses(result) == [(f"alertname: ApiDown, time: {minute}", "pass")]


def test_keep_firing_for_holds_a_resolved_condition(tmp_path: Path) -> None:
    fires = "[{exp_labels: {severity: warning}}]"
    expected = [(0, fires), (1, fires), (3, fires), (4, "[]"), (5, fires), (8, fires), (9, "[]")]
    cases = "".join(
        f"      - {{eval_time: {m}m, alertname: Flapping, exp_alerts: {alerts}}}\n"
        for m, alerts in expected
    )
    tests = (
        "rule_files: [plan.yaml]\n"
        "tests:\n"
        "  - input_series: [{series: flap, values: '1 0 0 0 0 1 0'}]\n"
        "    alert_rule_test:\n" + cases
    )
    result = run_file(tmp_path, tests)
    assert [s for _, s in statuses(result)] == ["pass"] * 7


def test_absent_fires_when_a_series_is_missing_or_stale(tmp_path: Path) -> None:
    tests = """\
    rule_files: [plan.yaml]
    tests:
      - interval: 1m
        input_series:
          - series: 'up{job="db"}'
            values: '1 1 stale'
        alert_rule_test:
          - {eval_time: 2m, alertname: NoDatabase}
          - eval_time: 3m
            alertname: NoDatabase
            exp_alerts: [{exp_labels: {severity: warning, job: db}}]
      - interval: 1m
        alert_rule_test:
          - eval_time: 1m
            alertname: NoDatabase
            exp_alerts: [{exp_labels: {severity: warning, job: db}}]
    """
    result = run_file(tmp_path, tests)
    assert [s for _, s in statuses(result)] == ["pass", "pass", "pass"]


def test_promql_expressions_and_the_alerts_series(tmp_path: Path) -> None:
    tests = """\
    rule_files: [plan.yaml]
    evaluation_interval: 30s
    tests:
      - interval: 1m
        input_series:
          - series: 'up{job="api", instance="a:80"}'
            values: '1 0 0'
          - series: 'up{job="api", instance="b:80"}'
            values: '1 1 1'
        promql_expr_test:
          - expr: sum by (job) (up)
            eval_time: 2m
            exp_samples:
              - {labels: '{job="api"}', value: 1}
          - expr: count(up)
            eval_time: 2m
            exp_samples: [{value: 2}]
          - expr: scalar(sum(up))
            eval_time: 0m
            exp_samples: [{labels: '{}', value: 2}]
          - expr: ALERTS{alertname="ApiDown"}
            eval_time: 2m
            exp_samples:
              - labels: >-
                  ALERTS{alertname="ApiDown", alertstate="pending", severity="critical",
                  job="api", instance="a:80"}
                value: 1
          - expr: up == 5
            eval_time: 1m
            exp_samples: []
    """
    result = run_file(tmp_path, tests)
    assert [s for _, s in statuses(result)] == ["pass"] * 5


def test_blank_lists_and_yaml_scalars_read_as_promtool_reads_them(tmp_path: Path) -> None:
    tests = """\
    rule_files: [plan.yaml]
    tests:
      - input_series:
          - {series: 'up{job="api", instance="a:80", port="80", tls="true"}', values: '0 0 0 0 0 1'}
        alert_rule_test:
          - eval_time: 1m
            alertname: ApiDown
            exp_alerts:
          - eval_time: 4m
            alertname: ApiDown
            exp_alerts:
              - exp_labels: {severity: critical, job: api, instance: "a:80", port: 80, tls: true}
                exp_annotations: {summary: "a:80 is down"}
        promql_expr_test:
          - expr: count(ALERTS{alertname="ApiDown", alertstate="firing"})
            eval_time: 4m
            exp_samples: [{labels: "{}", value: 1}]
          - expr: ALERTS{alertname="ApiDown"}
            eval_time: 5m
            exp_samples:
    """
    assert [s for _, s in statuses(run_file(tmp_path, tests))] == ["pass"] * 4


def test_external_labels_and_url_reach_templates(tmp_path: Path) -> None:
    tests = """\
    rule_files: [plan.yaml]
    tests:
      - interval: 1m
        external_labels: {region: eu-1}
        external_url: https://wk.example
        input_series:
          - {series: 'up{job="api"}', values: '0'}
        alert_rule_test:
          - eval_time: 0m
            alertname: Region
            exp_alerts:
              - exp_labels: {severity: warning, job: api}
                exp_annotations: {where: eu-1 https://wk.example/alerts}
    """
    assert statuses(run_file(tmp_path, tests)) == [("alertname: Region, time: 0s", "pass")]


def test_check_rules_are_skipped_with_a_note(tmp_path: Path) -> None:
    tests = """\
    rule_files: [plan.yaml]
    tests:
      - alert_rule_test:
          - {eval_time: 1m, alertname: CheckDown, exp_alerts: [{exp_labels: {check: api}}]}
    """
    result = run_file(tmp_path, tests)
    (outcome,) = result.groups[0].outcomes
    assert outcome.status == "skip"
    assert "CheckDown" in outcome.lines[0] and "check-state rule" in outcome.lines[0]
    assert not result.failed


# -- failures ----------------------------------------------------------------------------------


def test_a_failed_expectation_shows_expected_and_got(tmp_path: Path) -> None:
    expected = '[{exp_labels: {severity: critical, job: api, instance: "a:80"}}]'
    result = run_file(tmp_path, api_down_at("3m", expected))
    assert result.failed
    (outcome,) = result.groups[0].outcomes
    assert outcome.status == "fail"
    assert list(outcome.lines) == [
        "exp:",
        '  - {alertname="ApiDown", instance="a:80", job="api", severity="critical"} annotations {}',
        "got: (none)",
        "pending (not firing yet, since 2m): "
        '{alertname="ApiDown", instance="a:80", job="api", severity="critical"}',
    ]


def test_a_wrong_annotation_marks_both_sides(tmp_path: Path) -> None:
    wrong = '[{exp_labels: {severity: critical, job: api, instance: "a:80"}, '
    wrong += "exp_annotations: {summary: wrong}}]"
    (outcome,) = run_file(tmp_path, api_down_at("4m", wrong)).groups[0].outcomes
    assert outcome.lines[1].startswith("  - ") and 'summary="wrong"' in outcome.lines[1]
    assert outcome.lines[3].startswith("  + ") and 'summary="a:80 is down"' in outcome.lines[3]


def test_an_unknown_alertname_is_compared_with_no_alerts(tmp_path: Path) -> None:
    case = "      - {eval_time: 1m, alertname: Nope, exp_alerts: [{exp_labels: {a: b}}]}"
    tests = API_DOWN.replace("{cases}", case)
    (outcome,) = run_file(tmp_path, tests).groups[0].outcomes
    assert outcome.status == "fail"
    assert outcome.lines[-1] == 'note: no PromQL rule named "Nope" in the rule files'


def test_a_failing_rule_stops_its_group(tmp_path: Path) -> None:
    plan = """\
    alerts:
      rules:
        - name: Clash
          expr: up + on(job) up
    """
    tests = """\
    rule_files: [plan.yaml]
    tests:
      - input_series:
          - {series: 'up{job="a", instance="1"}', values: '1'}
          - {series: 'up{job="a", instance="2"}', values: '1'}
        alert_rule_test:
          - {eval_time: 2m, alertname: Clash}
    """
    result = run_file(tmp_path, tests, dedent(plan))
    (outcome,) = result.groups[0].outcomes
    assert outcome.title == "rule: Clash, time: 0s"
    assert outcome.status == "fail" and outcome.lines[0].startswith("error: ")


# -- bad files ---------------------------------------------------------------------------------


def problems_of(tmp_path: Path, tests: str, plan: str = PLAN) -> list[str]:
    with pytest.raises(RuleTestInvalid) as info:
        run_file(tmp_path, tests, plan)
    return [str(p) for p in info.value.problems]


def test_a_bad_values_notation_is_reported_with_file_line_and_series(tmp_path: Path) -> None:
    tests = """\
    rule_files: [plan.yaml]
    tests:
      - input_series:
          - series: 'up{job="api"}'
            values: '1 1+x3 0'
    """
    file = tmp_path / "test.yaml"
    assert problems_of(tmp_path, tests) == [
        f'{file}:5:17 tests[0].input_series[0].values: series up{{job="api"}}: '
        '"1+x3" is not a value (use a number, "_", "stale", "a+bxn", "a-bxn" or "axn") '
        '(at character 3) (got "1 1+x3 0")'
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    tests = """\
    rule_files: [plan.yaml, missing.yaml]
    evaluation_interval: 0s
    tests:
      - interval: 1m
        input_series:
          - {series: 'up{job=~"api"}', values: '1'}
        alert_rule_test:
          - {eval_time: 5x, alertnam: ApiDown}
        promql_expr_test:
          - {expr: 'up ==', eval_time: 1m}
    """
    file = tmp_path / "test.yaml"
    problems = problems_of(tmp_path, tests)
    assert problems[:-1] == [
        f"{file}:1:25 rule_files[1]: no file {tmp_path / 'missing.yaml'}",
        f'{file}:2:22 evaluation_interval: must be longer than 0s (got "0s")',
        f"{file}:6:18 tests[0].input_series[0].series: label job: a series has values, not "
        'matchers ("=~") (at character 1) (got "up{job=~"api"}")',
        f"{file}:8:9 tests[0].alert_rule_test[0].alertname: is required",
        f'{file}:8:21 tests[0].alert_rule_test[0].eval_time: "5x" is not a duration '
        "(use 30s, 5m, 2h)",
        f"{file}:8:25 tests[0].alert_rule_test[0].alertnam: unknown key "
        '(did you mean "alertname"?)',
    ]
    assert problems[-1].startswith(f"{file}:10:16 tests[0].promql_expr_test[0].expr: ")
    assert problems[-1].endswith('1:6: parse error: unexpected end of input (got "up ==")')


def test_a_bad_plan_file_is_reported_with_its_own_file_line(tmp_path: Path) -> None:
    plan = "alerts:\n  rules:\n    - name: X\n      expr: up ==\n"
    (problem,) = problems_of(tmp_path, "rule_files: [plan.yaml]\n", plan)
    assert problem.startswith(f"{tmp_path / 'plan.yaml'}:4:13 alerts.rules[0].expr: ")
    assert problem.endswith('1:6: parse error: unexpected end of input (got "up ==")')


def test_a_yaml_syntax_error_is_reported_with_file_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "tests: [\n")
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'test.yaml'}:2:1 YAML syntax error")


def test_rule_files_are_globbed_relative_to_the_test_file(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yaml").write_text(PLAN, encoding="utf-8")
    tests = api_down_at("4m", FIRING).replace("[plan.yaml]", "['rules/*.yaml']")
    result = run_file(tmp_path, tests)
    assert [s for _, s in statuses(result)] == ["pass"]
    no_match = tests.replace("rules/*.yaml", "nothing/*.yaml")
    assert problems_of(tmp_path, no_match) == [
        f"{tmp_path / 'test.yaml'}:1:14 rule_files[0]: no file matches "
        f"{tmp_path / 'nothing' / '*.yaml'}"
    ]


# -- the command -------------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["rules", "test", *args], env={"COLUMNS": "1000"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_the_example_rule_tests_pass() -> None:
    code, stdout, _ = invoke(str(EXAMPLES / "rules_test.yaml"))
    assert code == 0, stdout
    assert stdout.startswith(f"Unit testing: {EXAMPLES / 'rules_test.yaml'}\n")
    assert "FAIL" not in stdout
    assert stdout.count("PASS") == 4


def test_the_command_exits_1_on_a_failure_and_explains_it(tmp_path: Path) -> None:
    passing = write(tmp_path, api_down_at("4m", FIRING))
    failing = tmp_path / "failing.yaml"
    failing.write_text(api_down_at("3m", FIRING), encoding="utf-8")
    code, stdout, _ = invoke(str(passing), str(failing))
    assert code == 1
    assert "  PASS tests[0] (1 passed)" in stdout
    assert "  FAIL tests[0] (1 failed)" in stdout
    assert "    alertname: ApiDown, time: 3m\n      exp:\n        - {alertname=" in stdout
    assert "      got: (none)\n" in stdout


def test_the_command_exits_2_on_a_bad_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "tests:\n  - input_series: [{series: up, values: '1+x3'}]\n")
    failing = tmp_path / "failing.yaml"
    failing.write_text(api_down_at("3m", FIRING), encoding="utf-8")
    code, _, stderr = invoke(str(failing), str(bad))
    assert code == 2
    assert f"{bad}:2:41 tests[0].input_series[0].values: series up: " in stderr
    assert f"error: {bad}: 1 problem(s)" in stderr


def test_the_command_needs_a_file() -> None:
    code, _, _ = invoke()
    assert code == 2
