"""PostgreSQL health collection: one connection, a handful of set-based statements.

``collect(target)`` sends, whatever the number of tables: ``session`` (timeouts),
``server`` (the server and database: size, XID age, cache and checkpoint counters,
settings, extensions, the WAL archiver), ``tables`` and ``indexes`` (every one, with its
statistics and its size from ``pg_class``), ``sizes`` (the exact size of the largest
ones), ``widths`` (the ``pg_stats`` inputs of the bloat estimate), a bounded number of
``pgstattuple``/``pgstatindex`` measurements of the bloat candidates when that extension
is installed, ``statements`` (the top of ``pg_stat_statements`` when that extension is in
the database), ``activity`` (connections, the sessions worth showing, lock waits),
``replication`` and ``definitions`` (``CREATE INDEX`` of the indexes shown). A role with
``pg_monitor`` suffices; a part it may not read is left out with a note in
``details["notes"]``, and only an unreachable database (or an unreadable ``server``)
fails the collection.
"""

from __future__ import annotations

import time
from datetime import datetime

from watchkeeper.dbmaint.config import PostgresDatabase, Thresholds
from watchkeeper.dbmaint.interface import SEVERITY_RANK, Collection, Finding
from watchkeeper.dbmaint.postgres import activity, findings
from watchkeeper.dbmaint.postgres import queries as q
from watchkeeper.dbmaint.postgres.bloat import (
    EXACT_LIMIT,
    estimate_btree,
    estimate_table,
    measured_btree,
    measured_table,
)
from watchkeeper.dbmaint.postgres.model import (
    Index,
    Server,
    Session,
    Statement,
    Table,
    iso,
    widths_of,
)
from watchkeeper.dbmaint.postgres.report import (
    DETAIL_LIMIT,
    SERIES_LIMIT,
    Seen,
    bounded,
    samples,
    summary,
)
from watchkeeper.dbmaint.postgres.session import Reader

EXACT_SIZES = DETAIL_LIMIT
"""Tables, and indexes, whose size is measured (the largest by ``relpages``, then those
whose ``relpages`` is not set yet); the others keep ``relpages * block_size``."""
ESTIMATE_LIMIT = 2000
"""Tables, and indexes, of at least ``bloat_min_size`` whose bloat is estimated (the
largest): ``pg_stats`` costs in proportion to the relations it is asked about."""
MEASURE_LIMIT = 10
"""Tables, and indexes, measured with pgstattuple per collection (the largest candidates)."""
MEASURE_BUDGET_S = 10.0
"""No measurement starts after the collection's measurements took this long."""
TABLE_KINDS = ("vacuum", "analyze", "table_bloat", "missing_index")
INDEX_KINDS = ("index_bloat", "unused_index", "duplicate_index", "invalid_index")


async def collect(target: PostgresDatabase) -> Collection:
    """Return the health of ``target``'s database; raise DbError when it cannot be
    reached or its first statement fails. Every statement runs under
    ``target.collect_timeout``."""
    started = time.perf_counter()
    reader = await Reader.open(target)
    try:
        return await _collect(reader, target, started)
    finally:
        await reader.close()


async def _collect(reader: Reader, target: PostgresDatabase, started: float) -> Collection:
    th = target.thresholds
    version = reader.server_version
    rows = await reader.rows("server", q.server(version), {"settings": list(q.SETTINGS)})
    server = Server(rows[0])

    tables = [Table.from_row(r) for r in await reader.optional("tables", q.tables()) or []]
    indexes = [
        Index.from_row(r) for r in await reader.optional("indexes", q.indexes(version)) or []
    ]
    await _sizes(reader, tables, indexes)
    await _estimate(reader, server, tables, indexes, th)
    await _measure(reader, server, tables, indexes, th)
    statements = await _statements(reader, server, target)
    act = await reader.optional(
        "activity",
        q.activity(),
        {
            "long": th.long_transaction.total_seconds(),
            "idle": th.idle_in_transaction.total_seconds(),
        },
    )
    rep = await reader.optional("replication", q.replication(version))
    seen = Seen(
        server=server,
        tables=tables,
        indexes=indexes,
        statements=statements,
        sessions=[Session.from_json(s) for s in (act[0]["sessions"] if act else [])],
        counts=act[0]["counts"] if act else None,
        replicas=rep[0]["replicas"] if rep else [],
        slots=rep[0]["slots"] if rep else [],
        standby_lag_s=rep[0]["standby_lag_s"] if rep else None,
        statements_wanted=target.statements_top > 0,
    )
    found = _findings(seen, th, reader.notes)
    flagged = {f.object for f in found if f.kind in TABLE_KINDS + INDEX_KINDS}
    shown = bounded(indexes, flagged, lambda i: i.size_bytes)
    if await _definitions(reader, shown):
        found = _findings(seen, th, [])  # again, with the definitions in the evidence
    return _collection(seen, th, found, flagged, shown, reader, started)


