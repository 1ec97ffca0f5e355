"""Database maintenance (issue 9): cost of one PostgreSQL health collection.

    .venv/bin/python bench/dbmaint.py [--tables 5000] [--indexes-per-table 2] [--rows 20]
                                      [--runs 2] [--postgres-url URL] [--keep]

Target: one collection of a database with 5,000 tables and 10,000 indexes in under 5 s,
no statement slower than 1 s.

The data, made before any clock starts and dropped at the end (also on Ctrl-C/SIGTERM): a
throw-away database with pg_stat_statements and pgstattuple; ``--tables`` tables spread
over 5 schemas, each with a primary key and ``--indexes-per-table - 1`` more indexes, a
text and a timestamp column and ``--rows`` rows; every 10th table churned (half its rows
updated, a quarter deleted), every 20th with autovacuum off; a few hundred distinct
statements run (index and sequential reads) so that pg_stat_statements and the scan
counters have something to report; then ``ANALYZE`` (statistics for the bloat estimate).

Each run is the product's own ``watchkeeper.dbmaint.postgres.collect.collect(target)`` on a
new connection: the first is cold (a new backend: empty catalog caches), the next ones
warm. Figures per run: wall-clock seconds, statements sent (``Collection.queries``), the
slowest statement (the collector's own timing, wall time seen by the client), the load on
the database: server execution time and buffers of the collector's statements (from
pg_stat_statements of the bench database: they start with the collector's marker comment)
the CPU time of the collector's backend process (read from /proc before the
connection closes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.table import Table

from watchkeeper.dbmaint.config import PostgresDatabase
from watchkeeper.dbmaint.postgres import collect as collect_module
from watchkeeper.dbmaint.postgres import session as session_module
from watchkeeper.dbmaint.postgres.session import MARKER

console = Console(width=None if sys.stdout.isatty() else 160)
log = Console(stderr=True)
SCHEMAS = ("app", "billing", "audit", "catalog", "reports")
BATCH = 100  # tables per transaction (each holds locks until commit)


def machine(admin: str) -> list[str]:
    model = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'),"
            " current_setting('max_locks_per_transaction')"
        ).fetchone()
    assert row is not None
    return [
        f"CPU: {model}, {os.cpu_count()} cores; RAM {psutil.virtual_memory().total / 2**30:.0f}"
        f" GiB; load average {os.getloadavg()[0]:.1f} (other work on the machine counts)",
        f"PostgreSQL {row[0]} on the same machine (loopback), shared_buffers {row[1]}; "
        f"python {platform.python_version()}, psycopg {psycopg.__version__}",
    ]


def url_for(admin: str, database: str) -> str:
    params = conninfo_to_dict(admin)
    params["dbname"] = database
    return make_conninfo(**params)


@contextmanager
def bench_database(admin: str, keep: bool, existing: str | None) -> Iterator[str]:
    if existing:
        yield existing
        return
    name = f"wk_bench_dbmaint_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield name
    finally:
        if keep:
            log.print(f"kept database {name}")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def populate(url: str, tables: int, indexes_per_table: int, rows: int) -> None:
    """Create the schemas, tables, indexes and rows; churn some; run a read workload;
    ANALYZE. Server-side loops, ``BATCH`` tables per transaction."""
    extra = max(0, indexes_per_table - 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("CREATE EXTENSION pgstattuple")
        for schema in SCHEMAS:
            conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
        started = time.perf_counter()
        for first in range(1, tables + 1, BATCH):
            last = min(tables, first + BATCH - 1)
            conn.execute(
                f"""
DO $$
DECLARE s text; t text;
BEGIN
  FOR i IN {first}..{last} LOOP
    s := (ARRAY{list(SCHEMAS)!r})[1 + i % {len(SCHEMAS)}];
    t := format('%I.%I', s, 't' || i);
    EXECUTE format('CREATE TABLE %s (id int PRIMARY KEY, a int, b text,'
                   ' c timestamptz DEFAULT now()) %s', t,
                   CASE WHEN i % 20 = 0 THEN 'WITH (autovacuum_enabled = false)' ELSE '' END);
    FOR j IN 1..{extra} LOOP
      EXECUTE format('CREATE INDEX %I ON %s (%s)', 't' || i || '_idx' || j, t,
                     CASE j % 3 WHEN 1 THEN 'a' WHEN 2 THEN 'b' ELSE 'c' END);
    END LOOP;
    EXECUTE format('INSERT INTO %s (id, a, b) SELECT g, g %% 7, md5(g::text)'
                   ' FROM generate_series(1, {rows}) g', t);
    IF i % 10 = 0 THEN
      EXECUTE format('UPDATE %s SET a = a + 1 WHERE id %% 2 = 0', t);
      EXECUTE format('DELETE FROM %s WHERE id %% 4 = 1', t);
    END IF;
  END LOOP;
