"""PostgreSQL fixtures of the health-collection tests: a throw-away database with the
problems the collector must find (bloat from churn with autovacuum off, unused, duplicate
and invalid indexes, sequential scans, a slow statement), a blocking lock between two
sessions, a read-only ``pg_monitor`` role. Names are random; everything is dropped."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_url(database: str, user: str = "postgres") -> str:
    return f"postgresql://{user}@127.0.0.1:5432/{database}"


def pg_run(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run ``statements`` (autocommit), flushing the session's statistics after each so
    that other sessions see them at once; return the last one's rows."""
    found: list[tuple[Any, ...]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            found = list(cur.fetchall()) if cur.description else []
            conn.execute("SELECT pg_stat_force_next_flush()")
    return found


@contextmanager
def scratch_database(prefix: str = "wk_pgc_") -> Iterator[str]:
    """A new empty database; yields its URL and drops it (closing its sessions)."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    pg_run(PG_ADMIN, f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        pg_run(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


CHURN_ROWS = 100_000
SLOW_CALLS = 10


def make_bloat(url: str, table: str = "churn") -> None:
    """``table`` (autovacuum off): 100,000 rows of which 90% are deleted and vacuumed away
    (a heap and a primary key index mostly empty: bloat), then every remaining row updated
    once (10,000 dead tuples over 10,000 live ones: it needs VACUUM), then analysed."""
    pg_run(
        url,
        f"CREATE TABLE {table} (id int PRIMARY KEY, val int, pad text)"
        " WITH (autovacuum_enabled = false)",
        f"INSERT INTO {table} SELECT g, g, repeat('x', 100)"
        f" FROM generate_series(1, {CHURN_ROWS}) g",
        f"DELETE FROM {table} WHERE id % 10 <> 0",
        f"VACUUM {table}",
        f"UPDATE {table} SET val = val + 1",
        f"ANALYZE {table}",
    )


def make_problems(url: str, *, extensions: bool = True) -> None:
    """Everything the collection tests look for, in the database at ``url``:

    - ``public.churn``: bloat and dead tuples (:func:`make_bloat`);
    - ``public.orders``: ``orders_note_idx`` never scanned, ``orders_customer_idx`` and
      ``orders_customer_dup`` on the same column, ``orders_lower_note_a``/``_b`` on the
      same expression with different predicates (not duplicates);
    - ``public.dup``: ``dup_v_key``, a unique index left invalid by a failed CREATE INDEX
      CONCURRENTLY over duplicate values;
    - ``public.events``: 5,000 rows without an index, read by 60 sequential scans;
    - a statement taking 150 ms (``pg_sleep``) run ``SLOW_CALLS`` times, seen by
      pg_stat_statements;
    - with ``extensions``: pg_stat_statements and pgstattuple created in the database.
    """
    if extensions:
        pg_run(url, "CREATE EXTENSION pg_stat_statements", "CREATE EXTENSION pgstattuple")
    make_bloat(url)
    pg_run(
        url,
        "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int, note text)",
        "INSERT INTO orders (customer_id, note)"
        " SELECT g % 500, 'note ' || g FROM generate_series(1, 20000) g",
        "CREATE INDEX orders_note_idx ON orders (note)",
        "CREATE INDEX orders_customer_idx ON orders (customer_id)",
        "CREATE INDEX orders_customer_dup ON orders (customer_id)",
        "CREATE INDEX orders_lower_note_a ON orders (lower(note)) WHERE customer_id > 10",
        "CREATE INDEX orders_lower_note_b ON orders (lower(note)) WHERE customer_id > 20",
        "CREATE TABLE dup (v int)",
        "INSERT INTO dup VALUES (1), (1)",
        "CREATE TABLE events (id int, kind text)",
        "INSERT INTO events SELECT g, 'k' || (g % 50) FROM generate_series(1, 5000) g",
        "ANALYZE orders",
        "ANALYZE events",
    )
    with (
        psycopg.connect(url, autocommit=True) as conn,
        suppress(psycopg.errors.UniqueViolation),
    ):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY dup_v_key ON dup (v)")
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(60):
            conn.execute("SELECT count(*) FROM events WHERE kind = 'k7'")
        # ten calls, not one or two: when pg_stat_statements is full (other suites share the
        # server) it evicts its least used entries first
        for _ in range(SLOW_CALLS):
            conn.execute("SELECT pg_sleep(0.15)")
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")


@dataclass(frozen=True)
class Chain:
    blocker_pid: int
    waiter_pid: int


def backend_pid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def blocking_chain(url: str, *, wait_s: float) -> Iterator[Chain]:
    """Two sessions on ``url``: the blocker updated ``orders`` row 1 and stays idle in its
    transaction; the waiter's UPDATE of the same row waits for it. Yields once the waiter
    has waited ``wait_s`` seconds; ends both (the blocker rolls back)."""
    blocker = psycopg.connect(url)
    waiter = psycopg.connect(url, autocommit=True)
    thread: threading.Thread | None = None
    try:
        chain = Chain(backend_pid(blocker), backend_pid(waiter))
        waiter.execute("SET statement_timeout = '120s'")
        blocker.execute("UPDATE orders SET note = note WHERE id = 1")

        def wait() -> None:
            with suppress(psycopg.Error):
                waiter.execute("UPDATE orders SET note = 'waited' WHERE id = 1")

        thread = threading.Thread(target=wait, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = pg_run(
                PG_ADMIN,
                "SELECT extract(epoch FROM now() - query_start) FROM pg_stat_activity"
                f" WHERE pid = {chain.waiter_pid} AND wait_event_type = 'Lock'",
            )
            if rows and float(rows[0][0]) >= wait_s:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the waiting session never waited for the lock")
        yield chain
    finally:
        blocker.rollback()
        blocker.close()
        if thread is not None:
            thread.join(timeout=30)
        waiter.close()


@contextmanager
def monitor_role() -> Iterator[str]:
    """A login role with ``pg_monitor`` only (no access to any table); yields its name."""
    name = f"wk_mon_{uuid.uuid4().hex[:10]}"
    pg_run(PG_ADMIN, f'CREATE ROLE "{name}" LOGIN IN ROLE pg_monitor')
    try:
        yield name
    finally:
        pg_run(PG_ADMIN, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def pg_scratch() -> Iterator[str]:
    """A throw-away, empty PostgreSQL database; yields its URL."""
    with scratch_database() as url:
        yield url


@pytest.fixture
def pg_bloated() -> Iterator[str]:
    """A throw-away PostgreSQL database (with pgstattuple) whose ``public.churn`` table is
    bloated and full of dead tuples (see :func:`make_bloat`); yields its URL."""
    with scratch_database() as url:
        pg_run(url, "CREATE EXTENSION pgstattuple")
        make_bloat(url)
        yield url
