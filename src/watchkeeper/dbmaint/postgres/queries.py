"""The SQL of the PostgreSQL health collection: few statements, each set-based.

Every statement reads catalogs and statistics views only, so a role with ``pg_monitor``
runs them all (``pg_stats`` shows it the statistics of the tables it may read). Versions
12 and later are supported; the statements that differ by version are built here.

The bloat estimates follow the method of the well-known ioguix queries
(github.com/ioguix/pgsql-bloat-estimation): the expected size of a table or a btree index
is its row count times the average tuple width from ``pg_stats``, packed into pages. The
SQL here only gathers the inputs per relation (pages, tuples, fill factor, summed column
widths, null fractions); :mod:`watchkeeper.dbmaint.postgres.bloat` does the arithmetic.
"""

from __future__ import annotations

from typing import LiteralString

from psycopg import sql

USER_SCHEMAS: LiteralString = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'"
)
"""Relations we report on: not the catalogs, not TOAST, not other sessions' temp tables."""

SETTINGS: tuple[str, ...] = (
    "max_connections",
    "superuser_reserved_connections",
    "reserved_connections",
    "autovacuum",
    "autovacuum_freeze_max_age",
    "autovacuum_multixact_freeze_max_age",
    "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_analyze_threshold",
    "autovacuum_analyze_scale_factor",
    "track_counts",
    "track_io_timing",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "max_wal_size",
    "checkpoint_timeout",
    "idle_in_transaction_session_timeout",
    "archive_mode",
    "wal_level",
    "shared_preload_libraries",
)


def server(version: int) -> LiteralString:
    """One row: the server, the database (size, frozen-XID age, cache and commit counters,
    when its statistics were reset), settings, extensions, our privileges, checkpoints and
    the WAL archiver."""
    checkpoints: LiteralString = (
        "(SELECT num_timed AS checkpoints_timed, num_requested AS checkpoints_req"
        " FROM pg_stat_checkpointer)"
        if version >= 170000
        else "(SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter)"
    )
    return (
        "SELECT version() AS version_text,"
        " current_database() AS database,"
        " pg_database_size(d.oid) AS size_bytes,"
        " current_setting('block_size')::int AS block_size,"
        " pg_is_in_recovery() AS in_recovery,"
        " now() AS now,"
        " age(d.datfrozenxid)::bigint AS xid_age,"
        " mxid_age(d.datminmxid)::bigint AS mxid_age,"
        " sd.stats_reset, sd.blks_hit, sd.blks_read, sd.deadlocks,"
        " sd.xact_commit, sd.xact_rollback, sd.temp_bytes,"
        " (SELECT json_object_agg(name, json_build_object('setting', setting, 'unit', unit))"
        "  FROM pg_settings WHERE name = ANY(%(settings)s)) AS settings,"
        " (SELECT json_object_agg(e.extname,"
        "   json_build_object('version', e.extversion, 'schema', x.nspname))"
        "  FROM pg_extension e JOIN pg_namespace x ON x.oid = e.extnamespace) AS extensions,"
        " (SELECT json_agg(name) FROM pg_available_extensions"
        "  WHERE name IN ('pg_stat_statements', 'pgstattuple', 'pg_repack')) AS available,"
        " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,"
        " pg_has_role('pg_read_all_stats', 'USAGE') AS read_all_stats,"
        " pg_has_role('pg_stat_scan_tables', 'USAGE') AS scan_tables,"
        " cp.checkpoints_timed, cp.checkpoints_req,"
        " ar.archived_count, ar.failed_count, ar.last_archived_time, ar.last_failed_time,"
        " ar.last_failed_wal"
        " FROM pg_database d"
        " JOIN pg_stat_database sd ON sd.datid = d.oid"
        " CROSS JOIN " + checkpoints + " cp"
        " CROSS JOIN pg_stat_archiver ar"
        " WHERE d.datname = current_database()"
    )


def tables() -> LiteralString:
    """Every user table and materialised view: activity statistics, age of its oldest
    unfrozen XID, and its size as ``pg_class.relpages`` (heap and TOAST) knows it, as of
    its last VACUUM or ANALYZE: measuring every relation (``pg_table_size``) opens each
    one, which costs about a second per 10,000 relations in a new backend, so
    :func:`sizes` measures only the largest."""
    return (
        "SELECT c.oid, n.nspname AS schema, c.relname AS name,"
        " quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qname,"
        " c.relkind, c.relpages, c.reltuples::float8 AS reltuples, c.reloptions,"
        " coalesce(toast.relpages, 0) AS toast_pages,"
        " coalesce(toast.reltuples, 0)::float8 AS toast_tuples,"
        " age(c.relfrozenxid)::bigint AS xid_age,"
        " (c.relpages::bigint + coalesce(toast.relpages, 0))"
        "  * current_setting('block_size')::bigint AS size_bytes,"
        " s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,"
        " s.seq_scan, s.seq_tup_read, s.idx_scan, s.idx_tup_fetch,"
        " s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd,"
        " s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,"
        " s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count"
        " FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid"
        " LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid"
        " WHERE c.relkind IN ('r', 'm') AND " + USER_SCHEMAS
    )


