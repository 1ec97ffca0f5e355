"""Redis check: connect, optionally run a command and judge its reply.

The ``redis`` package is imported when a Redis check is declared or run, not with the
check registry (≈7 MB of every server's memory otherwise).
"""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from watchkeeper.checks.database import (
    DatabaseCheckConfig,
    Wording,
    judge,
    protect,
    scrub,
    success,
)
from watchkeeper.checks.interface import CheckConfig, Outcome
from watchkeeper.plan.types import Secret

if TYPE_CHECKING:
    from redis.asyncio.connection import Connection, ConnectKwargs
    from redis.exceptions import RedisError

WORDS = Wording(query="command", null="nil", empty="an empty reply")


class RedisCheckConfig(DatabaseCheckConfig):
    type: Literal["redis"] = Field(description="`redis`.")
    dsn: Secret = Field(
        min_length=1,
        description="`redis://[user@]host:6379/0`, `rediss://…` for TLS, or "
        "`unix:///path/redis.sock`. Put the password in `password`, not here, when you can.",
    )
    query: str | None = Field(
        None,
        min_length=1,
        description="Command to run once connected, with shell-style quoting: `PING`, "
        "`GET health:last_ok`, `LLEN queue:jobs`. An array reply is judged by its first "
        "element.",
    )
    tls_verify: bool = Field(
        True, description="With `rediss://`: verify the server's chain and host name."
    )

    @field_validator("dsn")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        from redis.asyncio.connection import parse_url

        try:
            parse_url(value)
        except ValueError:
            raise PydanticCustomError(
                "dsn", "not a Redis URL (use redis://, rediss:// or unix://)"
            ) from None
        return value

    @field_validator("query")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                words = shlex.split(value)
            except ValueError as exc:
                raise PydanticCustomError(
                    "command", "not a command: {reason}", {"reason": str(exc).lower()}
                ) from None
            if not words:
                raise PydanticCustomError("command", "name a command, e.g. PING")
        return value

    @field_validator("ca_file", "cert_file", "key_file", "tls_verify")
    @classmethod
    def _tls_needs_rediss(cls, value: str | bool | None, info: ValidationInfo) -> Any:
        dsn = info.data.get("dsn")
        if value not in (None, True) and dsn is not None and not dsn.startswith("rediss://"):
            raise PydanticCustomError("tls", "needs a rediss:// dsn (TLS)")
        return value


def _connection(config: RedisCheckConfig, options: ConnectKwargs) -> Connection:
    """Return an unconnected connection for ``options`` (the parsed dsn); the config's
    ``password`` and TLS options win over the dsn's."""
    from redis.asyncio.connection import Connection, SSLConnection

    timeout = config.timeout.total_seconds()
    args: dict[str, Any] = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "protocol": 2,  # RESP2 works with every server version; a dsn may ask for 3
        # No CLIENT SETINFO: it counts as a failed call on servers before 7.2, and working
        # out the library's version costs 2 ms a connection.
        "driver_info": None,
        **options,
    }
    connection_class = args.pop("connection_class", Connection)
    if config.password is not None:
        args["password"] = config.password
    if connection_class is SSLConnection:
        args.update(ssl_ca_certs=config.ca_file, ssl_certfile=config.cert_file)
        args.update(ssl_keyfile=config.key_file)
        if not config.tls_verify:
            args.update(ssl_cert_reqs="none", ssl_check_hostname=False)
    conn: Connection = connection_class(**args)
    return conn


def first_value(reply: Any) -> tuple[bool, str | None]:
    """Return whether ``reply`` holds a value, and its first value as text (None for nil)."""
    if isinstance(reply, dict):  # a RESP3 map: judged like RESP2's flat list of pairs
        reply = [item for pair in reply.items() for item in pair]
    if isinstance(reply, list | tuple | set):
        return first_value(next(iter(reply))) if reply else (False, None)
    if reply is None:
        return True, None
    if isinstance(reply, bytes):
        return True, reply.decode("utf-8", "replace")
    return True, str(reply)


def describe_connect_error(exc: RedisError, where: str) -> str:
    """Return the reason a connection failed, as a person can act on it."""
    from redis.exceptions import AuthenticationError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(exc, AuthenticationError):
        return f"authentication failed: {_text(exc)}"
    if isinstance(exc, RedisTimeoutError):
        return f"cannot connect to {where}: timed out"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionRefusedError):
        return f"cannot connect to {where}: connection refused"
    if isinstance(exc, RedisConnectionError) and isinstance(cause, OSError) and cause.strerror:
        return f"cannot connect to {where}: {cause.strerror}"
    return f"cannot connect to {where}: {_text(exc)}"


def _text(exc: RedisError) -> str:
    return str(exc).rstrip(" .:") or type(exc).__name__


class RedisCheck:
    name = "redis"
    description = "Connect to Redis; optionally run a command and compare its reply."
    config_model: ClassVar[type[CheckConfig]] = RedisCheckConfig

    async def run(self, config: RedisCheckConfig) -> Outcome:
        from redis.asyncio.connection import parse_url
        from redis.exceptions import RedisError

        options = parse_url(config.dsn)
        password = protect(
            config.password if config.password is not None else options.get("password")
        )
        where = (
            options.get("path") or f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
        )
        # One connection per run, not a client with a pool: nothing outlives the run.
        conn = _connection(config, options)
        start = time.perf_counter()
        has_value, value = False, None
        try:  # disconnects on every way out, the runner's cancellation included
            try:
                await conn.connect()  # type: ignore[no-untyped-call]  # unannotated upstream
            except RedisError as exc:
                return Outcome(False, scrub(describe_connect_error(exc, where), password))
            # Without a query, PING: a server that wants a password only says so to a command.
            command = shlex.split(config.query) if config.query is not None else ["PING"]
            try:
                await conn.send_command(*command)
                reply = await conn.read_response()
            except RedisError as exc:
                return Outcome(False, scrub(f"command failed: {_text(exc)}", password))
            if config.query is not None:
                has_value, value = first_value(reply)
        finally:
            await conn.disconnect()
        elapsed = (time.perf_counter() - start) * 1000
        failure = judge(config, has_value, value, WORDS)
        if failure is not None:
            return Outcome(False, failure, elapsed)
        return Outcome(True, success("Redis", config, has_value, value, WORDS), elapsed)