def _findings(seen: Seen, th: Thresholds, notes: list[str]) -> list[Finding]:
    server, tables, indexes = seen.server, seen.tables, seen.indexes
    now: datetime = server.row["now"]
    found: list[Finding] = []
    vacuum = findings.vacuum(tables, th, now, server.setting("autovacuum") != "off")
    found += vacuum
    found += findings.analyze(
        tables,
        th,
        now,
        int(server.number("autovacuum_analyze_threshold", 50)),
        {f.object for f in vacuum},
    )
    found += findings.table_bloat(tables, th, "pg_repack" in server.extensions)
    found += findings.missing_index(tables, th, seen.statements)
    found += findings.index_bloat(indexes, th)
    found += findings.unused_indexes(
        indexes, th, stats_reset=server.row["stats_reset"], now=now, replicas=len(seen.replicas)
    )
    found += findings.duplicate_indexes(indexes)
    found += findings.invalid_indexes(indexes)
    found += findings.slow_queries(seen.statements, th)
    idle_timeout = server.number("idle_in_transaction_session_timeout") > 0
    found += activity.sessions(seen.sessions, th, server.database, idle_timeout)
    found += activity.lock_waits(seen.chains, th)
    if seen.counts is not None:
        found += activity.connections(seen.counts, server, th)[1]
    found += activity.wraparound(server, tables, th)
    found += activity.cache_hit(server, th)[1]
    found += activity.checkpoints(server)
    found += activity.replication(seen.replicas, seen.slots, th)
    found += activity.archiver(server)
    found += activity.settings(server)
    if seen.statements_wanted:
        found += _extension_hints(server, notes)
    found.sort(key=lambda f: (SEVERITY_RANK[f.severity], -f.impact_bytes, f.key))
    return found


def _collection(
    seen: Seen,
    th: Thresholds,
    found: list[Finding],
    flagged: set[str],
    shown: list[Index],
    reader: Reader,
    started: float,
) -> Collection:
    server = seen.server
    by_state = activity.connections(seen.counts or [], server, th)[0]
    hit_ratio = activity.cache_hit(server, th)[0]
    figures = seen.figures(th)
    collection = Collection(size_bytes=int(server.row["size_bytes"] or 0), findings=found)
    collection.statements = {s.queryid: s.query for s in seen.statements}
    collection.samples = samples(
        seen,
        flagged,
        by_state if seen.counts is not None else None,
        figures if seen.counts is not None else None,
        hit_ratio,
    )
    row = server.row
    collection.details = {
        "summary": summary(seen, hit_ratio, by_state, figures),
        "tables": [t.as_json() for t in bounded(seen.tables, flagged, lambda t: t.total_bytes)],
        "indexes": [i.as_json() for i in shown],
        "queries": [s.as_json() for s in seen.statements],
        "sessions": [s.as_json() for s in seen.sessions],
        "locks": [c.as_json() for c in seen.chains],
        "replication": {
            "in_recovery": bool(row["in_recovery"]),
            "replicas": seen.replicas,
            "slots": seen.slots,
            "standby_lag_seconds": seen.standby_lag_s,
            "archiver": {
                "archived_count": row["archived_count"],
                "failed_count": row["failed_count"],
                "last_archived_time": iso(row["last_archived_time"]),
                "last_failed_time": iso(row["last_failed_time"]),
                "last_failed_wal": row["last_failed_wal"],
            },
        },
        "settings": server.shown(),
        "notes": list(reader.notes),
        "collector": {
            "seconds": round(time.perf_counter() - started, 4),
            "statements": [
                {"name": t.name, "ms": round(t.seconds * 1000, 2), "rows": t.rows}
                | ({"error": t.error} if t.error else {})
                for t in reader.timings
            ],
        },
    }
    collection.queries = reader.queries
    return collection


# -- sizes and definitions --------------------------------------------------------------------


