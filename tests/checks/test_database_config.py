"""Plan errors of the database check types name the field and say what to write."""

from __future__ import annotations

import pytest

from watchkeeper.plan.loader import PlanInvalid, load_plan_text


def problem(check: str) -> str:
    with pytest.raises(PlanInvalid) as info:
        load_plan_text(f"checks:\n  - {{name: a, {check}}}\n")
    [only] = info.value.problems
    return str(only).split(" ", 1)[1]  # without the file:line:column


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            "type: postgres, dsn: 'nonsense'",
            "checks[0].dsn: not a PostgreSQL connection string (use postgresql://user@host:5432"
            '/dbname or host=... dbname=...) (got "nonsense")',
        ),
        (
            "type: mysql, dsn: 'postgresql://u@h/d'",
            'checks[0].dsn: must start with mysql:// or mariadb:// (got "postgresql://u@h/d")',
        ),
        (
            "type: mysql, dsn: 'mysql://h/d'",
            "checks[0].dsn: name the user, e.g. mysql://monitor@db.example.com:3306/app "
            '(got "mysql://h/d")',
        ),
        (
            "type: mysql, dsn: 'mysql://u@h/d?ssl=1'",
            'checks[0].dsn: unknown parameter "ssl" (supported: unix_socket) '
            '(got "mysql://u@h/d?ssl=1")',
        ),
        (
            "type: redis, dsn: 'http://h'",
            'checks[0].dsn: not a Redis URL (use redis://, rediss:// or unix://) (got "http://h")',
        ),
        (
            "type: redis, dsn: 'redis://h', ca_file: /etc/ca.pem",
            'checks[0].ca_file: needs a rediss:// dsn (TLS) (got "/etc/ca.pem")',
        ),
        (
            """type: redis, dsn: 'redis://h', query: 'GET "x'""",
            'checks[0].query: not a command: no closing quotation (got "GET "x")',
        ),
        (
            "type: postgres, dsn: 'postgresql://h', expected: 1",
            "checks[0].expected: needs a `query` whose result it judges (got 1)",
        ),
        (
            "type: mysql, dsn: 'mysql://u@h', query: SELECT 1, expected: true",
            'checks[0].expected: write the value as the server sends it, in quotes (e.g. "t" '
            'for a PostgreSQL boolean, "1" for MySQL)',
        ),
        (
            "type: postgres, dsn: 'postgresql://h', query: SELECT 1, expected: 1, "
            "expected_regex: '1'",
            'checks[0].expected_regex: set `expected` or `expected_regex`, not both (got "1")',
        ),
        (
            "type: postgres, dsn: 'postgresql://h', query: SELECT 1, expected_regex: '(x'",
            'checks[0].expected_regex: "(x" is not a valid regular expression (missing ), '
            "unterminated subpattern at position 0)",
        ),
    ],
)
def test_bad_database_checks_are_explained(check: str, message: str) -> None:
    assert problem(check) == message


def test_a_password_from_the_environment_is_used() -> None:
    plan = load_plan_text(
        "checks:\n  - {name: a, type: postgres, dsn: 'postgresql://app@db/app', "
        "password: '${PG_PASSWORD}'}\n",
        env={"PG_PASSWORD": "from the environment"},
    )
    assert plan.plan.checks[0].model_dump()["password"] == "from the environment"
