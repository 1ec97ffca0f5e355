"""MySQL/MariaDB checks against the machine's real MariaDB (127.0.0.1:3306, root)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pymysql
import pytest

from tests.checks.servers import SilentServer
from tests.conftest import remember_secret
from watchkeeper.checks.interface import Outcome
from watchkeeper.checks.mysql import MysqlCheck, MysqlCheckConfig

DSN = "mysql://root@127.0.0.1:3306/"


def run(**fields: Any) -> Outcome:
    fields.setdefault("dsn", DSN)
    config = MysqlCheckConfig(name="db", type="mysql", **fields)
    return asyncio.run(MysqlCheck().run(config))


def root_sql(sql: str, *args: object) -> None:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args or None)
    finally:
        conn.close()


@pytest.fixture
def monitor() -> Iterator[tuple[str, str]]:
    """A user with a password, made for the test: (user, password)."""
    user = f"wk_{uuid.uuid4().hex[:10]}"
    password = remember_secret(f"pw-{uuid.uuid4().hex}")
    root_sql("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", user, password)
    yield user, password
    root_sql("DROP USER %s@'127.0.0.1'", user)


def test_connects_and_reports_the_server() -> None:
    outcome = run()
    assert outcome.ok and outcome.message.startswith(
        ("connected to MariaDB ", "connected to MySQL")
    )
    assert outcome.response_ms is not None and outcome.response_ms > 0


def test_values_are_compared_as_the_server_writes_them() -> None:
    assert run(query="SELECT 1", expected=1).ok
    assert run(query="SELECT 1.50", expected="1.50").ok
    assert run(query="SELECT NOW()", expected_regex=r"^\d{4}-\d\d-\d\d \d\d:").ok
    outcome = run(query="SELECT COUNT(*) FROM information_schema.schemata", expected_regex=r"^\d+$")
    assert outcome.ok and "query returned " in outcome.message


def test_wrong_value_is_down_with_both_values() -> None:
    outcome = run(query="SELECT 3", expected=1)
    assert (outcome.ok, outcome.message) == (False, "query returned 3, expected 1")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT NULL", "query returned NULL, expected 1"),
        ("SELECT 1 FROM DUAL WHERE 1 = 0", "query returned no rows, expected 1"),
    ],
)
def test_missing_values_are_down(query: str, message: str) -> None:
    outcome = run(query=query, expected="1")
    assert (outcome.ok, outcome.message) == (False, message)


def test_a_failing_query_names_the_server_error() -> None:
    outcome = run(dsn="mysql://root@127.0.0.1:3306/mysql", query="SELECT * FROM no_such_table")
    assert (outcome.ok, outcome.message) == (
        False,
        "query failed: Table 'mysql.no_such_table' doesn't exist",
    )


def test_a_user_with_its_password_signs_in(monitor: tuple[str, str]) -> None:
    user, password = monitor
    assert run(dsn=f"mysql://{user}@127.0.0.1:3306/", password=password, query="SELECT 1").ok
    inline = f"mysql://{user}:{password}@127.0.0.1:3306/"  # the password in the dsn works too
    assert run(dsn=inline, query="SELECT 1").ok


def test_a_wrong_password_is_refused_without_showing_it(monitor: tuple[str, str]) -> None:
    user, _ = monitor
    wrong = remember_secret(f"wrong-{uuid.uuid4().hex}")
    outcome = run(dsn=f"mysql://{user}@127.0.0.1:3306/", password=wrong)
    assert (outcome.ok, outcome.message) == (
        False,
        f"authentication failed: Access denied for user '{user}'@'127.0.0.1' (using password: YES)",
    )


def test_nothing_listening_is_connection_refused(closed_port: int) -> None:
    outcome = run(dsn=f"mysql://root@127.0.0.1:{closed_port}/")
    assert (outcome.ok, outcome.message) == (
        False,
        f"cannot connect to 127.0.0.1:{closed_port}: connection refused",
    )


def test_an_unknown_database_is_named() -> None:
    outcome = run(dsn="mysql://root@127.0.0.1:3306/no_such_db")
    assert (outcome.ok, outcome.message) == (
        False,
        "cannot connect to 127.0.0.1:3306: Unknown database 'no_such_db'",
    )


def test_tls_required_from_a_server_without_tls_is_refused_before_signing_in() -> None:
    outcome = run(tls="require")
    assert (outcome.ok, outcome.message) == (
        False,
        "127.0.0.1:3306 does not offer TLS (tls: require)",
    )
    assert run(tls="prefer").ok  # prefer goes on without TLS, like the mysql client


def test_an_unreadable_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    outcome = run(tls="verify-full", ca_file=str(missing))
    assert (outcome.ok, outcome.message) == (
        False,
        f"cannot load the TLS file {missing}: No such file or directory",
    )


def test_a_run_cut_short_by_the_timeout_closes_its_socket() -> None:
    async def scenario() -> None:
        async with SilentServer() as server:
            config = MysqlCheckConfig(
                name="db", type="mysql", dsn=f"mysql://root@127.0.0.1:{server.port}/"
            )
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):  # what the runner does
                    await MysqlCheck().run(config)
            await asyncio.wait_for(server.closed.wait(), 10)

    asyncio.run(scenario())


def test_a_query_that_outlives_the_timeout_is_stopped_by_the_server() -> None:
    outcome = run(query="SELECT SLEEP(5)", timeout="1s")
    assert (outcome.ok, outcome.message) == (
        False,
        "query failed: Query execution was interrupted (max_statement_time exceeded)",
    )


def test_many_runs_leave_no_connection_open() -> None:
    config = MysqlCheckConfig(name="db", type="mysql", dsn=DSN, query="SELECT 1")
    check = MysqlCheck()
    process = psutil.Process()

    async def runs(count: int) -> None:
        for _ in range(count):
            assert (await check.run(config)).ok

    asyncio.run(runs(5))
    fds = process.num_fds()
    asyncio.run(runs(300))
    assert process.num_fds() <= fds
