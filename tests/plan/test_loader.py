"""The plan loader: every problem is reported at once as ``file:line:col path: message``."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from watchkeeper.checks.interface import registry as check_registry
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.plan.loader import PlanInvalid, load_plan_file, load_plan_text
from watchkeeper.plan.source import Position, SourceProblem

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "watchkeeper.yaml"
# Every installed check type, in the order the "unknown type" message lists them.
AVAILABLE = ", ".join(check_registry.all())

TCP = """\
checks:
  - name: db
    type: tcp
    host: db.internal
    port: 5432
"""


def problems_of(text: str, **kwargs: object) -> list[SourceProblem]:
    """Return the problems load_plan_text reports for ``text`` (which must be invalid)."""
    kwargs.setdefault("env", {})
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(dedent(text), **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def messages_of(text: str, **kwargs: object) -> list[str]:
    return [str(p) for p in problems_of(text, **kwargs)]


# --- valid plans -------------------------------------------------------------------------


def test_example_plan_loads_with_defaults_from_env() -> None:
    loaded = load_plan_file(EXAMPLE, env={})
    plan = loaded.plan
    assert plan.name == "Example shop — production"
    assert [c.name for c in plan.checks] == [
        "watchkeeper-self",
        "shop-frontend",
        "postgres-primary",
        "nightly-backup",
    ]
    assert [job.job for job in plan.metrics.scrape] == ["watchkeeper"]
    assert plan.checks[1].url == "http://localhost:8080/"  # type: ignore[attr-defined]
    assert loaded.file == str(EXAMPLE)
    assert len(loaded.digest) == 64


def test_example_plan_takes_url_from_env_when_set() -> None:
    loaded = load_plan_file(EXAMPLE, env={"SHOP_URL": "https://staging.example.com/"})
    assert loaded.plan.checks[1].url == "https://staging.example.com/"  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_file_is_an_empty_valid_plan(text: str) -> None:
    plan = load_plan_text(text, env={}).plan
    assert plan.checks == []
    assert plan.name == ""
    assert plan.version == 1


def test_valid_plan_parses_check_fields() -> None:
    plan = load_plan_text(
        dedent(
            """\
            name: prod
            checks:
              - name: web
                type: http
                url: https://example.com/
                interval: 1h30m
                expected_status: [200, 204]
              - name: db
                type: tcp
                host: db.internal
                port: "5432"
            """
        ),
        env={},
    ).plan
    web, db = plan.checks
    assert web.interval.total_seconds() == 5400
    assert web.expected_status == [200, 204]  # type: ignore[attr-defined]
    assert web.timeout.total_seconds() == 10
    assert db.port == 5432  # type: ignore[attr-defined]
    assert db.type == "tcp"


def test_digest_is_sha256_of_the_text() -> None:
    import hashlib

    assert load_plan_text(TCP).digest == hashlib.sha256(TCP.encode()).hexdigest()


# --- one problem per error path -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "name: a\nversion: 1\nname: b\n",
            "watchkeeper.yaml:3:1 name: duplicate key (first set at line 1)",
            id="duplicate-top-level-key",
        ),
        pytest.param(
            TCP + "    host: other\n",
            "watchkeeper.yaml:6:5 checks[0].host: duplicate key (first set at line 4)",
            id="duplicate-nested-key",
        ),
        pytest.param(
            "checks:\n  - {name: a, name: b, type: tcp, host: h, port: 1}\n",
            "watchkeeper.yaml:2:15 checks[0].name: duplicate key (first set at line 2)",
            id="duplicate-key-in-flow-mapping",
        ),
        pytest.param(
            "chekcs: []\n",
            'watchkeeper.yaml:1:1 chekcs: unknown key (did you mean "checks"?)',
            id="unknown-top-level-key-suggests",
        ),
        pytest.param(
            TCP + "    hots: x\n",
            'watchkeeper.yaml:6:5 checks[0].hots: unknown key (did you mean "host"?)',
            id="unknown-check-key-suggests",
        ),
        pytest.param(
            TCP + "    zzzzqq: 1\n",
            "watchkeeper.yaml:6:5 checks[0].zzzzqq: unknown key (allowed: name, description, "
            "type, interval, timeout, retries, recover_after, tags, team, service, runbook, "
            "host, port)",
            id="unknown-key-lists-allowed",
        ),
        pytest.param(
            "checks:\n  - name: a\n    type: tcp\n    port: 1\n",
            "watchkeeper.yaml:2:5 checks[0].host: is required",
            id="missing-required-field",
        ),
        pytest.param(
            "checks:\n  - type: http\n    url: https://example.com/\n",
            "watchkeeper.yaml:2:5 checks[0].name: is required",
            id="missing-name",
        ),
        pytest.param(
            TCP.replace("5432", "abc"),
            "watchkeeper.yaml:5:11 checks[0].port: input should be a valid integer, "
            'unable to parse string as an integer (got "abc")',
            id="wrong-scalar-type",
        ),
        pytest.param(
            TCP + "    retries: [1]\n",
            "watchkeeper.yaml:6:14 checks[0].retries: input should be a valid integer",
            id="list-where-scalar-expected",
        ),
        pytest.param(
            "checks: 5\n",
            "watchkeeper.yaml:1:9 checks: must be a list (got 5)",
            id="scalar-where-list-expected",
        ),
        pytest.param(
            "checks:\n  - 5\n",
            "watchkeeper.yaml:2:5 checks[0]: must be a mapping of keys (got 5)",
            id="scalar-where-object-expected",
        ),
        pytest.param(
            TCP + "    interval: 5x\n",
            'watchkeeper.yaml:6:15 checks[0].interval: "5x" is not a duration (use 30s, 5m, 2h)',
            id="bad-duration",
        ),
        pytest.param(
            TCP + "    timeout: -1s\n",
            'watchkeeper.yaml:6:14 checks[0].timeout: "-1s" is not a duration (use 30s, 5m, 2h)',
            id="negative-duration",
        ),
        pytest.param(
            TCP.replace("5432", "70000"),
            "watchkeeper.yaml:5:11 checks[0].port: input should be less than or equal to "
            "65535 (got 70000)",
            id="port-too-high",
        ),
        pytest.param(
            TCP.replace("5432", "0"),
            "watchkeeper.yaml:5:11 checks[0].port: input should be greater than or equal to "
            "1 (got 0)",
            id="port-too-low",
        ),
        pytest.param(
            TCP + "    retries: 101\n",
            "watchkeeper.yaml:6:14 checks[0].retries: input should be less than or equal to "
            "100 (got 101)",
            id="retries-out-of-range",
        ),
        pytest.param(
            "checks:\n  - name: a\n    type: ftp\n",
            f'watchkeeper.yaml:2:5 checks[0]: unknown type "ftp" (available: {AVAILABLE})',
            id="unknown-check-type",
        ),
        pytest.param(
            "checks:\n  - name: a\n    host: h\n",
            'watchkeeper.yaml:2:5 checks[0]: "type" is required',
            id="missing-type",
        ),
        pytest.param(
            TCP.replace("name: db", "name: -bad name"),
            'watchkeeper.yaml:2:11 checks[0].name: "-bad name" is not a valid name '
            '(letters, digits, "-", "_", "."; starting with a letter or digit; '
            "at most 128 characters)",
            id="invalid-name",
        ),
        pytest.param(
            "checks:\n  - name: a\n    type: http\n    url: ftp://example.com/\n",
            'watchkeeper.yaml:4:10 checks[0].url: "ftp://example.com/" is not an http:// or '
            "https:// URL",
            id="http-url-scheme",
        ),
        pytest.param(
            "checks:\n  - name: a\n    type: http\n    url: https://example.com/\n"
            "    expected_status: [200, 700]\n",
            "watchkeeper.yaml:5:22 checks[0].expected_status: 700 is not an HTTP status code "
            "(100-599)",
            id="http-status-out-of-range",
        ),
        pytest.param(
            "checks:\n  - name: a\n    type: http\n    url: https://example.com/\n"
            "    method: get\n",
            "watchkeeper.yaml:5:13 checks[0].method: input should be 'GET', 'HEAD', 'POST', "
            "'PUT', 'PATCH', 'DELETE' or 'OPTIONS' (got \"get\")",
            id="http-method-literal",
        ),
        pytest.param(
            "version: 2\n",
            "watchkeeper.yaml:1:10 version: input should be 1 (got 2)",
            id="unsupported-version",
        ),
        pytest.param(
            "alerts: 5\n",
            "watchkeeper.yaml:1:9 alerts: must be a mapping of keys (got 5)",
            id="section-not-a-mapping",
        ),
        pytest.param(
            "logs:\n  sources: []\n",
            "watchkeeper.yaml:2:3 logs.sources: unknown key (allowed: syslog, queue, "
            "default_retention, mask, pipelines, retention, forward, files, journald)",
            id="unknown-key-in-empty-section",
        ),
        pytest.param(
            "- a\n- b\n",
            "watchkeeper.yaml:1:1 the plan must be a mapping of sections",
            id="top-level-list",
        ),
        pytest.param(
            "just text\n",
            "watchkeeper.yaml:1:1 the plan must be a mapping of sections",
            id="top-level-scalar",
        ),
        pytest.param(
            "~: 1\n",
            "watchkeeper.yaml:1:1 keys must be plain strings",
            id="null-key",
        ),
        pytest.param(
            "? [a, b]\n: 1\n",
            "watchkeeper.yaml:1:3 keys must be plain strings",
            id="sequence-key",
        ),
        pytest.param(
            TCP.replace("db.internal", "!secret db_host"),
            'watchkeeper.yaml:4:11 checks[0].host: unknown tag "!secret" (supported: !file)',
            id="unknown-tag",
        ),
        pytest.param(
            TCP.replace("db.internal", "!file"),
            "watchkeeper.yaml:4:11 checks[0].host: !file needs a path, "
            "e.g. !file /run/secrets/db_password",
            id="file-tag-without-path",
        ),
    ],
)
def test_invalid_plan_reports_one_located_problem(text: str, expected: str) -> None:
    assert messages_of(text) == [expected]


def test_unknown_key_suggests_closest_name() -> None:
    (problem,) = problems_of("notifcations: {}\n")
    assert problem.path == "notifcations"
    assert problem.message == 'unknown key (did you mean "notifications"?)'


def test_unknown_key_position_is_the_key_not_the_value() -> None:
    (problem,) = problems_of(TCP + "    colour:\n      - red\n")
    assert problem.position == Position(6, 5)


def test_duplicate_object_names_point_at_the_second_name() -> None:
    text = TCP + "  - name: db\n    type: tcp\n    host: other\n    port: 5433\n"
    (problem,) = problems_of(text)
    assert problem.position == Position(6, 11)
    assert problem.path == "checks[1].name"
    assert problem.message == '"db" is already used by checks[0]'


def test_duplicate_names_across_check_types_are_reported() -> None:
    text = dedent(
        """\
        checks:
          - name: a
            type: http
            url: https://example.com/
          - name: b
            type: tcp
            host: h
            port: 1
          - name: a
            type: tcp
            host: h
            port: 2
        """
    )
    assert messages_of(text) == [
        'watchkeeper.yaml:9:11 checks[2].name: "a" is already used by checks[0]'
    ]


def test_yaml_syntax_error_has_line_and_no_path() -> None:
    (problem,) = problems_of("checks:\n  - name: a\n    type: [http\n")
    assert problem.position is not None
    assert problem.position.line == 4
    assert problem.path == ""
    assert problem.message.startswith("YAML syntax error: ")
    assert "flow sequence" in problem.message
    assert str(problem).startswith("watchkeeper.yaml:4:1 YAML syntax error: ")


def test_yaml_syntax_error_from_tab_indent_is_located() -> None:
    (problem,) = problems_of("checks:\n\t- name: a\n")
    assert problem.position == Position(2, 1)
    assert "YAML syntax error" in problem.message
    assert "'\\t'" in problem.message


def test_second_yaml_document_is_a_syntax_error() -> None:
    (problem,) = problems_of("name: a\n---\nname: b\n")
    assert problem.position is not None and problem.position.line == 2
    assert "expected a single document" in problem.message


def test_file_name_is_used_in_every_problem() -> None:
    messages = messages_of("bogus: 1\nchecks: 5\n", file="plans/prod.yaml")
    assert messages
    assert all(m.startswith("plans/prod.yaml:") for m in messages)


# --- several problems at once -------------------------------------------------------------


def test_several_problems_are_reported_at_once_sorted_by_line() -> None:
    text = dedent(
        """\
        checks:
          - name: a
            type: tcp
            host: h
            port: 0
            interval: 5x
          - name: b
            type: ftp
          - name: a
            type: http
            url: https://example.com/
        colour: blue
        """
    )
    assert messages_of(text) == [
        "watchkeeper.yaml:5:11 checks[0].port: input should be greater than or equal to 1 (got 0)",
        'watchkeeper.yaml:6:15 checks[0].interval: "5x" is not a duration (use 30s, 5m, 2h)',
        f'watchkeeper.yaml:7:5 checks[1]: unknown type "ftp" (available: {AVAILABLE})',
        "watchkeeper.yaml:12:1 colour: unknown key (allowed: version, name, checks, metrics, "
        "alerts, notifications, logs, backups, databases, incidents, oncall, security, compliance, "
        "access, releases, capacity, runbooks, errors, tasks)",
    ]


def test_source_and_validation_problems_are_merged_in_line_order() -> None:
    text = "name: ${MISSING}\nbogus: 1\nname: again\n"
    assert messages_of(text) == [
        "watchkeeper.yaml:1:7 name: environment variable MISSING is not set "
        "(set it, or write ${MISSING:-default})",
        'watchkeeper.yaml:2:1 bogus: unknown key (did you mean "logs"?)',
        "watchkeeper.yaml:3:1 name: duplicate key (first set at line 1)",
    ]


def test_plan_invalid_is_a_validation_failure_listing_every_problem() -> None:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text("bogus: 1\nchecks: 5\n")
    exc = info.value
    assert isinstance(exc, ValidationFailed)
    assert len(exc.problems) == 2
    assert exc.errors == [(p.path, p.message) for p in exc.problems]
    assert str(exc) == "\n".join(str(p) for p in exc.problems)


# --- files --------------------------------------------------------------------------------


def test_load_plan_file_reads_and_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "watchkeeper.yaml"
    path.write_text(TCP, encoding="utf-8")
    loaded = load_plan_file(path, env={})
    assert loaded.file == str(path)
    assert [c.name for c in loaded.plan.checks] == ["db"]


def test_load_plan_file_problems_name_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("chekcs: []\n", encoding="utf-8")
    with pytest.raises(PlanInvalid) as info:
        load_plan_file(path, env={})
    assert str(info.value) == f'{path}:1:1 chekcs: unknown key (did you mean "checks"?)'


def test_missing_plan_file_is_plan_invalid(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(PlanInvalid) as info:
        load_plan_file(path, env={})
    (problem,) = info.value.problems
    assert problem == SourceProblem(str(path), None, "", "cannot read: No such file or directory")
    assert str(problem) == f"{path} cannot read: No such file or directory"


def test_directory_as_plan_file_is_plan_invalid(tmp_path: Path) -> None:
    with pytest.raises(PlanInvalid) as info:
        load_plan_file(tmp_path, env={})
    (problem,) = info.value.problems
    assert problem.message.startswith("cannot read: ")
    assert problem.position is None


def test_non_utf8_plan_file_is_plan_invalid(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(PlanInvalid) as info:
        load_plan_file(path, env={})
    (problem,) = info.value.problems
    assert problem.message.startswith("cannot read: ")
    assert "utf-8" in problem.message


# --- environment substitution -------------------------------------------------------------


def test_unset_env_var_is_one_problem_not_also_a_validation_error() -> None:
    text = "checks:\n  - name: web\n    type: http\n    url: ${SHOP_URL}\n"
    assert messages_of(text) == [
        "watchkeeper.yaml:4:10 checks[0].url: environment variable SHOP_URL is not set "
        "(set it, or write ${SHOP_URL:-default})"
    ]


def test_unset_env_var_in_integer_field_is_one_problem() -> None:
    (problem,) = problems_of(TCP.replace("5432", "${DB_PORT}"))
    assert problem.path == "checks[0].port"
    assert "environment variable DB_PORT is not set" in problem.message


def test_unset_env_var_in_check_type_is_one_problem() -> None:
    (problem,) = problems_of(TCP.replace("type: tcp", "type: ${KIND}"))
    assert "environment variable KIND is not set" in problem.message


def test_env_var_is_substituted() -> None:
    plan = load_plan_text(TCP.replace("db.internal", "${DB_HOST}"), env={"DB_HOST": "10.0.0.5"})
    assert plan.plan.checks[0].host == "10.0.0.5"  # type: ignore[attr-defined]


def test_env_var_substitution_inside_a_longer_string() -> None:
    text = "checks:\n  - name: web\n    type: http\n    url: https://${HOST}:${PORT}/health\n"
    plan = load_plan_text(text, env={"HOST": "shop.example.com", "PORT": "8443"}).plan
    assert plan.checks[0].url == "https://shop.example.com:8443/health"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${NAME:-fallback}", {}, "fallback"),
        ("${NAME:-fallback}", {"NAME": "given"}, "given"),
        ("${NAME:-}", {}, ""),
        ("${NAME:-a b-c}", {}, "a b-c"),
        ("pre-${NAME:-x}-post", {}, "pre-x-post"),
        ("$${NAME}", {"NAME": "given"}, "${NAME}"),
        ("cost $$5", {}, "cost $5"),
        ("$$$$", {}, "$$"),
        ("$5 and $HOME", {}, "$5 and $HOME"),
        ("$${NAME:-x} ${NAME:-y}", {}, "${NAME:-x} y"),
    ],
)
def test_env_default_and_dollar_escape(value: str, env: dict[str, str], expected: str) -> None:
    loaded = load_plan_text(f"name: '{value}'\n", env=env)
    assert loaded.plan.name == expected


def test_env_substitution_does_not_apply_to_non_strings() -> None:
    loaded = load_plan_text(TCP + "    retries: 3\n", env={"3": "x"})
    assert loaded.plan.checks[0].retries == 3


def test_every_unset_env_var_is_reported() -> None:
    problems = problems_of(TCP.replace("db.internal", "${A}.${B}"))
    assert [p.message.split(" is not set")[0] for p in problems] == [
        "environment variable A",
        "environment variable B",
    ]
    assert {p.path for p in problems} == {"checks[0].host"}


# --- !file tag ----------------------------------------------------------------------------


def test_file_tag_reads_relative_to_the_plan_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "db_host").write_text("db.from-file\n", encoding="utf-8")
    plan_path = tmp_path / "watchkeeper.yaml"
    plan_path.write_text(TCP.replace("db.internal", "!file secrets/db_host"), encoding="utf-8")
    loaded = load_plan_file(plan_path, env={})
    assert loaded.plan.checks[0].host == "db.from-file"  # type: ignore[attr-defined]


def test_file_tag_reads_relative_to_base_dir_for_text(tmp_path: Path) -> None:
    (tmp_path / "port").write_text("6543\r\n\n", encoding="utf-8")
    loaded = load_plan_text(TCP.replace("5432", "!file port"), base_dir=tmp_path)
    assert loaded.plan.checks[0].port == 6543  # type: ignore[attr-defined]


def test_file_tag_accepts_absolute_path_and_env_in_path(tmp_path: Path) -> None:
    secret = tmp_path / "host.txt"
    secret.write_text("abs.example\n", encoding="utf-8")
    text = TCP.replace("db.internal", "!file ${SECRETS}/host.txt")
    loaded = load_plan_text(text, env={"SECRETS": str(tmp_path)}, base_dir=Path("/nonexistent"))
    assert loaded.plan.checks[0].host == "abs.example"  # type: ignore[attr-defined]


def test_file_tag_keeps_inner_whitespace_and_strips_only_trailing_newlines(
    tmp_path: Path,
) -> None:
    (tmp_path / "desc").write_text("  line one\nline two \n\n", encoding="utf-8")
    loaded = load_plan_text(TCP + "    description: !file desc\n", base_dir=tmp_path)
    assert loaded.plan.checks[0].description == "  line one\nline two "


def test_file_tag_missing_file_is_located_problem(tmp_path: Path) -> None:
    plan_path = tmp_path / "watchkeeper.yaml"
    plan_path.write_text(TCP.replace("db.internal", "!file nothere.txt"), encoding="utf-8")
    with pytest.raises(PlanInvalid) as info:
        load_plan_file(plan_path, env={})
    assert [str(p) for p in info.value.problems] == [
        f"{plan_path}:4:11 checks[0].host: !file {tmp_path / 'nothere.txt'}: "
        "No such file or directory"
    ]


def test_file_tag_pointing_at_a_directory_is_a_problem(tmp_path: Path) -> None:
    (problem,) = problems_of(TCP.replace("db.internal", "!file ."), base_dir=tmp_path)
    assert problem.path == "checks[0].host"
    assert problem.message == f"!file {tmp_path}: Is a directory"


def test_file_tag_with_non_utf8_content_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    (problem,) = problems_of(TCP.replace("db.internal", "!file bin"), base_dir=tmp_path)
    assert problem.path == "checks[0].host"


@pytest.mark.parametrize(
    "text",
    [
        "checks: !secret\n  - name: a\n    type: tcp\n    host: h\n    port: 1\n",
        "alerts: !secret {}\n",
        "checks: !file\n  - name: a\n    type: tcp\n    host: h\n    port: 1\n",
    ],
)
def test_tag_on_a_collection_is_a_problem(text: str) -> None:
    (problem,) = problems_of(text)
    assert "unknown tag" in problem.message or "!file needs a path" in problem.message


# --- source bugs with user-visible effect -------------------------------------------------


@pytest.mark.parametrize("value", [".inf", "1.0e+20", "99999999999999d"])
def test_duration_too_large_is_a_problem_not_a_crash(value: str) -> None:
    (problem,) = problems_of(TCP + f"    interval: {value}\n")
    assert problem.path == "checks[0].interval"


def test_boolean_duration_message_shows_the_boolean() -> None:
    (problem,) = problems_of(TCP + "    interval: true\n")
    assert problem.message.lower().startswith('"true" is not a duration')


def test_boolean_duration_is_rejected() -> None:
    (problem,) = problems_of(TCP + "    interval: true\n")
    assert problem.path == "checks[0].interval"
    assert problem.position == Position(6, 15)
    assert "is not a duration" in problem.message


def test_merge_key_override_is_allowed() -> None:
    text = dedent(
        """\
        checks:
          - &base {name: a, type: tcp, host: h, port: 1}
          - <<: *base
            name: b
        """
    )
    plan = load_plan_text(text, env={}).plan
    assert [c.name for c in plan.checks] == ["a", "b"]


SAMPLE = """\
defaults: &d {interval: 30s, timeout: 5s}
checks:
  - name: web
    type: http
    url: http://127.0.0.1:1/health   # a comment
    <<: *d
    tags: [a, "b c"]
  - {name: db, type: tcp, host: 127.0.0.1, port: 5432, interval: 1m}
notifications:
  channels:
    - name: ops
      type: webhook
      url: >-
        http://127.0.0.1:2/hook
"""


@pytest.mark.parametrize(
    "text", [SAMPLE, SAMPLE.replace("port: 5432", "port: 5432, port: 1"), "a: [1, 2\n"]
)
def test_libyaml_and_pyyaml_give_the_same_values_positions_and_problems(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from watchkeeper.plan.source import parse_plan_text

    fast = parse_plan_text(text)
    monkeypatch.delattr(yaml, "CSafeLoader")
    slow = parse_plan_text(text)
    assert fast.data == slow.data
    assert fast.values == slow.values
    assert fast.keys == slow.keys
    assert fast.problems == slow.problems
