"""MariaDB/MySQL connection details for ``mariadb-dump``/``mariadb`` and our own queries.

The password goes to the tools through ``MYSQL_PWD`` (never argv) and is masked in logs.
Queries run with PyMySQL in a worker thread: they are few and short (listing databases,
counting rows).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pymysql

from watchkeeper.backups.sources.base import SCRATCH_PREFIX, SourceError
from watchkeeper.checks.database import protect, scrub
from watchkeeper.checks.mysql import parse_dsn

SYSTEM_DATABASES = frozenset({"information_schema", "performance_schema", "mysql", "sys"})
T = TypeVar("T")


@dataclass(frozen=True)
class MyTarget:
    host: str
    port: int
    user: str
    database: str | None
    unix_socket: str | None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> MyTarget:
        """Return the target of ``mysql://user:pw@host:3306/db``; raise SourceError if bad."""
        try:
            t = parse_dsn(url)
        except ValueError as exc:
            raise SourceError(f"the source url is not usable: {exc}") from None
        return cls(t.host, t.port, t.user, t.database, t.unix_socket, protect(t.password))

    @property
    def where(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"

    def on(self, database: str) -> MyTarget:
        return replace(self, database=database)

    def client_args(self) -> list[str]:
        """Connection options for ``mariadb``/``mariadb-dump`` (no password)."""
        if self.unix_socket:
            return [f"--socket={self.unix_socket}", f"--user={self.user}"]
        return [f"--host={self.host}", f"--port={self.port}", f"--user={self.user}"]

    def env(self) -> dict[str, str]:
        return {"MYSQL_PWD": self.password} if self.password else {}

    def scrub(self, message: str) -> str:
        return scrub(message, self.password)

    def connect(self) -> Any:
        """Return an open PyMySQL connection (autocommit); raise SourceError if it fails."""
        try:
            return pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password or "",
                database=self.database,
                unix_socket=self.unix_socket,
                autocommit=True,
                connect_timeout=10,
            )
        except pymysql.MySQLError as exc:
            raise SourceError(
                f"cannot connect to MariaDB at {self.where}: {self.scrub(str(exc))}"
            ) from None

    async def run(self, work: Callable[[Any], T]) -> T:
        """Run ``work(connection)`` in a thread; raise SourceError on a database error."""

        def call() -> T:
            conn = self.connect()
            try:
                return work(conn)
            except pymysql.MySQLError as exc:
                raise SourceError(f"MariaDB at {self.where}: {self.scrub(str(exc))}") from None
            finally:
                conn.close()

        return await asyncio.to_thread(call)


def tool(*names: str) -> str:
    """The first of ``names`` found on PATH (``mariadb-dump`` before ``mysqldump``)."""
    for name in names:
        if shutil.which(name):
            return name
    raise SourceError(f"{names[0]} is not installed (nor {', '.join(names[1:])})")


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def list_databases(conn: Any) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        names = [str(row[0]) for row in cur.fetchall()]
    return sorted(
        n for n in names if n not in SYSTEM_DATABASES and not n.startswith(SCRATCH_PREFIX)
    )


def table_counts(conn: Any, database: str, largest: int) -> dict[str, int]:
    """Exact row counts of the ``largest`` biggest tables of ``database`` (by data size)."""
    if largest <= 0:
        return {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' "
            "ORDER BY data_length + index_length DESC, table_name LIMIT %s",
            (database, largest),
        )
        names = [str(row[0]) for row in cur.fetchall()]
        return count_rows(cur, database, names)


def count_rows(cur: Any, database: str, names: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        cur.execute(f"SELECT COUNT(*) FROM {quote(database)}.{quote(name)}")
        row = cur.fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts
