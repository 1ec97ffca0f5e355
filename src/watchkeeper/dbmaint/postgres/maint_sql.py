"""The catalogue queries of PostgreSQL maintenance: which tables and indexes need work, and
the figures (size, dead tuples, bloat) a step records before and after it runs.

Bloat is estimated and measured exactly as the health collection does it (the same
statements of :mod:`watchkeeper.dbmaint.postgres.queries` and the arithmetic of
:mod:`watchkeeper.dbmaint.postgres.bloat`), so a task acts on what the advisor reports. The
estimates read only the catalogue (``relpages``, ``reltuples``, as of the last VACUUM or
ANALYZE), so they never wait for a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from watchkeeper.dbmaint.postgres import queries as pq
from watchkeeper.dbmaint.postgres.bloat import (
    BTREE_FILLFACTOR,
    EXACT_LIMIT,
    HEAP_FILLFACTOR,
    Bloat,
    estimate_btree,
    estimate_table,
    measured_btree,
    measured_table,
)
from watchkeeper.dbmaint.postgres.model import maxalign_of, reloptions, widths_of

# Sizes without opening the tables (pg_total_relation_size would queue behind a session
# holding ACCESS EXCLUSIVE and stall the plan): exact where no exclusive lock is held or
# wanted, else from the catalogue's page counts.
TABLES = """
WITH locked AS (
  SELECT DISTINCT relation FROM pg_locks
  WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT s.relid, s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
       CASE WHEN s.relid IN (SELECT relation FROM locked)
            THEN current_setting('block_size')::bigint * (c.relpages
                 + coalesce((SELECT relpages FROM pg_class WHERE oid = c.reltoastrelid), 0)
                 + coalesce((SELECT sum(ci.relpages) FROM pg_index i
                             JOIN pg_class ci ON ci.oid = i.indexrelid
                             WHERE i.indrelid = c.oid), 0))
            ELSE pg_total_relation_size(s.relid) END
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname NOT LIKE 'pg\\_temp\\_%%' AND s.schemaname NOT LIKE 'pg\\_toast\\_temp%%'
ORDER BY s.schemaname, s.relname
"""

# The inputs of the bloat estimate of the relations %(oids)s: pages and tuples as of their
# last VACUUM or ANALYZE (a table's TOAST table too), fill factor, and for an index the
# name of its table (whose pg_stats describe its columns) and whether it has expressions.
ESTIMATE_INPUTS = """
SELECT c.oid, c.relname, c.relpages, c.reltuples::float8 AS reltuples, c.reloptions,
       coalesce(toast.relpages, 0) AS toast_pages,
       coalesce(toast.reltuples, 0)::float8 AS toast_tuples,
       ct.relname AS table_relname, i.indexprs IS NOT NULL AS has_expressions,
       current_setting('block_size')::int AS block_size, version() AS version_text
FROM pg_class c
LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class ct ON ct.oid = i.indrelid
WHERE c.oid = ANY(%(oids)s::oid[])
"""

EXTENSION_SCHEMA = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = %s
"""

INDEXES = """
SELECT i.indexrelid, n.nspname, ci.relname, ct.relname, i.indrelid
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_class ct ON ct.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ci.relnamespace
JOIN pg_am am ON am.oid = ci.relam
WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready AND ct.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
  AND ci.relname !~ '_cc(new|old)[0-9]*$'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = i.indexrelid
                  AND x.contype = 'x')
ORDER BY n.nspname, ci.relname
"""

RESOLVE = """
SELECT c.oid, c.relkind, format('%%I.%%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""

HAS_EXTENSION = "SELECT 1 FROM pg_extension WHERE extname = %s"

# A table pg_repack can rebuild has a primary key or a unique index on NOT NULL columns.
REPACKABLE = """
SELECT EXISTS (
  SELECT 1 FROM pg_index i
  WHERE i.indrelid = %s::oid AND i.indisvalid AND i.indisunique AND i.indpred IS NULL
    AND 0 <> ALL (i.indkey::int2[])
    AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid
                    AND a.attnum = ANY (i.indkey::int2[]) AND NOT a.attnotnull))
"""

LEFTOVERS = """
SELECT n.nspname, ci.relname
FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ci.relnamespace
WHERE i.indrelid = (SELECT indrelid FROM pg_index WHERE indexrelid = %s::oid)
  AND NOT i.indisvalid AND ci.relname LIKE %s AND ci.relname ~ '_ccnew[0-9]*$'
