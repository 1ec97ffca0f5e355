"""MariaDB/MySQL health: tables (size, rows, fragmentation), indexes (size, duplicates,
unused), the statement digest, connections, buffer pool, replication, transactions and
lock waits.

Everything is read with plain SELECT/SHOW statements, so a read-only user suffices; the
server-wide parts want ``PROCESS``, ``REPLICATION CLIENT`` (``SLAVE MONITOR``) and SELECT on
``performance_schema`` and ``mysql.innodb_index_stats``, and are skipped with a note in
``details["notes"]`` when refused (see :mod:`.session`). The watched schema is the URL's
database; a URL without one watches every non-system schema of the server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pymysql

from watchkeeper.backups.sources.myconn import SYSTEM_DATABASES
from watchkeeper.dbmaint.config import MariadbDatabase
from watchkeeper.dbmaint.interface import Collection, DbError, Sample
from watchkeeper.dbmaint.mariadb import indexes as ix
from watchkeeper.dbmaint.mariadb import server, statements
from watchkeeper.dbmaint.mariadb.session import Session
from watchkeeper.dbmaint.mariadb.tables import fragmentation, read_reclaimable

SERIES_LARGEST = 200  # tables/indexes with their own series (plus those with findings)
DETAILS_LARGEST = 500  # tables/indexes listed in details (plus those with findings)


async def collect(target: MariadbDatabase) -> Collection:
    """Return the health of ``target``'s schema and server; raise DbError if the server
    cannot be reached, the schema does not exist, or its tables cannot be listed."""
    session = Session.for_url(target.url, target.collect_timeout.total_seconds())
    return await asyncio.to_thread(_collect, session, target)


def _collect(session: Session, target: MariadbDatabase) -> Collection:
    session.open()
    try:
        return _read(session, target)
    except pymysql.MySQLError as exc:
        raise DbError(f"MariaDB at {session.where}: {session.scrub(exc)}") from None
    finally:
        session.close()


def _schemas(session: Session) -> list[str]:
    wanted = session.target.database
    rows = session.rows("SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA")
    names = sorted(str(r["s"]) for r in rows)
    if wanted is not None:
        if wanted not in names:
            raise DbError(f"database {wanted} does not exist on {session.where}")
        return [wanted]
    names = [n for n in names if n.lower() not in SYSTEM_DATABASES]
    if not names:
        raise DbError(f"no database to watch on {session.where}: name one in the url")
    return names


def _read(session: Session, target: MariadbDatabase) -> Collection:
    th, out = target.thresholds, Collection()
    variables, status = server.read_settings(session)
    schemas = _schemas(session)
    page_size = int(variables.get("innodb_page_size") or 16384)
    tables, pages = read_reclaimable(session, schemas, page_size)
    indexes = session.optional("indexes", lambda: ix.read_indexes(session, schemas)) or []
    for index in indexes:
        size = pages.get((index.schema, index.table, index.name))
        index.size_bytes = size[0] if size else None
    ps_on = str(variables.get("performance_schema", "")).upper() in ("ON", "1")
    usage = None
    if ps_on:
        usage = session.optional(
            "index usage (performance_schema)", lambda: ix.read_usage(session, schemas)
        )
    for index in indexes:
        index.scans = None if usage is None else usage.get((index.schema, index.table, index.name))

    for table in tables:
        finding = fragmentation(table, th)
        if finding is not None:
            out.findings.append(finding)
    out.findings += [ix.duplicate_finding(a, b) for a, b in ix.duplicates(indexes)]
    if usage is not None:
        out.findings += ix.unused(indexes, usage, status.get("Uptime", 0), th)

    queries: list[dict[str, Any]] = []
    if target.statements_top:
        why_not = session.optional("statement digest", lambda: statements.digest_enabled(session))
        if why_not:
            session.notes.append(f"statement digest: {why_not}")
        elif why_not is not None:
            top = target.statements_top
            queries = (
                session.optional(
                    "statement digest",
                    lambda: statements.top_statements(session, schemas, top, out, th),
                )
                or []
            )

    where = session.target.database or "server"  # finding keys, as PostgreSQL's name the db
    conns = server.connections(out, variables, status, th, where)
    hit_ratio = server.buffer_pool(out, variables, status, th, where)
    replication = session.optional("replication", lambda: server.replication(session, out, th))
    sessions = session.optional(
        "transactions (information_schema.INNODB_TRX)",
        lambda: server.transactions(session, out, th),
    )
    locks = session.optional("lock waits", lambda: server.lock_waits(session, out, th)) or []

    flagged = {f.object for f in out.findings}
    out.size_bytes = sum(t.total_bytes for t in tables)
    out.samples.append(Sample("size_bytes", out.size_bytes))
    for i, t in enumerate(tables):
        if i < SERIES_LARGEST or t.full_name in flagged:
            labels = {"table": t.full_name}
            out.samples += [
                Sample("table_size_bytes", t.total_bytes, labels),
                Sample("table_rows", t.rows, labels),
                Sample("table_data_free_bytes", t.data_free, labels),
                Sample("table_bloat_bytes", t.free_bytes, labels),
            ]
    indexes.sort(key=lambda i: (-(i.size_bytes or 0), i.full_name))
    for i, index in enumerate(indexes):
        if index.size_bytes is not None and (i < SERIES_LARGEST or index.full_name in flagged):
            labels = {"index": index.name, "table": index.table_name}
            out.samples.append(Sample("index_size_bytes", index.size_bytes, labels))

    out.queries = session.queries
    out.details = {
        "summary": {
            "server": session.server.flavor,
            "version": session.server.text,
            "uptime_s": status.get("Uptime", 0),
            "schemas": schemas,
            "size_bytes": out.size_bytes,
            "tables": len(tables),
            "indexes": len(indexes),
            "reclaimable_bytes": sum(t.free_bytes for t in tables),
            "connections": conns["connected"],
            "max_connections": conns["max_connections"],
            "buffer_pool_hit_ratio": None if hit_ratio is None else round(hit_ratio, 6),
            "replication": replication["role"] if replication else None,
            "open_transactions": None if sessions is None else len(sessions),
            "blocked_sessions": len({lk["waiting"] for lk in locks}),
            "statements": len(queries),
        },
        "tables": [
            t.as_json()
            for i, t in enumerate(tables)
            if i < DETAILS_LARGEST or t.full_name in flagged
        ],
        "indexes": [
            index.as_json()
            for i, index in enumerate(indexes)
            if i < DETAILS_LARGEST or index.full_name in flagged
        ],
        "queries": queries,
        "sessions": sessions or [],
        "locks": locks,
        "replication": replication,
        "connections": conns,
        "settings": variables,
        "status": status,
        "notes": session.notes,
    }
    return out
