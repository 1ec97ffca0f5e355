"""HTTP check options against a real aiohttp server on loopback: authentication, request
bodies, body and JSON assertions, response time, and the plan errors for bad options."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.checks.http_app import PASSWORD, TOKEN, serve_and_check
from tests.conftest import remember_secret
from watchkeeper.checks.interface import Outcome
from watchkeeper.plan.loader import PlanInvalid, load_plan_text


def check(path: str, **spec: Any) -> Outcome:
    return asyncio.run(serve_and_check(path, spec))


# --- authentication ----------------------------------------------------------------------


def test_basic_auth_is_sent() -> None:
    outcome = check("/basic", basic_auth={"username": "ops", "password": PASSWORD})
    assert outcome.ok and outcome.message == "HTTP 200"


def test_wrong_password_is_a_401_that_does_not_show_the_password() -> None:
    wrong = remember_secret("not-the-basic-pass")
    outcome = check("/basic", basic_auth={"username": "ops", "password": wrong})
    assert not outcome.ok
    assert outcome.message == "HTTP 401 (expected 2xx): the server rejected the credentials"


def test_missing_credentials_are_named() -> None:
    outcome = check("/basic")
    assert not outcome.ok and outcome.message == "HTTP 401 (expected 2xx): credentials needed"


def test_bearer_token_is_sent() -> None:
    assert check("/bearer", bearer_token=TOKEN).ok
    wrong = remember_secret("bearer-token-wrong-1")
    outcome = check("/bearer", bearer_token=wrong)
    assert not outcome.ok and wrong not in outcome.message and "rejected" in outcome.message


def test_a_token_with_a_line_break_is_refused_without_showing_it() -> None:
    token = remember_secret("bearer-token-line\nX-Injected: 1")
    outcome = check("/bearer", bearer_token=token)
    assert not outcome.ok and outcome.message.startswith("cannot send the request: ")
    assert "bearer-token-line" not in outcome.message


# --- request body ------------------------------------------------------------------------


def test_text_body_is_sent_as_is() -> None:
    outcome = check(
        "/echo",
        method="POST",
        headers={"Content-Type": "text/plain"},
        body="ping from watchkeeper",
        json_path=['$.method == "POST"', '$.body == "ping from watchkeeper"'],
    )
    assert outcome.ok, outcome.message


def test_json_body_is_sent_as_json() -> None:
    outcome = check(
        "/echo",
        method="PUT",
        json={"probe": "deep", "depth": 2},
        json_path=[
            '$.content_type == "application/json"',
            '$.json == {"depth": 2, "probe": "deep"}',
        ],
    )
    assert outcome.ok, outcome.message


# --- body assertions ---------------------------------------------------------------------


def test_body_must_not_contain() -> None:
    assert check("/report", body_not_contains="ERROR").ok
    outcome = check("/report", body_not_contains="WARNING")
    assert not outcome.ok and outcome.message == "body contains 'WARNING'"


def test_body_regex() -> None:
    assert check("/report", body_regex=r"queue depth \d{1,2}\b").ok
    outcome = check("/report", body_regex=r"queue depth [0-9]\b")
    assert not outcome.ok
    assert outcome.message == "body does not match body_regex 'queue depth [0-9]\\\\b'"


@pytest.mark.parametrize(
    ("assertions", "failure"),
    [
        (['$.status == "ok"', "$.items[0].count > 3", "$.db.healthy == true"], None),
        (["$.version exists", '$.db["lag ms"] <= 12', "$.items[-1].count == 0"], None),
        (['$.version != "2.4.0"', '$.version >= "2.4"'], None),
        (['$.status == "degraded"'], '$.status is "ok", expected == "degraded"'),
        (["$.items[1].count > 3"], "$.items[1].count is 0, expected > 3"),
        (["$.db.healthy == 1"], "$.db.healthy is true, expected == 1"),
        (["$.uptime exists"], '$.uptime not found: $ has no key "uptime"'),
        (["$.items[2].count > 0"], "$.items[2].count not found: $.items has 2 item(s)"),
        (["$.version > 2"], '$.version is "2.4.1" (a string), cannot compare with > 2'),
        (
            ['$.status == "down"', "$.db.healthy == false"],
            '$.status is "ok", expected == "down"; $.db.healthy is true, expected == false',
        ),
    ],
)
def test_json_path(assertions: list[str], failure: str | None) -> None:
    outcome = check("/health", json_path=assertions)
    assert outcome.ok is (failure is None)
    assert outcome.message == (failure or "HTTP 200")


def test_json_path_on_a_body_that_is_not_json() -> None:
    outcome = check("/report", json_path=["$.status exists"])
    assert not outcome.ok
    assert outcome.message == "body is not JSON (Expecting value at line 1 column 1)"


def test_slower_than_max_response_ms_is_down() -> None:
    outcome = check("/slow?s=0.3", max_response_ms=100)
    assert not outcome.ok and outcome.message.startswith("responded in ")
    assert outcome.message.endswith(" ms, above 100 ms")
    assert outcome.response_ms is not None and outcome.response_ms >= 300
    assert check("/slow?s=0", max_response_ms=60_000).ok


# --- plan errors -------------------------------------------------------------------------


HTTP_CHECK = "checks:\n  - name: api\n    type: http\n    url: https://api.example.org/health\n"


def plan_problems(options: str) -> list[str]:
    """Return the problems of a plan whose one http check has ``options`` (from line 5)."""
    text = HTTP_CHECK + "".join(f"    {line}\n" for line in options.splitlines())
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(text, env={})
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            "body_regex: 'queue (depth'",
            'watchkeeper.yaml:5:17 checks[0].body_regex: "queue (depth" is not a valid regular '
            "expression (missing ), unterminated subpattern at position 6)",
        ),
        (
            "json_path:\n  - $.status exists\n  - $.items[0.count > 3",
            'watchkeeper.yaml:7:9 checks[0].json_path[1]: "$.items[0.count > 3": '
            'expected "]" at character 10',
        ),
        (
            "json_path: [$.status = ok]",
            'watchkeeper.yaml:5:17 checks[0].json_path[0]: "$.status = ok": expected a '
            "comparison (== != < <= > >=) or exists after the path, found '= ok' at character 10",
        ),
        (
            "bearer_token: abc\nbasic_auth: {username: a, password: b}",
            "watchkeeper.yaml:6:17 checks[0].basic_auth: give either basic_auth or "
            "bearer_token, not both",
        ),
        (
            "bearer_token: 12345678\nheaders: {authorization: Basic eDp5}",
            "watchkeeper.yaml:6:14 checks[0].headers: give only one of bearer_token and an "
            "Authorization header",
        ),
        (
            "body: x\njson: {a: 1}",
            "watchkeeper.yaml:6:11 checks[0].json: give either body or json, not both",
        ),
        (
            "client_key: /etc/wk/client.key",
            "watchkeeper.yaml:5:17 checks[0].client_key: needs client_cert (the certificate "
            'this key belongs to) (got "/etc/wk/client.key")',
        ),
        (
            "basic_auth: {username: 'ops:1', password: secret-pass}",
            'watchkeeper.yaml:5:28 checks[0].basic_auth.username: must not contain ":" (it '
            'separates user name and password) (got "ops:1")',
        ),
        (
            "max_response_ms: 0",
            "watchkeeper.yaml:5:22 checks[0].max_response_ms: input should be greater than or "
            "equal to 1 (got 0)",
        ),
    ],
)
def test_bad_options_are_plan_errors_naming_the_field(options: str, problem: str) -> None:
    assert plan_problems(options) == [problem]
