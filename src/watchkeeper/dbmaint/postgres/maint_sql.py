"""The catalogue queries of PostgreSQL maintenance: which tables and indexes need work, and
the figures (size, dead tuples, bloat) a step records before and after it runs.

Bloat is estimated the way the well-known ioguix queries do it (expected pages from the
live tuple count and the average row width in ``pg_stats``, against the pages on disk),
written afresh here; ``pgstattuple`` measures it exactly when the extension is installed.
The estimates read only the catalogue (``relpages``, ``reltuples``, as of the last VACUUM or
ANALYZE), so they never wait for a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

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

# Expected heap pages: live tuples / tuples per page, a tuple being its 23-byte header (and
# null bitmap) and its data (sum of avg_width over the columns, weighted by null_frac), each
# MAXALIGNed, plus a 4-byte line pointer; a page holds (block size - 24) x fillfactor.
TABLE_BLOAT = """
WITH t AS (
  SELECT c.oid, c.reltuples,
         c.relpages * current_setting('block_size')::numeric AS bytes,
         current_setting('block_size')::numeric AS bs,
         coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int
                   FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%%'), 100) AS ff,
         count(*) AS ncols,
         count(s.attname) AS nstats,
         bool_or(coalesce(s.null_frac, 0) > 0) AS nulls,
         sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0)) AS width
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
                      AND s.attname = a.attname AND NOT s.inherited
  WHERE c.oid = ANY(%s::oid[])
  GROUP BY c.oid
), w AS (
  SELECT oid, reltuples, bytes, bs, ff, nstats = ncols AS known,
         4 + ceil((23 + CASE WHEN nulls THEN (ncols + 7) / 8 ELSE 0 END) / 8.0) * 8
           + ceil(width / 8.0) * 8 AS tuple_bytes
  FROM t
)
SELECT oid, bytes,
       CASE WHEN known AND reltuples >= 0 THEN greatest(0, bytes - bs * ceil(
         reltuples / greatest(1, floor((bs - 24) * ff / 100.0 / tuple_bytes))))
       END AS bloat
FROM w
"""

# Expected btree pages: the meta page plus index tuples (8-byte header, 16 with a null
# bitmap, then the key columns' average widths, each MAXALIGNed, plus a line pointer) on
# pages of (block size - 24 - 16 special) x fillfactor. Expression columns take their
# statistics from the index itself.
INDEX_BLOAT = """
WITH k AS (
  SELECT i.indexrelid, ci.relname AS idxname, ct.relname AS tblname, n.nspname,
         ci.reltuples, key.attnum, key.pos
  FROM pg_index i
  JOIN pg_class ci ON ci.oid = i.indexrelid
  JOIN pg_class ct ON ct.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ci.relnamespace
  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS key(attnum, pos)
  WHERE i.indexrelid = ANY(%s::oid[])
), ks AS (
  SELECT k.indexrelid, k.reltuples, s.null_frac, s.avg_width
  FROM k
  LEFT JOIN pg_attribute a ON k.attnum > 0 AND a.attrelid = (
      SELECT indrelid FROM pg_index WHERE indexrelid = k.indexrelid) AND a.attnum = k.attnum
  LEFT JOIN pg_attribute e ON k.attnum = 0 AND e.attrelid = k.indexrelid AND e.attnum = k.pos
  LEFT JOIN pg_stats s ON s.schemaname = k.nspname AND NOT s.inherited AND (
      (k.attnum > 0 AND s.tablename = k.tblname AND s.attname = a.attname)
      OR (k.attnum = 0 AND s.tablename = k.idxname AND s.attname = e.attname))
), x AS (
  SELECT ks.indexrelid, max(ks.reltuples) AS reltuples,
         count(*) = count(ks.avg_width) AS known,
         bool_or(coalesce(ks.null_frac, 0) > 0) AS nulls,
         sum((1 - coalesce(ks.null_frac, 0)) * coalesce(ks.avg_width, 0)) AS width
  FROM ks GROUP BY ks.indexrelid
), w AS (
  SELECT x.indexrelid, x.reltuples, x.known,
         (SELECT relpages FROM pg_class WHERE oid = x.indexrelid)
           * current_setting('block_size')::numeric AS bytes,
         current_setting('block_size')::numeric AS bs,
         coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int
                   FROM pg_class c, unnest(c.reloptions) o
                   WHERE c.oid = x.indexrelid AND o LIKE 'fillfactor=%%'), 90) AS ff,
         4 + CASE WHEN x.nulls THEN 16 ELSE 8 END + ceil(x.width / 8.0) * 8 AS tuple_bytes
  FROM x
)
SELECT indexrelid, bytes,
       CASE WHEN known AND reltuples >= 0 THEN greatest(0, bytes - bs * (1 + ceil(
         reltuples / greatest(1, floor((bs - 40) * ff / 100.0 / tuple_bytes)))))
       END AS bloat