def indexes(version: int) -> LiteralString:
    """Every index of a user table: what it indexes (columns, operator classes,
    collations, expressions, predicate: what makes two indexes duplicates), flags, size as
    ``pg_class.relpages`` knows it, scans, the constraint it backs, whether a foreign key
    depends on it and whether it is being built. Definitions come from
    :func:`definitions`, for the indexes shown only (``pg_get_indexdef`` is costly)."""
    last_scan: LiteralString = "s.last_idx_scan" if version >= 160000 else "NULL::timestamptz"
    return (
        "WITH con AS ("
        " SELECT conindid,"
        "  min(conname) FILTER (WHERE contype IN ('p', 'u', 'x')) AS conname,"
        "  bool_or(contype = 'f') AS fk_referenced"
        " FROM pg_constraint WHERE conindid <> 0 GROUP BY conindid),"
        " building AS (SELECT DISTINCT index_relid FROM pg_stat_progress_create_index)"
        " SELECT i.indexrelid AS oid, i.indrelid AS table_oid,"
        " n.nspname AS schema, ci.relname AS name,"
        " quote_ident(n.nspname) || '.' || quote_ident(ci.relname) AS qname,"
        " tn.nspname || '.' || ct.relname AS table_name,"
        " quote_ident(tn.nspname) || '.' || quote_ident(ct.relname) AS table_qname,"
        " am.amname AS method, i.indisunique AS is_unique, i.indisprimary AS is_primary,"
        " i.indisvalid AS valid, i.indisready AS ready, i.indisexclusion AS exclusion,"
        " i.indkey::text AS columns, i.indclass::text AS opclasses,"
        " i.indcollation::text AS collations, i.indoption::text AS options,"
        " CASE WHEN i.indexprs IS NOT NULL"
        "  THEN pg_get_expr(i.indexprs, i.indrelid) END AS exprs,"
        " CASE WHEN i.indpred IS NOT NULL"
        "  THEN pg_get_expr(i.indpred, i.indrelid) END AS predicate,"
        " ci.relpages, ci.reltuples::float8 AS reltuples, ci.reloptions,"
        " ci.relpages::bigint * current_setting('block_size')::bigint AS size_bytes,"
        " s.idx_scan, s.idx_tup_read, s.idx_tup_fetch, " + last_scan + " AS last_scan,"
        " con.conname, coalesce(con.fk_referenced, false) AS fk_referenced,"
        " b.index_relid IS NOT NULL AS building"
        " FROM pg_index i"
        " JOIN pg_class ci ON ci.oid = i.indexrelid"
        " JOIN pg_class ct ON ct.oid = i.indrelid AND ct.relkind IN ('r', 'm')"
        " JOIN pg_namespace n ON n.oid = ci.relnamespace"
        " JOIN pg_namespace tn ON tn.oid = ct.relnamespace"
        " JOIN pg_am am ON am.oid = ci.relam"
        " LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid"
        " LEFT JOIN con ON con.conindid = i.indexrelid"
        " LEFT JOIN building b ON b.index_relid = i.indexrelid"
        " WHERE " + USER_SCHEMAS
    )


def widths() -> LiteralString:
    """The inputs of the bloat estimate of the tables ``%(tables)s`` and the btree indexes
    ``%(indexes)s``, one row each: how many columns it has and how many of them
    ``pg_stats`` describes, their highest null fraction, the sum of
    ``(1 - null_frac) * avg_width``, and whether one is of type ``name``. An index column
    is a column of its table, or (an expression) a column of the index itself, whose
    statistics ANALYZE keeps under the index's name. ``%(names)s``: the names of those
    tables, of the indexes' tables and of the expression indexes; ``pg_stats`` is read
    once, for them only (it checks the role's privilege on every column it returns)."""
    return (
        "WITH ix AS MATERIALIZED ("
        " SELECT i.indexrelid, i.indrelid, i.indkey FROM pg_index i"
        " WHERE i.indexrelid = ANY(%(indexes)s::oid[])),"
        " rel AS MATERIALIZED ("
        " SELECT c.oid, n.nspname, c.relname FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid IN (SELECT unnest(%(tables)s::oid[]) UNION SELECT indrelid FROM ix"
        "  UNION SELECT indexrelid FROM ix WHERE 0 = ANY(indkey::int2[]))),"
        # relname = ANY(...) on the view's own column lets the planner look those relations
        # up by name and read only their statistics (a join would read all of pg_stats)
        " st AS MATERIALIZED ("
        " SELECT s.schemaname, s.tablename, s.attname, s.null_frac, s.avg_width"
        " FROM pg_stats s"
        " WHERE NOT s.inherited AND s.tablename = ANY(%(names)s::name[])),"
        " tc AS MATERIALIZED ("
        " SELECT a.attrelid, a.attnum, a.atttypid = 'pg_catalog.name'::regtype AS is_name,"
        "  st.null_frac, st.avg_width, st.attname IS NOT NULL AS has_stats"
        " FROM rel"
        " JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " LEFT JOIN st ON st.schemaname = rel.nspname AND st.tablename = rel.relname"
        "  AND st.attname = a.attname),"
        " ic AS MATERIALIZED ("
        " SELECT ix.indexrelid, ix.indrelid, k.attnum, k.pos::int2 AS pos"
        " FROM ix CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos)),"
        " cols AS ("
        " SELECT attrelid AS oid, is_name, null_frac, avg_width, has_stats FROM tc"
        " WHERE attrelid = ANY(%(tables)s::oid[])"
        " UNION ALL"
        " SELECT ic.indexrelid, tc.is_name, tc.null_frac, tc.avg_width, tc.has_stats"
        " FROM ic JOIN tc ON tc.attrelid = ic.indrelid AND tc.attnum = ic.attnum"
        " UNION ALL"
        # an expression: a column of the index, with statistics under the index's name
        " SELECT ic.indexrelid, tc.is_name, tc.null_frac, tc.avg_width, tc.has_stats"
        " FROM ic JOIN tc ON tc.attrelid = ic.indexrelid AND tc.attnum = ic.pos"
        " WHERE ic.attnum = 0)"
        " SELECT oid, count(*) AS natts, count(*) FILTER (WHERE has_stats) AS nstats,"
        " coalesce(max(null_frac), 0)::float8 AS null_frac,"
        " coalesce(sum((1 - null_frac) * avg_width), 0)::float8 AS width,"
        " bool_or(is_name) AS has_name"
        " FROM cols GROUP BY oid"
    )


def sizes() -> LiteralString:
    """The size on disk (every fork, TOAST included) of the relations ``%(oids)s``. Each
    is opened under a short ACCESS SHARE lock; a dropped one comes back NULL."""
    return "SELECT r.oid, pg_table_size(r.oid) AS size_bytes FROM unnest(%(oids)s::oid[]) AS r(oid)"


def definitions() -> LiteralString:
    """``CREATE INDEX`` statements of the indexes ``%(oids)s``."""
    return (
        "SELECT r.oid, pg_get_indexdef(r.oid) AS definition FROM unnest(%(oids)s::oid[]) AS r(oid)"
    )


def statements(schema: str, ext_version: str) -> sql.Composed:
    """The top statements of this database in ``pg_stat_statements`` (installed in
    ``schema``), summed over users: the ``%(top)s`` largest by total time and the
    ``%(top)s`` slowest by mean time among those at least ``%(slow_ms)s`` ms. The
    collector's own statements are left out."""
    total: LiteralString = (
        "total_exec_time" if _version_tuple(ext_version) >= (1, 8) else "total_time"
    )
    query: LiteralString = (
        "WITH s AS ("
        " SELECT queryid, min(left(query, 10000)) AS query, sum(calls)::bigint AS calls,"
        " sum(" + total + ")::float8 AS total_ms, sum(rows)::bigint AS rows,"
        " sum(shared_blks_read)::bigint AS blocks_read,"
        " sum(shared_blks_hit)::bigint AS blocks_hit,"
        " sum(temp_blks_written)::bigint AS temp_blocks_written"
        " FROM {schema}.pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND queryid IS NOT NULL AND query NOT LIKE '/* watchkeeper-dbmaint */%%'"
        " GROUP BY queryid),"
        " r AS (SELECT s.*, total_ms / greatest(calls, 1) AS mean_ms,"
        "  row_number() OVER (ORDER BY total_ms DESC) AS by_total,"
        "  row_number() OVER (ORDER BY total_ms / greatest(calls, 1) DESC) AS by_mean"
        "  FROM s)"
        " SELECT queryid, query, calls, total_ms, mean_ms, rows, blocks_read, blocks_hit,"
        " temp_blocks_written FROM r"
        " WHERE by_total <= %(top)s OR (by_mean <= %(top)s AND mean_ms >= %(slow_ms)s)"
        " ORDER BY total_ms DESC"
    )
    return sql.SQL(query).format(schema=sql.Identifier(schema))


