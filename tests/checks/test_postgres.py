"""PostgreSQL checks against the machine's real server (127.0.0.1:5432, trust)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import psutil
import psycopg
import pytest

from tests.checks.servers import SilentServer
from tests.conftest import remember_secret
from watchkeeper.checks.interface import Outcome
from watchkeeper.checks.postgres import PostgresCheck, PostgresCheckConfig

DSN = "postgresql://postgres@127.0.0.1:5432/test"


def run(**fields: Any) -> Outcome:
    fields.setdefault("dsn", DSN)
    config = PostgresCheckConfig(name="pg", type="postgres", **fields)
    return asyncio.run(PostgresCheck().run(config))


def admin_sql(sql: str) -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.encode())


@pytest.fixture
def no_login_role() -> Iterator[str]:
    """A role that exists but may not sign in."""
    role = f"wk_nologin_{uuid.uuid4().hex[:8]}"
    admin_sql(f'CREATE ROLE "{role}" NOLOGIN')
    yield role
    admin_sql(f'DROP ROLE "{role}"')


def test_connects_and_reports_the_server() -> None:
    outcome = run()
    assert outcome.ok and outcome.message.startswith("connected to PostgreSQL ")
    assert outcome.response_ms is not None and outcome.response_ms > 0


def test_query_result_equals_expected() -> None:
    outcome = run(query="SELECT count(*) FROM pg_database WHERE datname = 'test'", expected=1)
    assert outcome.ok, outcome.message
    assert outcome.message.endswith(": query returned 1")


def test_values_are_compared_as_the_server_writes_them() -> None:
    assert run(query="SELECT true", expected="t").ok
    assert run(query="SELECT 1.50::numeric", expected="1.50").ok
    assert run(query="SELECT version()", expected_regex=r"^PostgreSQL \d+").ok


def test_wrong_value_is_down_with_both_values() -> None:
    outcome = run(query="SELECT 3", expected=1)
    assert (outcome.ok, outcome.message) == (False, "query returned 3, expected 1")
    assert outcome.response_ms is not None  # the server answered: its speed is known


@pytest.mark.parametrize(
    ("query", "fields", "message"),
    [
        ("SELECT NULL", {"expected": "1"}, "query returned NULL, expected 1"),
        ("SELECT 1 WHERE false", {"expected": "1"}, "query returned no rows, expected 1"),
        (
            "SELECT 'replica'",
            {"expected_regex": "^primary$"},
            "query returned replica, which does not match expected_regex ^primary$",
        ),
    ],
)
def test_missing_or_unmatched_values_are_down(
    query: str, fields: dict[str, str], message: str
) -> None:
    outcome = run(query=query, **fields)
    assert (outcome.ok, outcome.message) == (False, message)


def test_a_failing_query_names_the_server_error() -> None:
    outcome = run(query="SELECT * FROM no_such_table")
    assert (outcome.ok, outcome.message) == (
        False,
        'query failed: relation "no_such_table" does not exist',
    )


def test_unknown_role_is_refused_and_the_password_stays_out_of_the_message() -> None:
    password = remember_secret(f"pw-{uuid.uuid4().hex}")
    outcome = run(dsn="postgresql://nobody_here@127.0.0.1:5432/test", password=password)
    assert (outcome.ok, outcome.message) == (
        False,
        'cannot connect to 127.0.0.1:5432: role "nobody_here" does not exist',
    )


def test_a_role_without_login_is_refused(no_login_role: str) -> None:
    inline = remember_secret(f"inline-{uuid.uuid4().hex}")
    outcome = run(dsn=f"postgresql://{no_login_role}:{inline}@127.0.0.1:5432/test")
    assert not outcome.ok
    assert outcome.message == (
        f'cannot connect to 127.0.0.1:5432: role "{no_login_role}" is not permitted to log in'
    )


def test_nothing_listening_is_connection_refused(closed_port: int) -> None:
    outcome = run(dsn=f"postgresql://postgres@127.0.0.1:{closed_port}/test")
    assert (outcome.ok, outcome.message) == (
        False,
        f"cannot connect to 127.0.0.1:{closed_port}: connection refused",
    )


def test_tls_required_from_a_server_without_tls_is_down() -> None:
    outcome = run(tls="require")
    assert (outcome.ok, outcome.message) == (
        False,
        "cannot connect to 127.0.0.1:5432: server does not support SSL, but SSL was required",
    )


def test_a_run_cut_short_by_the_timeout_closes_its_socket() -> None:
    async def scenario() -> None:
        async with SilentServer() as server:
            config = PostgresCheckConfig(
                name="pg", type="postgres", dsn=f"postgresql://postgres@127.0.0.1:{server.port}/x"
            )
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):  # what the runner does
                    await PostgresCheck().run(config)
            await asyncio.wait_for(server.closed.wait(), 10)

    asyncio.run(scenario())


def test_a_query_that_outlives_the_timeout_is_stopped_by_the_server() -> None:
    outcome = run(query="SELECT pg_sleep(5)", timeout="1s")
    assert (outcome.ok, outcome.message) == (
        False,
        "query failed: canceling statement due to statement timeout",
    )


def test_many_runs_leave_no_connection_open() -> None:
    app = f"wk-leak-{uuid.uuid4().hex[:8]}"
    config = PostgresCheckConfig(
        name="pg", type="postgres", dsn=f"{DSN}?application_name={app}", query="SELECT 1"
    )
    check = PostgresCheck()
    process = psutil.Process()

    async def runs(count: int) -> None:
        for _ in range(count):
            assert (await check.run(config)).ok

    asyncio.run(runs(5))  # warm up: imports, caches
    fds = process.num_fds()
    asyncio.run(runs(300))
    assert process.num_fds() <= fds
    with psycopg.connect(DSN) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchone()
    assert row == (0,)