END $$"""  # type: ignore[arg-type]
            )
            if last % 1000 == 0 or last == tables:
                log.print(
                    f"  created {last:,} / {tables:,} tables "
                    f"({time.perf_counter() - started:.0f} s)"
                )
        # a read workload: a few hundred distinct statements, index and sequential scans
        for i in range(1, min(tables, 600) + 1, 2):
            schema = SCHEMAS[i % len(SCHEMAS)]
            conn.execute(f"SELECT * FROM {schema}.t{i} WHERE id = 3")  # type: ignore[arg-type]
            conn.execute(f"SELECT count(*) FROM {schema}.t{i} WHERE b LIKE 'a%'")  # type: ignore[arg-type]
        started = time.perf_counter()
        conn.execute("ANALYZE")
        log.print(f"  ANALYZE {time.perf_counter() - started:.0f} s")
        conn.execute("SELECT pg_stat_force_next_flush()")


def marker_stats(url: str) -> dict[str, tuple[int, float, int, int]]:
    """The collector's statements in pg_stat_statements of the bench database: queryid ->
    (calls, total exec ms, shared blocks hit, shared blocks read)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT queryid::text, sum(calls)::bigint, sum(total_exec_time),"
            " sum(shared_blks_hit)::bigint, sum(shared_blks_read)::bigint"
            " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
            " WHERE datname = current_database()) AND query LIKE %s GROUP BY 1",
            (MARKER + "%",),
        ).fetchall()
    return {str(r[0]): (int(r[1]), float(r[2]), int(r[3]), int(r[4])) for r in rows}


class BackendCpu:
    """Instrumentation of the bench only: the CPU seconds of the collector's backend per
    statement and in all, read from /proc (clock ticks: 10 ms) around each statement and
    just before the connection closes. On a busy machine wall time includes waiting for a
    CPU; the backend's CPU time does not."""

    def __init__(self) -> None:
        self.seconds: float | None = None
        self.per_statement: dict[str, float] = {}
        self._close = session_module.Reader.close
        self._rows = session_module.Reader._rows

    def __enter__(self) -> BackendCpu:
        bench = self
        close, rows = self._close, self._rows

        def cpu(reader: session_module.Reader) -> float:
            try:
                times = psutil.Process(reader.conn.info.backend_pid).cpu_times()
            except psutil.Error:
                return 0.0
            return float(times.user + times.system)

        async def timed_rows(
            reader: session_module.Reader, name: str, query: Any, params: Any
        ) -> Any:
            before = cpu(reader)
            try:
                return await rows(reader, name, query, params)
            finally:
                bench.per_statement[name] = cpu(reader) - before

        async def timed_close(reader: session_module.Reader) -> None:
            bench.seconds = cpu(reader)
            await close(reader)

        session_module.Reader._rows = timed_rows  # type: ignore[method-assign]
        session_module.Reader.close = timed_close  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        session_module.Reader.close = self._close  # type: ignore[method-assign]
        session_module.Reader._rows = self._rows  # type: ignore[method-assign]


