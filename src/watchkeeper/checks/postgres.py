"""PostgreSQL check: connect, optionally run a query and judge its first value."""

from __future__ import annotations

import math
import re
import time
from typing import Any, ClassVar, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from watchkeeper.checks.database import DatabaseCheckConfig, judge, protect, scrub, success
from watchkeeper.checks.interface import CheckConfig, Outcome
from watchkeeper.plan.types import Secret

APPLICATION_NAME = "watchkeeper"
"""Shown in ``pg_stat_activity`` so that a DBA can tell the health check's sessions apart."""

# libpq reports each failed attempt as 'connection to server at "host" (addr), port N failed:
# reason' or 'connection to server on socket "path" failed: reason'.
_ATTEMPT = re.compile(
    r'connection to server (?:at "(?P<host>[^"]*)"(?: \([^)]*\))?, port (?P<port>\d+)'
    r'|on socket "(?P<socket>[^"]*)") failed: (?P<reason>[^\n]*)'
)


class PostgresCheckConfig(DatabaseCheckConfig):
    type: Literal["postgres"] = Field(description="`postgres`.")
    dsn: Secret = Field(
        min_length=1,
        description="Connection string: `postgresql://user@host:5432/dbname?sslmode=require` "
        "or `host=... dbname=...`. Put the password in `password`, not here, when you can.",
    )
    tls: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = (
        Field(
            None,
            description="TLS mode (libpq's `sslmode`); unset keeps the connection string's, "
            "else `prefer`. `verify-full` checks the chain and the host name.",
        )
    )
    query: str | None = Field(
        None,
        min_length=1,
        description="SQL to run once connected (one statement), e.g. `SELECT 1` or "
        "`SELECT count(*) FROM pg_stat_replication`. Autocommit; stopped by the server "
        "after `timeout`.",
    )

    @field_validator("dsn")
    @classmethod
    def _conninfo(cls, value: str) -> str:
        try:
            conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            raise PydanticCustomError(
                "dsn",
                "not a PostgreSQL connection string (use postgresql://user@host:5432/dbname "
                "or host=... dbname=...)",
            ) from None
        return value


def _connect_args(config: PostgresCheckConfig) -> dict[str, Any]:
    """Return keyword arguments for ``connect``; they override the connection string's."""
    params = conninfo_to_dict(config.dsn)
    timeout = config.timeout.total_seconds()
    # The server stops a query that outlives the check, so a hanging query does not keep a
    # backend busy after the runner has given up on it.
    limit = f"-c statement_timeout={max(1, int(timeout * 1000))}"
    extra: dict[str, Any] = {
        "autocommit": True,
        "connect_timeout": max(2, math.ceil(timeout)),  # libpq's minimum is 2 s
        "application_name": params.get("application_name") or APPLICATION_NAME,
        "options": f"{params['options']} {limit}" if params.get("options") else limit,
    }
    if config.password is not None:
        extra["password"] = config.password
    if config.tls is not None:
        extra["sslmode"] = config.tls
    for key, path in (
        ("sslrootcert", config.ca_file),
        ("sslcert", config.cert_file),
        ("sslkey", config.key_file),
    ):
        if path is not None:
            extra[key] = path
    return extra


def _first_line(exc: psycopg.Error) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def describe_connect_error(exc: psycopg.Error) -> str:
    """Return the reason a connection failed, as a person can act on it."""
    attempts = list(_ATTEMPT.finditer(str(exc)))
    if not attempts:
        return _first_line(exc)
    last = attempts[-1]  # with several addresses, the last attempt is the most telling
    reason = last.group("reason").strip().removeprefix("FATAL:").strip()
    if reason == "Connection refused":
        reason = "connection refused"
    where = last.group("socket") or f"{last.group('host')}:{last.group('port')}"
    return f"cannot connect to {where}: {reason}"


def _password(config: PostgresCheckConfig) -> str | None:
    if config.password is not None:
        return config.password
    inline = conninfo_to_dict(config.dsn).get("password")
    return None if inline is None else str(inline)


def _server(conn: psycopg.AsyncConnection[Any]) -> str:
    version = conn.info.server_version  # 150020 for 15.20; 90624 for 9.6.24
    if version >= 100000:
        return f"PostgreSQL {version // 10000}.{version % 10000}"
    return f"PostgreSQL {version // 10000}.{version // 100 % 100}.{version % 100}"


class PostgresCheck:
    name = "postgres"
    description = "Connect to PostgreSQL; optionally run a query and compare its result."
    config_model: ClassVar[type[CheckConfig]] = PostgresCheckConfig

    async def run(self, config: PostgresCheckConfig) -> Outcome:
        password = protect(_password(config))
        start = time.perf_counter()
        try:
            conn = await psycopg.AsyncConnection.connect(config.dsn, **_connect_args(config))
        except psycopg.Error as exc:
            return Outcome(False, scrub(describe_connect_error(exc), password))
        has_row, value = False, None
        try:
            async with conn:  # closes the connection, also when the runner cancels the run
                server = _server(conn)
                if config.query is not None:
                    cur = await conn.execute(config.query)
                    result = cur.pgresult
                    if result is not None and cur.description and result.ntuples:
                        has_row = True
                        raw = result.get_value(0, 0)  # the server's text form, as psql shows
                        value = None if raw is None else raw.decode(conn.info.encoding, "replace")
        except psycopg.Error as exc:
            reason = exc.diag.message_primary or _first_line(exc)
            return Outcome(False, scrub(f"query failed: {reason}", password))
        elapsed = (time.perf_counter() - start) * 1000
        failure = judge(config, has_row, value)
        if failure is not None:
            return Outcome(False, failure, elapsed)
        return Outcome(True, success(server, config, has_row, value), elapsed)