"""


@dataclass(frozen=True)
class TableStats:
    oid: int
    schema: str
    table: str
    live: int
    dead: int
    modified: int
    total_bytes: int

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


async def rows(conn: psycopg.AsyncConnection[Any], query: str, *params: Any) -> list[Any]:
    cur = await conn.execute(query, params)
    return list(await cur.fetchall())


async def tables(conn: psycopg.AsyncConnection[Any]) -> list[TableStats]:
    """Every user table with its activity counters."""
    return [
        TableStats(int(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5] or 0), int(r[6]))
        for r in await rows(conn, TABLES)
    ]


async def has_extension(conn: psycopg.AsyncConnection[Any], name: str) -> bool:
    return bool(await rows(conn, HAS_EXTENSION, name))


@dataclass(frozen=True)
class Estimate:
    """What the bloat estimate of one relation starts from, and the estimate."""

    oid: int
    size_bytes: int  # pages on disk as of the last VACUUM/ANALYZE (a table's TOAST too)
    fillfactor: int
    block_size: int
    bloat: Bloat | None  # None: no statistics to estimate from


async def extension_schema(conn: psycopg.AsyncConnection[Any], name: str) -> str | None:
    """The schema extension ``name`` is installed in (None: not installed here)."""
    found = await rows(conn, EXTENSION_SCHEMA, name)
    return str(found[0][0]) if found else None


async def _dict_rows(
    conn: psycopg.AsyncConnection[Any], query: Any, params: dict[str, Any]
) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return list(await cur.fetchall())


async def estimates(
    conn: psycopg.AsyncConnection[Any],
    *,
    tables: Sequence[int] = (),
    indexes: Sequence[int] = (),
) -> dict[int, Estimate]:
    """The estimated bloat of the ``tables`` and btree ``indexes`` (oids), computed as the
    health collection computes it: its :func:`~watchkeeper.dbmaint.postgres.queries.widths`
    statement and :mod:`~watchkeeper.dbmaint.postgres.bloat`'s arithmetic, so the figure a
    task plans with is the one the advisor showed. A dropped relation is absent."""
    if not tables and not indexes:
        return {}
    inputs = await _dict_rows(conn, ESTIMATE_INPUTS, {"oids": [*tables, *indexes]})
    by_oid = {int(r["oid"]): r for r in inputs}
    names = {str(by_oid[o]["relname"]) for o in tables if o in by_oid}
    for oid in indexes:
        r = by_oid.get(oid)
        if r is not None and r["table_relname"] is not None:
            names.add(str(r["table_relname"]))
            if r["has_expressions"]:
                names.add(str(r["relname"]))
    found = await _dict_rows(
        conn,
        pq.widths(),
        {"tables": list(tables), "indexes": list(indexes), "names": sorted(names)},
    )
    widths = {int(r["oid"]): widths_of(r) for r in found}
    out: dict[int, Estimate] = {}
    for oid, r in by_oid.items():
        options = reloptions(r["reloptions"])
        bs, maxalign = int(r["block_size"]), maxalign_of(str(r["version_text"]))
        if oid in indexes:
            fillfactor = int(options.get("fillfactor", BTREE_FILLFACTOR))
            size = int(r["relpages"]) * bs
            bloat = estimate_btree(
                pages=int(r["relpages"]),
                tuples=float(r["reltuples"]),
                widths=widths.get(oid),
                fillfactor=fillfactor,
                block_size=bs,
                maxalign=maxalign,
            )
        else:
            fillfactor = int(options.get("fillfactor", HEAP_FILLFACTOR))
            size = (int(r["relpages"]) + int(r["toast_pages"])) * bs
            bloat = estimate_table(
                pages=int(r["relpages"]),
                tuples=float(r["reltuples"]),
                toast_pages=int(r["toast_pages"]),
                toast_tuples=float(r["toast_tuples"]),
                widths=widths.get(oid),
                fillfactor=fillfactor,
                block_size=bs,
                maxalign=maxalign,
            )
        out[oid] = Estimate(oid, size, fillfactor, bs, bloat)
    return out


async def measure_index(
    conn: psycopg.AsyncConnection[Any], estimate: Estimate, schema: str
) -> Bloat | None:
    """The bloat of btree index ``estimate.oid`` measured with ``pgstatindex`` (installed
    in ``schema``), as the health collection measures it; None when it cannot be used (no
    privilege, a dropped index) or the index is past the collection's
    :data:`~watchkeeper.dbmaint.postgres.bloat.EXACT_LIMIT` (it keeps its estimate)."""
    if estimate.size_bytes > EXACT_LIMIT:
        return None
    try:
        async with conn.transaction():
            found = await _dict_rows(conn, pq.measure_index(schema), {"oid": estimate.oid})
    except psycopg.Error:
        return None
    r = found[0]
    return measured_btree(
        index_size=int(r["index_size"]),
        leaf_pages=int(r["leaf_pages"]),
        empty_pages=int(r["empty_pages"]),
        deleted_pages=int(r["deleted_pages"]),
        avg_leaf_density=float(r["avg_leaf_density"]),
        fillfactor=estimate.fillfactor,
        block_size=estimate.block_size,
    )


async def measure_table(
    conn: psycopg.AsyncConnection[Any], estimate: Estimate, schema: str
) -> Bloat | None:
    """The bloat of table ``estimate.oid`` measured with ``pgstattuple`` (installed in
    ``schema``; ``pgstattuple_approx`` past :data:`EXACT_LIMIT`), as the health collection
    measures it; None when it cannot be used."""
    approx = estimate.size_bytes > EXACT_LIMIT
    try:
        async with conn.transaction():
            found = await _dict_rows(
                conn, pq.measure_table(schema, approx=approx), {"oid": estimate.oid}
            )
    except psycopg.Error:
        return None
    r = found[0]
    return measured_table(
        table_len=int(r["table_len"]),
        dead_tuple_len=int(r["dead_tuple_len"]),
        free_space=int(r["free_space"]),
        fillfactor=estimate.fillfactor,
        source="pgstattuple_approx" if approx else "pgstattuple",
    )