def activity() -> LiteralString:
    """One row: client connections counted by database (this one or another) and state,
    and the sessions of this database worth showing (transactions older than
    ``%(long)s``, idle in a transaction longer than ``%(idle)s``, waiting for a lock)
    plus every session that blocks one (from ``pg_blocking_pids``)."""
    return (
        "WITH a AS ("
        " SELECT pid, datname, usename, application_name, host(client_addr) AS client,"
        "  backend_type, state, wait_event_type, wait_event, left(query, 2000) AS query,"
        "  extract(epoch FROM now() - backend_start)::float8 AS backend_s,"
        "  extract(epoch FROM now() - xact_start)::float8 AS xact_s,"
        "  extract(epoch FROM now() - query_start)::float8 AS query_s,"
        "  extract(epoch FROM now() - state_change)::float8 AS state_s,"
        "  age(backend_xmin)::bigint AS xmin_age,"
        "  CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocked_by"
        " FROM pg_stat_activity WHERE pid <> pg_backend_pid()),"
        " blockers AS (SELECT DISTINCT unnest(blocked_by) AS pid FROM a)"
        " SELECT"
        " (SELECT coalesce(json_agg(json_build_object('here', here, 'state', state,"
        "   'count', n)), '[]'::json)"
        "  FROM (SELECT datname IS NOT DISTINCT FROM current_database() AS here,"
        "   coalesce(state, '') AS state, count(*) AS n"
        "   FROM a WHERE backend_type = 'client backend' GROUP BY 1, 2) c) AS counts,"
        " (SELECT coalesce(json_agg(row_to_json(x)), '[]'::json) FROM ("
        "  SELECT * FROM a"
        "  WHERE (datname = current_database() AND backend_type = 'client backend' AND ("
        "   (state <> 'idle' AND xact_s >= %(long)s)"
        "   OR (state LIKE 'idle in transaction%%' AND state_s >= %(idle)s)"
        "   OR blocked_by IS NOT NULL))"
        "  OR pid IN (SELECT pid FROM blockers)"
        "  ORDER BY xact_s DESC NULLS LAST LIMIT 200) x) AS sessions"
    )


def replication(version: int) -> LiteralString:
    """One row: the standbys streaming from this server (lag as time and bytes), the
    replication slots (WAL each retains, whether active), and, on a standby, how far
    replay is behind."""
    wal_status: LiteralString = "wal_status" if version >= 130000 else "NULL::text"
    return (
        "SELECT pg_is_in_recovery() AS in_recovery,"
        " (SELECT coalesce(json_agg(json_build_object("
        "   'name', coalesce(nullif(application_name, ''), host(client_addr), pid::text),"
        "   'pid', pid, 'client', host(client_addr), 'state', state,"
        "   'sync_state', sync_state,"
        "   'write_lag_s', extract(epoch FROM write_lag)::float8,"
        "   'flush_lag_s', extract(epoch FROM flush_lag)::float8,"
        "   'replay_lag_s', extract(epoch FROM replay_lag)::float8,"
        "   'lag_bytes', CASE WHEN pg_is_in_recovery() THEN NULL"
        "    ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 END)),"
        "   '[]'::json) FROM pg_stat_replication) AS replicas,"
        " (SELECT coalesce(json_agg(json_build_object("
        "   'name', slot_name, 'type', slot_type, 'database', database, 'active', active,"
        "   'wal_status', " + wal_status + ","
        "   'retained_bytes', CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN NULL"
        "    ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 END,"
        "   'xmin_age', age(xmin)::bigint, 'catalog_xmin_age', age(catalog_xmin)::bigint)),"
        "   '[]'::json) FROM pg_replication_slots) AS slots,"
        " CASE WHEN pg_is_in_recovery() THEN"
        "  extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
        " END AS standby_lag_s"
    )


def measure_table(schema: str, *, approx: bool) -> sql.Composed:
    """One row of ``pgstattuple`` (exact: reads the whole table) or ``pgstattuple_approx``
    (skips all-visible pages) for the table ``%(oid)s``; the extension is in ``schema``."""
    query: LiteralString = (
        "SELECT table_len, approx_tuple_len AS tuple_len, dead_tuple_len,"
        " approx_free_space AS free_space"
        " FROM {schema}.pgstattuple_approx(%(oid)s::oid::regclass)"
        if approx
        else "SELECT table_len, tuple_len, dead_tuple_len, free_space"
        " FROM {schema}.pgstattuple(%(oid)s::oid::regclass)"
    )
    return sql.SQL(query).format(schema=sql.Identifier(schema))


def measure_index(schema: str) -> sql.Composed:
    """One row of ``pgstatindex`` (reads the whole btree index ``%(oid)s``)."""
    return sql.SQL(
        "SELECT index_size, leaf_pages, empty_pages, deleted_pages,"
        " avg_leaf_density::float8 AS avg_leaf_density"
        " FROM {schema}.pgstatindex(%(oid)s::oid::regclass)"
    ).format(schema=sql.Identifier(schema))


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