async def _sizes(reader: Reader, tables: list[Table], indexes: list[Index]) -> None:
    """Measure the largest tables and indexes (by ``relpages``) and those whose
    ``relpages`` is not set yet; add each table's index sizes to it."""
    unknown = [t for t in tables if t.size_unknown][:EXACT_SIZES]
    unknown_oids = {t.oid for t in unknown}
    pick_tables = sorted(tables, key=lambda t: -t.size_bytes)[:EXACT_SIZES] + unknown
    pick_indexes = (
        sorted(indexes, key=lambda i: -i.size_bytes)[:EXACT_SIZES]
        + [i for i in indexes if i.table_oid in unknown_oids][:EXACT_SIZES]
    )
    oids = sorted({t.oid for t in pick_tables} | {i.oid for i in pick_indexes})
    rows = await reader.optional("sizes", q.sizes(), {"oids": oids}) if oids else []
    measured = {
        int(r["oid"]): int(r["size_bytes"]) for r in rows or [] if r["size_bytes"] is not None
    }
    for t in tables:
        if t.oid in measured:
            t.size_bytes, t.size_exact = measured[t.oid], True
    for i in indexes:
        if i.oid in measured:
            i.size_bytes, i.size_exact = measured[i.oid], True
    by_oid = {t.oid: t for t in tables}
    for i in indexes:
        table = by_oid.get(i.table_oid)
        if table is not None:
            table.index_bytes += i.size_bytes


async def _definitions(reader: Reader, shown: list[Index]) -> bool:
    """Read the definitions of the indexes shown; return whether any was read."""
    oids = [i.oid for i in shown]
    rows = await reader.optional("definitions", q.definitions(), {"oids": oids}) if oids else None
    got = {int(r["oid"]): str(r["definition"] or "") for r in rows or []}
    for i in shown:
        i.definition = got.get(i.oid, "")
    return bool(got)


# -- bloat ------------------------------------------------------------------------------------


async def _estimate(
    reader: Reader, server: Server, tables: list[Table], indexes: list[Index], th: Thresholds
) -> None:
    """Estimate from ``pg_stats`` the bloat of the tables and btree indexes large enough
    for it to matter (at least ``bloat_min_size``), and of the :data:`SERIES_LIMIT`
    largest (their bloat has a series); the others keep none."""
    by_oid = {t.oid: t for t in tables}
    largest = sorted(tables, key=lambda t: (-t.total_bytes, t.name))  # as the series
    pick_tables = {t.oid: t for t in largest if t.size_bytes >= th.bloat_min_size}
    pick_tables = dict(list(pick_tables.items())[:ESTIMATE_LIMIT])
    pick_tables |= {t.oid: t for t in largest[:SERIES_LIMIT]}
    btrees = sorted(
        (i for i in indexes if i.method == "btree" and i.valid and i.table_oid in by_oid),
        key=lambda i: (-i.size_bytes, i.name),
    )
    pick_indexes = {i.oid: i for i in btrees if i.size_bytes >= th.bloat_min_size}
    pick_indexes = dict(list(pick_indexes.items())[:ESTIMATE_LIMIT])
    pick_indexes |= {i.oid: i for i in btrees[:SERIES_LIMIT]}
    if not pick_tables and not pick_indexes:
        return
    names = {t.relname for t in pick_tables.values()}
    names |= {by_oid[i.table_oid].relname for i in pick_indexes.values()}
    names |= {i.relname for i in pick_indexes.values() if i.has_expressions}
    rows = await reader.optional(
        "widths",
        q.widths(),
        {"tables": list(pick_tables), "indexes": list(pick_indexes), "names": sorted(names)},
    )
    if rows is None:
        return
    widths = {int(r["oid"]): widths_of(r) for r in rows}
    bs, ma = server.block_size, server.maxalign
    for t in pick_tables.values():
        t.widths = widths.get(t.oid)
        t.bloat = estimate_table(
            pages=t.pages,
            tuples=t.tuples,
            toast_pages=t.toast_pages,
            toast_tuples=t.toast_tuples,
            widths=t.widths,
            fillfactor=t.fillfactor,
            block_size=bs,
            maxalign=ma,
        )
    for i in pick_indexes.values():
        i.widths = widths.get(i.oid)
        i.bloat = estimate_btree(
            pages=i.pages,
            tuples=i.tuples,
            widths=i.widths,
            fillfactor=i.fillfactor,
            block_size=bs,
            maxalign=ma,
        )
    hidden = [
        t
        for t in tables
        if t.widths is not None
        and t.widths.with_stats == 0
        and t.analyze_count + t.autoanalyze_count > 0
    ]
    if hidden:
        reader.notes.append(
            f"bloat: {len(hidden)} analysed tables have no statistics in pg_stats (it shows "
            "only tables this role may SELECT): their bloat is not estimated"
        )


