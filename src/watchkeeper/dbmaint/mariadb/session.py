"""A monitoring session on MariaDB or MySQL for the health collection.

One PyMySQL connection (run in a worker thread by the caller), identified to the server as
``program_name=watchkeeper-dbmaint``, with every statement bounded by the target's
``collect_timeout`` (MariaDB ``max_statement_time``, MySQL ``max_execution_time``) and lock
waits by ``lock_wait_timeout``. The session has no default schema, so its own statements
never show up in the target schema's statement digest.

A part of the collection that the server refuses (a missing privilege, a disabled
``performance_schema``, a table this version lacks, a statement timeout) is skipped with a
note (:meth:`Session.optional`); only a lost connection fails the collection.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pymysql
import pymysql.cursors

from watchkeeper.backups.sources.base import SourceError
from watchkeeper.backups.sources.myconn import MyTarget
from watchkeeper.dbmaint.interface import DbError

APPLICATION_NAME = "watchkeeper-dbmaint"
DENIED = {1044, 1142, 1143, 1227, 1370, 1545}  # privilege errors: the part is skipped
TIMED_OUT = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
OPTIONAL_BUDGET = 2
"""Optional parts start only within this many collect_timeouts of the start (the service
gives a whole collection three)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Server:
    """What the server is: ``flavor`` and ``version`` decide the syntax used."""

    flavor: Literal["mariadb", "mysql"]
    version: tuple[int, int, int]
    text: str

    @classmethod
    def parse(cls, text: str) -> Server:
        """Return the server described by ``SELECT VERSION()`` (``10.11.6-MariaDB-0+deb12u1``,
        ``8.0.36``; MariaDB behind a 5.5.5- prefix on old protocols)."""
        match = re.search(r"(\d+)\.(\d+)\.(\d+)", text.removeprefix("5.5.5-"))
        version = (int(match[1]), int(match[2]), int(match[3])) if match else (0, 0, 0)
        return cls("mariadb" if "mariadb" in text.lower() else "mysql", version, text)

    @property
    def mysql8(self) -> bool:
        return self.flavor == "mysql" and self.version >= (8, 0, 0)


@dataclass
class Session:
    """An open monitoring connection; ``notes`` collects the parts that were skipped."""

    target: MyTarget
    timeout_s: float
    server: Server = field(default_factory=lambda: Server("mariadb", (0, 0, 0), ""))
    queries: int = 0
    notes: list[str] = field(default_factory=list)
    _conn: Any = field(default=None, repr=False)
    _until: float = 0.0

    @classmethod
    def for_url(cls, url: str, timeout_s: float) -> Session:
        """Return a (not yet open) session for ``url``; raise DbError if it is unusable."""
        try:
            return cls(MyTarget.parse(url), timeout_s)
        except SourceError as exc:
            raise DbError(str(exc)) from None

    @property
    def where(self) -> str:
        return self.target.where

    def open(self) -> None:
        """Connect, learn the server's version and set the timeouts; raise DbError."""
        t = self.target
        self._until = time.monotonic() + OPTIONAL_BUDGET * self.timeout_s
        try:
            self._conn = pymysql.connect(
                host=t.host,
                port=t.port,
                user=t.user,
                password=t.password or "",
                unix_socket=t.unix_socket,
                autocommit=True,
                connect_timeout=10,
                read_timeout=math.ceil(self.timeout_s) + 10,
                program_name=APPLICATION_NAME,
                cursorclass=pymysql.cursors.DictCursor,
            )
        except pymysql.MySQLError as exc:
            raise DbError(f"cannot connect to MariaDB at {self.where}: {self.scrub(exc)}") from None
        try:
            self.server = Server.parse(str(self.value("SELECT VERSION() AS v")))
            lock_s = max(1, math.ceil(self.timeout_s))
            if self.server.flavor == "mariadb":
                limit = f"max_statement_time = {self.timeout_s:g}"
            else:
                limit = f"max_execution_time = {math.ceil(self.timeout_s * 1000)}"
            self.rows(
                f"SET SESSION {limit}, lock_wait_timeout = {lock_s}, "
                f"innodb_lock_wait_timeout = {lock_s}"
            )
        except pymysql.MySQLError as exc:
            self.close()
            raise DbError(f"MariaDB at {self.where}: {self.scrub(exc)}") from None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except pymysql.MySQLError:  # already gone: nothing to release
                pass
            self._conn = None

    def scrub(self, exc: BaseException) -> str:
        return self.target.scrub(str(exc))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Return the rows of ``sql`` as dicts; raise pymysql.MySQLError as the driver does
        (the caller decides: :meth:`optional` or a failed collection)."""
        self.queries += 1
        with self._conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            return list(cur.fetchall()) if cur.description else []

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Return the first value of the first row of ``sql`` (None when there is none)."""
        rows = self.rows(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def optional(self, part: str, work: Callable[[], T]) -> T | None:
        """Return ``work()``, or None with a note when the server refuses it or the
        collection has run out of time; raise DbError when the connection is lost."""
        if time.monotonic() > self._until:
            self.notes.append(f"{part}: skipped, the collection ran out of time")
            return None
        try:
            return work()
        except pymysql.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            if isinstance(exc, pymysql.err.InterfaceError) or code >= 2000:
                raise DbError(f"MariaDB at {self.where}: {self.scrub(exc)}") from None
            message = exc.args[1] if len(exc.args) > 1 else str(exc)
            if code in DENIED:
                reason = f"not permitted for this user ({message})"
            elif code in TIMED_OUT:
                reason = f"did not finish within the collect_timeout of {self.timeout_s:g}s"
            else:
                reason = str(message)
            self.notes.append(f"{part}: {self.target.scrub(reason)}")
            return None


def placeholders(values: Sequence[Any]) -> str:
    """``%s, %s, ...`` for an ``IN (...)`` of ``values`` (at least one)."""
    return ", ".join(["%s"] * max(1, len(values)))


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
