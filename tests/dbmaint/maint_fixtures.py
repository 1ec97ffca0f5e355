"""Fixtures and helpers of the maintenance tests: throw-away PostgreSQL and MariaDB
databases on the machine's servers, and the churn that makes work for maintenance."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_url(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


def pg(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run ``statements`` (autocommit) and return the last one's rows. The session's
    statistics are flushed after each statement (they are otherwise sent at most once a
    second, and a late flush of INSERT counts after an ANALYZE would double the live rows),
    so other sessions see its dead tuples at once."""
    found: list[tuple[Any, ...]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            cur = conn.execute(statement)  # type: ignore[arg-type,unused-ignore]
            found = list(cur.fetchall()) if cur.description else []
            conn.execute("SELECT pg_stat_force_next_flush()")
    return found


def pg_one(url: str, statement: str) -> Any:
    return pg(url, statement)[0][0]


def dead_tuples(url: str, table: str) -> int:
    return int(pg_one(url, f"SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = '{table}'"))


def churned(url: str, table: str, rows: int, updated_every: int = 1) -> None:
    """Create ``table`` (autovacuum off) with ``rows`` rows and update every
    ``updated_every``-th row once: that many dead tuples."""
    pg(
        url,
        f"CREATE TABLE {table} (id int PRIMARY KEY, v int, pad text) "
        "WITH (autovacuum_enabled = false)",
        f"INSERT INTO {table} SELECT g, g, repeat('x', 80) FROM generate_series(1, {rows}) g",
        f"ANALYZE {table}",
        f"UPDATE {table} SET v = v + 1 WHERE id % {updated_every} = 0",
    )


@pytest.fixture
def maint_pg() -> Iterator[str]:
    """A throw-away PostgreSQL database with pgstattuple; yields its URL."""
    name = f"wk_maint_{uuid.uuid4().hex[:10]}"
    pg(PG_ADMIN, f'CREATE DATABASE "{name}"')
    try:
        pg(pg_url(name), "CREATE EXTENSION pgstattuple")
        yield pg_url(name)
    finally:
        pg(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def my_connect(database: str | None = None) -> Any:
    return pymysql.connect(
        host="127.0.0.1", port=3306, user="root", database=database, autocommit=True
    )


def my(database: str | None, *statements: str) -> list[tuple[Any, ...]]:
    """Run ``statements`` and return the last one's rows."""
    conn = my_connect(database)
    found: list[tuple[Any, ...]] = []
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                found = list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()
    return found


@pytest.fixture
def maint_my() -> Iterator[str]:
    """A throw-away MariaDB database; yields its name."""
    name = f"wk_maint_{uuid.uuid4().hex[:10]}"
    my(None, f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        my(None, f"DROP DATABASE IF EXISTS `{name}`")
