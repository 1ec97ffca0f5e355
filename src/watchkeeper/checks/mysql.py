"""MySQL and MariaDB check: connect, optionally run a query and judge its first value."""

from __future__ import annotations

import functools
import os
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import aiomysql
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError
from pymysql.constants import CLIENT
from pymysql.err import MySQLError

from watchkeeper.checks.database import DatabaseCheckConfig, judge, protect, scrub, success
from watchkeeper.checks.interface import CheckConfig, Outcome
from watchkeeper.plan.types import Secret

SCHEMES = ("mysql", "mariadb")
_ACCESS_DENIED = {1044, 1045, 1698}  # to the database; bad password; no password allowed
_MARIADB = re.compile(r"([\d.]+)-MariaDB")


@dataclass(frozen=True)
class Target:
    """Where and as whom to connect, from a ``mysql://user:password@host:port/db`` URL."""

    host: str
    port: int
    user: str
    password: str | None
    database: str | None
    unix_socket: str | None

    @property
    def where(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"


def parse_dsn(dsn: str) -> Target:
    """Return the target of ``dsn``; raise ValueError with the reason it is not one."""
    parts = urlsplit(dsn)
    if parts.scheme not in SCHEMES:
        raise ValueError("must start with mysql:// or mariadb://")
    options = dict(parse_qsl(parts.query))
    unknown = sorted(set(options) - {"unix_socket"})
    if unknown:
        raise ValueError(f'unknown parameter "{unknown[0]}" (supported: unix_socket)')
    if not parts.username:
        raise ValueError("name the user, e.g. mysql://monitor@db.example.com:3306/app")
    try:
        port = parts.port or 3306
    except ValueError:
        raise ValueError("the port is not a number from 1 to 65535") from None
    if not (parts.hostname or options.get("unix_socket")):
        raise ValueError("name the host, or a socket with ?unix_socket=/path")
    return Target(
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password) if parts.password is not None else None,
        database=unquote(parts.path.lstrip("/")) or None,
        unix_socket=options.get("unix_socket"),
    )


class MysqlCheckConfig(DatabaseCheckConfig):
    type: Literal["mysql"] = Field(description="`mysql`.")
    dsn: Secret = Field(
        min_length=1,
        description="`mysql://user@host:3306/dbname` (or `mariadb://`); a socket with "
        "`?unix_socket=/path`. Put the password in `password`, not here, when you can.",
    )
    tls: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "prefer",
        description="TLS mode: `prefer` uses TLS when the server offers it; `require` "
        "refuses to sign in without it; `verify-ca` also checks the chain, `verify-full` "
        "the chain and the host name.",
    )
    query: str | None = Field(
        None,
        min_length=1,
        description="SQL to run once connected (one statement), e.g. `SELECT 1` or "
        "`SELECT COUNT(*) FROM information_schema.processlist`. Autocommit; stopped by the "
        "server after `timeout`.",
    )

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str) -> str:
        try:
            parse_dsn(value)
        except ValueError as exc:
            raise PydanticCustomError("dsn", "{reason}", {"reason": str(exc)}) from None
        return value


class _TlsRequired(Exception):
    """The server offers no TLS, and the check's ``tls`` mode requires it."""


class _Connection(aiomysql.Connection):  # type: ignore[misc]
    """aiomysql goes on without TLS when the server offers none; this refuses to, before
    any credential is sent, when the check's ``tls`` mode requires TLS."""

    def __init__(self, *, require_tls: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._require_tls = require_tls

    async def _request_authentication(self) -> None:
        if self._require_tls and not self.server_capabilities & CLIENT.SSL:
            raise _TlsRequired()
        await super()._request_authentication()


def _tls_context(config: MysqlCheckConfig) -> ssl.SSLContext | None:
    """Return the context for ``config.tls``; raise OSError/SSLError for unreadable files.

    Contexts are shared between runs: loading the system's CAs takes ~20 ms, twenty times
    a whole check. The files' modification times are part of the key, so a renewed
    certificate is picked up at the next run.
    """
    if config.tls == "disable":
        return None
    files = (config.ca_file, config.cert_file, config.key_file)
    stamps = tuple(os.stat(f).st_mtime_ns if f else 0 for f in files)
    return _context(config.tls, files, stamps)


@functools.lru_cache(maxsize=64)
def _context(
    mode: str, files: tuple[str | None, str | None, str | None], _stamps: tuple[int, ...]
) -> ssl.SSLContext:
    ca_file, cert_file, key_file = files
    if mode in ("prefer", "require"):  # encrypted, not verified: no CAs to load
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=ca_file)
        context.check_hostname = mode == "verify-full"
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def describe_connect_error(exc: MySQLError, target: Target) -> str:
    """Return the reason a connection failed, as a person can act on it."""
    cause = exc.__cause__  # aiomysql keeps the socket's reason there
    if isinstance(cause, ConnectionRefusedError):
        return f"cannot connect to {target.where}: connection refused"
    if isinstance(cause, TimeoutError):
        return f"cannot connect to {target.where}: timed out"
    if isinstance(cause, OSError):
        return f"cannot connect to {target.where}: {cause.strerror or cause}"
    code, message = _code_and_message(exc)
    if code in _ACCESS_DENIED:
        return f"authentication failed: {message}"
    return f"cannot connect to {target.where}: {message}"