FROM w
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


async def table_bloat(
    conn: psycopg.AsyncConnection[Any], oids: list[int]
) -> dict[int, tuple[int, int]]:
    """``(heap size, estimated wasted bytes)`` of each table in ``oids`` (absent: no
    statistics to estimate from)."""
    if not oids:
        return {}
    found = await rows(conn, TABLE_BLOAT, oids)
    return {int(r[0]): (int(r[1]), int(r[2])) for r in found if r[2] is not None}


async def index_bloat(
    conn: psycopg.AsyncConnection[Any], oids: list[int]
) -> dict[int, tuple[int, int]]:
    """``(size, estimated wasted bytes)`` of each btree index in ``oids`` (absent: no
    statistics to estimate from)."""
    if not oids:
        return {}
    found = await rows(conn, INDEX_BLOAT, oids)
    return {int(r[0]): (int(r[1]), int(r[2])) for r in found if r[2] is not None}


async def measured_index_bloat(conn: psycopg.AsyncConnection[Any], oid: int) -> int | None:
    """Wasted bytes of btree index ``oid`` measured with ``pgstatindex`` (reads the whole
    index): its size less the meta, internal and leaf pages it would need packed to its
    fillfactor. None when pgstattuple cannot be used (not installed, no privilege)."""
    try:
        async with conn.transaction():
            found = await rows(
                conn,
                "SELECT s.index_size, s.internal_pages, s.leaf_pages, s.avg_leaf_density, "
                "coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int "
                "FROM pg_class c, unnest(c.reloptions) o "
                "WHERE c.oid = %s::oid AND o LIKE 'fillfactor=%%'), 90), "
                "current_setting('block_size')::int "
                "FROM pgstatindex(%s::oid::regclass) s",
                oid,
                oid,
            )
    except psycopg.Error:
        return None
    size, internal, leaf, density, ff, bs = found[0]
    if density != density:  # NaN: no leaf pages
        return 0
    needed = (1 + int(internal)) * bs + int(leaf) * bs * float(density) / ff
    return max(0, int(size) - int(needed))


async def measured_table_bloat(conn: psycopg.AsyncConnection[Any], oid: int) -> int | None:
    """Wasted heap bytes of table ``oid`` from ``pgstattuple_approx`` (dead tuples plus free
    space beyond what the fillfactor keeps free; it skips all-visible pages). None when the
    extension cannot be used."""
    try:
        async with conn.transaction():
            found = await rows(
                conn,
                "SELECT s.table_len, s.dead_tuple_len + s.approx_free_space, "
                "coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int "
                "FROM pg_class c, unnest(c.reloptions) o "
                "WHERE c.oid = %s::oid AND o LIKE 'fillfactor=%%'), 100) "
                "FROM pgstattuple_approx(%s::oid::regclass) s",
                oid,
                oid,
            )
    except psycopg.Error:
        return None
    size, waste, ff = found[0]
    return max(0, int(waste) - int(size) * (100 - int(ff)) // 100)