def one_run(url: str, target: PostgresDatabase) -> dict[str, Any]:
    before = marker_stats(url)
    with BackendCpu() as cpu:
        started, client = time.perf_counter(), time.process_time()
        collection = asyncio.run(collect_module.collect(target))
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client
    after = marker_stats(url)
    exec_ms = hit = read = 0.0
    for queryid, (_calls, ms, h, r) in after.items():
        _c0, ms0, h0, r0 = before.get(queryid, (0, 0.0, 0, 0))
        exec_ms += ms - ms0
        hit += h - h0
        read += r - r0
    timings = [
        {**t, "cpu_ms": 1000 * cpu.per_statement.get(t["name"], 0.0)}
        for t in collection.details["collector"]["statements"]
    ]
    slowest = max(timings, key=lambda t: t["ms"])
    costliest = max(timings, key=lambda t: t["cpu_ms"])
    return {
        "seconds": seconds,
        "queries": collection.queries,
        "slowest": slowest,
        "costliest": costliest,
        "timings": timings,
        "exec_ms": exec_ms,
        "blocks_hit": int(hit),
        "blocks_read": int(read),
        "cpu_s": cpu.seconds,
        "client_cpu_s": client_cpu,
        "kinds": Counter(f.kind for f in collection.findings),
        "findings": len(collection.findings),
        "samples": len(collection.samples),
        "tables": collection.details["summary"]["tables"],
        "indexes": collection.details["summary"]["indexes"],
        "notes": collection.details["notes"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=5000)
    parser.add_argument("--indexes-per-table", type=int, default=2)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--database",
        help="collect this existing database (on the --postgres-url server) instead of "
        "making one; it is left as it is",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    info = machine(args.postgres_url)
    with bench_database(args.postgres_url, args.keep, args.database) as name:
        url = url_for(args.postgres_url, name)
        if not args.database:
            log.print(
                f"populating {name}: {args.tables:,} tables x {args.indexes_per_table} "
                f"indexes, {args.rows} rows each"
            )
            started = time.perf_counter()
            populate(url, args.tables, args.indexes_per_table, args.rows)
            log.print(f"populated in {time.perf_counter() - started:.0f} s")
        target = PostgresDatabase.model_validate(
            {"name": "bench", "type": "postgres", "url": url, "collect_timeout": "30s"}
        )
        results = [one_run(url, target) for _ in range(args.runs)]

    table = Table(title="PostgreSQL health collection")
    for column in (
        "run",
        "tables / indexes",
        "seconds",
        "statements",
        "slowest (wall)",
        "costliest (db CPU)",
        "exec ms",
        "hit / read",
        "db CPU s",
        "client CPU s",
        "findings / samples",
    ):
        table.add_column(column)
    for n, r in enumerate(results, 1):
        table.add_row(
            "cold" if n == 1 else f"warm {n - 1}",
            f"{r['tables']:,} / {r['indexes']:,}",
            f"{r['seconds']:.2f}",
            str(r["queries"]),
            f"{r['slowest']['name']} {r['slowest']['ms']:.0f} ms",
            f"{r['costliest']['name']} {r['costliest']['cpu_ms']:.0f} ms",
            f"{r['exec_ms']:.0f}",
            f"{r['blocks_hit']:,} / {r['blocks_read']:,}",
            f"{r['cpu_s']:.2f}" if r["cpu_s"] is not None else "n/a",
            f"{r['client_cpu_s']:.2f}",
            f"{r['findings']:,} / {r['samples']:,}",
        )
    console.print(table)
    per = Table(title="statements of the last run (client wall time)")
    per.add_column("statement")
    per.add_column("wall ms", justify="right")
    per.add_column("backend CPU ms", justify="right")
    per.add_column("rows", justify="right")
    for t in results[-1]["timings"]:
        per.add_row(t["name"], f"{t['ms']:.1f}", f"{t['cpu_ms']:.0f}", f"{t['rows']:,}")
    console.print(per)
    for line in info:
        console.print(line)
    kinds = results[-1]["kinds"]
    console.print("findings: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    if results[-1]["notes"]:
        console.print("notes: " + "; ".join(results[-1]["notes"]))
    worst = max(r["seconds"] for r in results)
    slowest = max(r["slowest"]["ms"] for r in results)
    ok = worst < 5 and slowest < 1000
    cpu_total = max((r["cpu_s"] or 0.0) for r in results)
    cpu_worst = max(r["costliest"]["cpu_ms"] for r in results)
    console.print(
        f"target (< 5 s, no statement > 1 s): {'met' if ok else 'MISSED'} "
        f"(worst run {worst:.2f} s, slowest statement {slowest:.0f} ms wall; backend CPU "
        f"at most {cpu_total:.2f} s per run, {cpu_worst:.0f} ms per statement)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
