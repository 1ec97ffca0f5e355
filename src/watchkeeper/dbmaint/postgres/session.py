"""The health collection's connection to one PostgreSQL database.

Every statement the collector sends goes through :class:`Reader`: it is counted, timed, runs
under the target's ``collect_timeout`` (``statement_timeout``) and a short ``lock_timeout``,
read-only, without JIT (its compile time dwarfs these catalog queries) or parallel workers
(the collection stays one process on a busy server), with enough ``work_mem`` (32MB) for
the catalog joins of 10,000s of relations to stay in memory,
and starts with :data:`MARKER` so that the collector's own statements can be told apart in
``pg_stat_statements`` (and left out of the query report). A statement of an optional part
that fails (a missing privilege, a timeout) becomes a note; a broken connection is a
:class:`~watchkeeper.dbmaint.interface.DbError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, LiteralString

import psycopg
from psycopg import errors, sql
from psycopg.rows import dict_row

from watchkeeper.backups.sources.base import SourceError
from watchkeeper.backups.sources.pgconn import PgTarget
from watchkeeper.dbmaint.config import PostgresDatabase
from watchkeeper.dbmaint.interface import DbError

APPLICATION_NAME = "watchkeeper-dbmaint"
MARKER = "/* watchkeeper-dbmaint */"
"""First words of every statement the collector sends."""
LOCK_TIMEOUT_S = 1.0
"""Longest wait for a lock: measuring sizes opens relations, and a table someone holds
ACCESS EXCLUSIVE must not stall the collection (the sizes then stay those of
``pg_class``)."""

Row = dict[str, Any]
Query = LiteralString | sql.Composed


@dataclass(frozen=True)
class Timing:
    """One statement the collection sent: its name, wall time and rows returned."""

    name: str
    seconds: float
    rows: int
    error: str = ""


def target_of(config: PostgresDatabase) -> PgTarget:
    """Return the connection details of ``config`` (application name ours, unless the URL
    sets one); raise DbError if the URL is not a PostgreSQL connection string."""
    try:
        pg = PgTarget.parse(config.url)
    except SourceError as exc:
        raise DbError(f'database "{config.name}": {exc}') from None
    params = dict(pg.params)
    if params.get("application_name") == "watchkeeper-backup":
        params["application_name"] = APPLICATION_NAME
    return replace(pg, params=params)


@dataclass
class Reader:
    """A connection that runs the collection's statements and keeps account of them."""

    conn: psycopg.AsyncConnection[Row]
    where: str
    timings: list[Timing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    async def open(cls, config: PostgresDatabase) -> Reader:
        """Return a reader on ``config``'s database with the timeouts set; raise DbError if
        the server cannot be reached or refuses the login."""
        pg = target_of(config)
        try:
            conn = await psycopg.AsyncConnection.connect(
                pg.conninfo(),
                password=pg.password,
                autocommit=True,
                connect_timeout=10,
                row_factory=dict_row,
            )
        except psycopg.Error as exc:
            raise DbError(
                f'database "{config.name}": cannot connect to PostgreSQL at '
                f"{pg.where}/{pg.database}: {pg.scrub(str(exc).strip())}"
            ) from None
        reader = cls(conn=conn, where=f'database "{config.name}" ({pg.where}/{pg.database})')
        timeout_ms = max(1, round(config.collect_timeout.total_seconds() * 1000))
        lock_ms = min(timeout_ms, round(LOCK_TIMEOUT_S * 1000))
        try:
            await reader.rows(
                "session",
                "SELECT set_config('statement_timeout', %(st)s, false),"
                " set_config('lock_timeout', %(lt)s, false),"
                " set_config('default_transaction_read_only', 'on', false),"
                " set_config('jit', 'off', false),"
                " set_config('max_parallel_workers_per_gather', '0', false),"
                " set_config('work_mem', '32MB', false)",
                {"st": f"{timeout_ms}ms", "lt": f"{lock_ms}ms"},
            )
        except BaseException:
            await conn.close()
            raise
        return reader

    @property
    def server_version(self) -> int:
        """``server_version_num`` of the server (e.g. 150004), known without a query."""
        return int(self.conn.info.server_version)

    @property
    def queries(self) -> int:
        return len(self.timings)

    async def rows(
        self, name: str, query: Query, params: dict[str, Any] | None = None
    ) -> list[Row]:
        """Return the rows of ``query``; raise DbError naming ``name`` if it fails."""
        try:
            return await self._rows(name, query, params)
        except psycopg.Error as exc:
            raise DbError(f"{self.where}: {name}: {_first_line(exc)}") from None

    async def optional(
        self, name: str, query: Query, params: dict[str, Any] | None = None
    ) -> list[Row] | None:
        """Return the rows of ``query``, or None after noting why it failed (a lock not
        granted, no privilege, timeout, a missing object); raise DbError if the
        connection is lost."""
        try:
            return await self._rows(name, query, params)
        except errors.LockNotAvailable:
            self.notes.append(f"{name}: a lock was not granted within {LOCK_TIMEOUT_S:g} s")
        except errors.QueryCanceled:
            self.notes.append(f"{name}: stopped by the statement timeout (collect_timeout)")
        except errors.InsufficientPrivilege as exc:
            self.notes.append(f"{name}: permission denied ({_first_line(exc)})")
        except psycopg.Error as exc:
            if self.conn.broken or self.conn.closed:
                raise DbError(f"{self.where}: connection lost during {name}") from None
            self.notes.append(f"{name}: {_first_line(exc)}")
        return None

    async def _rows(self, name: str, query: Query, params: dict[str, Any] | None) -> list[Row]:
        started = time.perf_counter()
        error = ""
        result: list[Row] = []
        marked: Query = (
            sql.Composed([sql.SQL(MARKER + " "), query])
            if isinstance(query, sql.Composed)
            else MARKER + " " + query
        )
        try:
            cur = await self.conn.execute(marked, {} if params is None else params)
            result = await cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            error = type(exc).__name__
            raise
        finally:
            self.timings.append(Timing(name, time.perf_counter() - started, len(result), error))
        return result

    async def close(self) -> None:
        await self.conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
