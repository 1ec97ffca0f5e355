"""PostgreSQL connection details for the command-line tools and for our own queries.

Connection URLs are secrets: the password is taken out of the URL and handed to ``pg_dump``
and ``pg_restore`` through ``PGPASSWORD`` (never in argv, where ``ps`` shows it), and it is
masked in every log line and error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from watchkeeper.backups.sources.base import SCRATCH_PREFIX, SourceError
from watchkeeper.checks.database import protect, scrub

APPLICATION_NAME = "watchkeeper-backup"


@dataclass(frozen=True)
class PgTarget:
    """A server and database, with the password kept apart from the connection string."""

    params: dict[str, Any]
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> PgTarget:
        """Return the target of ``url`` (``postgresql://...`` or ``host=... dbname=...``);
        raise SourceError if it is not a PostgreSQL connection string."""
        url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        try:
            params: dict[str, Any] = conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            raise SourceError(
                "the source url is not a PostgreSQL connection string "
                "(use postgresql://user@host:5432/dbname)"
            ) from None
        password = params.pop("password", None)
        params.setdefault("application_name", APPLICATION_NAME)
        return cls(params=params, password=protect(password))

    @property
    def database(self) -> str:
        return str(self.params.get("dbname") or "postgres")

    @property
    def where(self) -> str:
        host = self.params.get("host") or "localhost"
        return f"{host}:{self.params.get('port') or 5432}"

    def on(self, database: str) -> PgTarget:
        """The same server and user, another database."""
        return replace(self, params={**self.params, "dbname": database})

    def conninfo(self) -> str:
        """The connection string without the password (safe for argv)."""
        return make_conninfo(**self.params)

    def env(self) -> dict[str, str]:
        """Environment for the command-line tools: the password, when there is one."""
        return {"PGPASSWORD": self.password} if self.password else {}

    def scrub(self, message: str) -> str:
        return scrub(message, self.password)

    async def connect(self, *, autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
        """Return an open connection; raise SourceError naming the server if it fails."""
        try:
            return await psycopg.AsyncConnection.connect(
                self.conninfo(), password=self.password, autocommit=autocommit, connect_timeout=10
            )
        except psycopg.Error as exc:
            raise SourceError(
                f"cannot connect to PostgreSQL at {self.where}/{self.database}: "
                f"{self.scrub(str(exc).strip())}"
            ) from None


async def list_databases(target: PgTarget) -> list[str]:
    """Every database that can be dumped: not templates, not drills' scratch databases."""
    conn = await target.connect()
    try:
        cur = await conn.execute(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
            "AND datname NOT LIKE %s ORDER BY datname",
            (SCRATCH_PREFIX + "%",),
        )
        return [str(row[0]) for row in await cur.fetchall()]
    except psycopg.Error as exc:
        raise SourceError(f"cannot list databases on {target.where}: {exc}") from None
    finally:
        await conn.close()


async def table_counts(conn: psycopg.AsyncConnection[Any], largest: int) -> dict[str, int]:
    """Exact row counts of the ``largest`` biggest user tables (by size on disk), keyed
    ``schema.table``. ``reltuples`` is only an estimate, so the rows are counted."""
    if largest <= 0:
        return {}
    cur = await conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%' "
        "ORDER BY pg_total_relation_size(c.oid) DESC, n.nspname, c.relname LIMIT %s",
        (largest,),
    )
    names = [(str(s), str(t)) for s, t in await cur.fetchall()]
    return await count_rows(conn, names)


async def count_rows(
    conn: psycopg.AsyncConnection[Any], names: list[tuple[str, str]]
) -> dict[str, int]:
    """Exact ``count(*)`` of each ``(schema, table)``, keyed ``schema.table``."""
    counts: dict[str, int] = {}
    for schema, table in names:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        cur = await conn.execute(query)
        row = await cur.fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts
