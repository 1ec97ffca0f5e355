"""Redis checks against the machine's real Redis (127.0.0.1:6379)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import redis

from tests.checks.servers import SilentServer
from tests.conftest import remember_secret
from watchkeeper.checks.interface import Outcome
from watchkeeper.checks.redis import RedisCheck, RedisCheckConfig

DSN = "redis://127.0.0.1:6379/0"


def run(**fields: Any) -> Outcome:
    fields.setdefault("dsn", DSN)
    config = RedisCheckConfig(name="cache", type="redis", **fields)
    return asyncio.run(RedisCheck().run(config))


@pytest.fixture
def server() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379)
    yield client
    client.close()


@pytest.fixture
def key(server: redis.Redis) -> Iterator[str]:
    """A key of the test's own, removed afterwards."""
    name = f"wk-test:{uuid.uuid4().hex}"
    yield name
    server.delete(name)


@pytest.fixture
def acl_user(server: redis.Redis) -> Iterator[tuple[str, str]]:
    """A Redis ACL user with a password, made for the test: (user, password)."""
    user = f"wk-{uuid.uuid4().hex[:10]}"
    password = remember_secret(f"pw-{uuid.uuid4().hex}")
    server.acl_setuser(user, enabled=True, passwords=[f"+{password}"], commands=["+ping"])
    yield user, password
    server.acl_deluser(user)


def test_connects() -> None:
    outcome = run()
    assert (outcome.ok, outcome.message) == (True, "connected to Redis")
    assert outcome.response_ms is not None and outcome.response_ms > 0


def test_ping_returns_pong() -> None:
    outcome = run(query="PING", expected="PONG")
    assert (outcome.ok, outcome.message) == (True, "Redis: command returned PONG")


def test_a_value_is_compared_with_expected(server: redis.Redis, key: str) -> None:
    server.set(key, "42")
    assert run(query=f"GET {key}", expected=42).ok
    outcome = run(query=f"GET {key}", expected=7)
    assert (outcome.ok, outcome.message) == (False, "command returned 42, expected 7")


def test_an_array_reply_is_judged_by_its_first_element(server: redis.Redis, key: str) -> None:
    server.rpush(key, "newest job", "older job")
    assert run(query=f"LRANGE {key} 0 -1", expected="newest job").ok
    assert run(query=f'LPOS {key} "older job"', expected=1).ok  # quoting as in a shell


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("GET {key}", "command returned nil, expected 1"),
        ("LRANGE {key} 0 -1", "command returned an empty reply, expected 1"),
    ],
)
def test_missing_values_are_down(command: str, message: str, key: str) -> None:
    outcome = run(query=command.format(key=key), expected="1")
    assert (outcome.ok, outcome.message) == (False, message)


def test_an_unknown_command_is_named() -> None:
    outcome = run(query="NOSUCHCOMMAND x")
    assert not outcome.ok
    assert outcome.message.startswith("command failed: unknown command 'NOSUCHCOMMAND'")


def test_an_acl_user_signs_in_with_its_password(acl_user: tuple[str, str]) -> None:
    user, password = acl_user
    assert run(dsn=f"redis://{user}@127.0.0.1:6379/0", password=password, query="PING").ok
    assert run(dsn=f"redis://{user}:{password}@127.0.0.1:6379/0", query="PING").ok


def test_a_wrong_password_is_refused_without_showing_it(acl_user: tuple[str, str]) -> None:
    user, _ = acl_user
    wrong = remember_secret(f"wrong-{uuid.uuid4().hex}")
    outcome = run(dsn=f"redis://{user}@127.0.0.1:6379/0", password=wrong)
    assert (outcome.ok, outcome.message) == (
        False,
        "authentication failed: invalid username-password pair or user is disabled",
    )


def test_nothing_listening_is_connection_refused(closed_port: int) -> None:
    outcome = run(dsn=f"redis://127.0.0.1:{closed_port}/0")
    assert (outcome.ok, outcome.message) == (
        False,
        f"cannot connect to 127.0.0.1:{closed_port}: connection refused",
    )


def test_a_database_out_of_range_is_named() -> None:
    outcome = run(dsn="redis://127.0.0.1:6379/999")
    assert (outcome.ok, outcome.message) == (
        False,
        "cannot connect to 127.0.0.1:6379: DB index is out of range",
    )


def test_a_run_cut_short_by_the_timeout_closes_its_socket() -> None:
    async def scenario() -> None:
        async with SilentServer() as silent:
            config = RedisCheckConfig(
                name="cache", type="redis", dsn=f"redis://127.0.0.1:{silent.port}/0", query="PING"
            )
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):  # what the runner does
                    await RedisCheck().run(config)
            await asyncio.wait_for(silent.closed.wait(), 10)

    asyncio.run(scenario())


def test_many_runs_leave_no_connection_open(server: redis.Redis) -> None:
    config = RedisCheckConfig(name="cache", type="redis", dsn=DSN, query="PING")
    check = RedisCheck()
    process = psutil.Process()

    async def runs(count: int) -> None:
        for _ in range(count):
            assert (await check.run(config)).ok

    asyncio.run(runs(5))
    fds = process.num_fds()
    asyncio.run(runs(300))
    assert process.num_fds() <= fds