def _code_and_message(exc: MySQLError) -> tuple[Any, str]:
    if len(exc.args) >= 2:
        return exc.args[0], str(exc.args[1])
    return None, str(exc) or type(exc).__name__


def _server(conn: _Connection) -> str:
    version = str(conn.get_server_info())  # "5.5.5-10.11.19-MariaDB-0+deb12u1", "8.4.3"
    mariadb = _MARIADB.search(version)
    return f"MariaDB {mariadb.group(1)}" if mariadb else f"MySQL {version}"


async def _first_value(conn: _Connection, query: str, timeout: float) -> tuple[bool, str | None]:
    """Run ``query``; return whether it returned a row, and the row's first value as text."""
    async with conn.cursor() as cur:
        # The server stops a query that outlives the check, so a hanging query does not
        # keep a server thread busy after the runner has given up on it.
        if _server(conn).startswith("MariaDB"):
            await cur.execute(f"SET SESSION max_statement_time = {timeout:.3f}")
        else:
            await cur.execute(f"SET SESSION max_execution_time = {timeout * 1000:.0f}")
        await cur.execute(query)
        row = await cur.fetchone()
    if not row:
        return False, None
    first = row[0]
    return True, first.decode("utf-8", "replace") if isinstance(first, bytes) else first


class MysqlCheck:
    name = "mysql"
    description = "Connect to MySQL or MariaDB; optionally run a query and compare its result."
    config_model: ClassVar[type[CheckConfig]] = MysqlCheckConfig

    async def run(self, config: MysqlCheckConfig) -> Outcome:
        target = parse_dsn(config.dsn)
        password = protect(config.password if config.password is not None else target.password)
        try:
            context = _tls_context(config)
        except (OSError, ssl.SSLError) as exc:
            where = f" {exc.filename}" if exc.filename else ""
            return Outcome(False, f"cannot load the TLS file{where}: {exc.strerror or exc}")
        timeout = config.timeout.total_seconds()
        conn = _Connection(
            require_tls=config.tls not in ("disable", "prefer"),
            host=target.host,
            port=target.port,
            unix_socket=target.unix_socket,
            user=target.user,
            password=password or "",
            db=target.database,
            ssl=context,
            connect_timeout=timeout,
            autocommit=True,
            conv={},  # every value as the server's text: the comparison is on text
        )
        start = time.perf_counter()
        has_row, value = False, None
        try:  # closes the socket on every way out, the runner's cancellation included
            try:
                # Not aiomysql.connect(): it closes the socket only on an Exception, so a
                # run cancelled mid-handshake by the runner's timeout would leak it.
                await conn._connect()
            except _TlsRequired:
                return Outcome(False, f"{target.where} does not offer TLS (tls: {config.tls})")
            except MySQLError as exc:
                return Outcome(False, scrub(describe_connect_error(exc, target), password))
            if config.query is not None:
                try:
                    has_row, value = await _first_value(conn, config.query, timeout)
                except MySQLError as exc:
                    reason = _code_and_message(exc)[1]
                    return Outcome(False, scrub(f"query failed: {reason}", password))
        finally:
            conn.close()
        elapsed = (time.perf_counter() - start) * 1000
        failure = judge(config, has_row, value)
        if failure is not None:
            return Outcome(False, failure, elapsed)
        return Outcome(True, success(_server(conn), config, has_row, value), elapsed)