async def _measure(
    reader: Reader, server: Server, tables: list[Table], indexes: list[Index], th: Thresholds
) -> None:
    """Measure the largest bloat candidates of the estimate with pgstattuple/pgstatindex;
    the measurement replaces the estimate."""
    ext = server.extensions.get("pgstattuple")
    candidates = [
        t
        for t in tables
        if t.bloat and t.bloat.ratio > th.bloat_ratio and t.bloat.bytes >= th.bloat_min_size
    ]
    index_candidates = [
        i
        for i in indexes
        if i.bloat
        and i.bloat.ratio > th.bloat_ratio
        and i.bloat.bytes >= th.bloat_min_size
        and i.size_bytes <= EXACT_LIMIT
    ]
    if not candidates and not index_candidates:
        return
    if ext is None:
        reader.notes.append(
            "bloat: estimated from pg_stats; CREATE EXTENSION pgstattuple to have the "
            "candidates measured"
        )
        return
    schema = ext["schema"]
    started = time.perf_counter()

    def spent() -> bool:
        if time.perf_counter() - started < MEASURE_BUDGET_S:
            return False
        reader.notes.append(f"bloat: measuring stopped after {MEASURE_BUDGET_S:g} s")
        return True

    candidates.sort(key=lambda t: -(t.bloat.bytes if t.bloat else 0))
    for t in candidates[:MEASURE_LIMIT]:
        if spent():
            return
        approx = t.size_bytes > EXACT_LIMIT
        rows = await reader.optional(
            f"pgstattuple {t.name}", q.measure_table(schema, approx=approx), {"oid": t.oid}
        )
        if rows is None:
            return  # no privilege or a timeout: the others would fail alike
        r = rows[0]
        t.bloat = measured_table(
            table_len=int(r["table_len"]),
            dead_tuple_len=int(r["dead_tuple_len"]),
            free_space=int(r["free_space"]),
            fillfactor=t.fillfactor,
            source="pgstattuple_approx" if approx else "pgstattuple",
        )
    index_candidates.sort(key=lambda i: -(i.bloat.bytes if i.bloat else 0))
    for i in index_candidates[:MEASURE_LIMIT]:
        if spent():
            return
        rows = await reader.optional(
            f"pgstatindex {i.name}", q.measure_index(schema), {"oid": i.oid}
        )
        if rows is None:
            return
        r = rows[0]
        i.bloat = measured_btree(
            index_size=int(r["index_size"]),
            leaf_pages=int(r["leaf_pages"]),
            empty_pages=int(r["empty_pages"]),
            deleted_pages=int(r["deleted_pages"]),
            avg_leaf_density=float(r["avg_leaf_density"]),
            fillfactor=i.fillfactor,
            block_size=server.block_size,
        )


# -- statements -------------------------------------------------------------------------------


async def _statements(reader: Reader, server: Server, target: PostgresDatabase) -> list[Statement]:
    ext = server.extensions.get("pg_stat_statements")
    if ext is None or target.statements_top == 0:
        return []
    rows = await reader.optional(
        "statements",
        q.statements(ext["schema"], ext["version"]),
        {
            "top": target.statements_top,
            "slow_ms": target.thresholds.slow_query_mean.total_seconds() * 1000,
        },
    )
    result = [Statement.from_row(r) for r in rows or []]
    if any(s.query == "<insufficient privilege>" for s in result):
        reader.notes.append(
            "statements: the texts of other roles' statements are hidden "
            "(grant pg_read_all_stats, part of pg_monitor)"
        )
    return result


def _extension_hints(server: Server, notes: list[str]) -> list[Finding]:
    """A hint to create pg_stat_statements when the server preloads it but this database
    lacks it; a note either way when it is missing."""
    if "pg_stat_statements" in server.extensions:
        return []
    preload = server.setting("shared_preload_libraries")
    loaded = preload is not None and "pg_stat_statements" in preload
    if not loaded:
        notes.append(
            "statements: pg_stat_statements is not loaded (shared_preload_libraries, restart)"
            " nor created in this database: no query statistics"
        )
        return []
    notes.append("statements: CREATE EXTENSION pg_stat_statements in this database to see them")
    return [
        Finding(
            key="extension:pg_stat_statements",
            kind="extension",
            severity="info",
            title="pg_stat_statements is loaded but not created in this database",
            evidence="the server preloads pg_stat_statements, but the extension does not "
            "exist in this database: slow and frequent queries cannot be reported",
            sql="CREATE EXTENSION pg_stat_statements;",
            object="pg_stat_statements",
        )
    ]
