"""What a PostgreSQL health collection reports: the summary, the samples (metric series),
bounded lists; built from what the statements read (:class:`Seen`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchkeeper.dbmaint.config import Thresholds
from watchkeeper.dbmaint.interface import Sample
from watchkeeper.dbmaint.postgres import activity
from watchkeeper.dbmaint.postgres.model import Index, Server, Session, Statement, Table, iso

DETAIL_LIMIT = 500
"""Tables (and indexes) listed in the details: the largest, plus every one with a finding."""
SERIES_LIMIT = 200
"""Tables (and indexes) with their own metric series: the largest, plus every one with a
finding (bounded cardinality)."""


@dataclass
class Seen:
    """What the statements read."""

    server: Server
    tables: list[Table]
    indexes: list[Index]
    statements: list[Statement]
    sessions: list[Session]
    counts: list[dict[str, Any]] | None  # None: pg_stat_activity could not be read
    replicas: list[dict[str, Any]]
    slots: list[dict[str, Any]]
    standby_lag_s: float | None
    statements_wanted: bool = True  # statements_top > 0

    @property
    def chains(self) -> list[activity.Chain]:
        return activity.chains(self.sessions)

    def figures(self, th: Thresholds) -> dict[str, int]:
        """Sessions of this database: transactions open longer than ``long_transaction``
        (idle in transaction or not), sessions idle in a transaction longer than
        ``idle_in_transaction``, sessions waiting for a lock."""
        here = [s for s in self.sessions if s.database == self.server.database]
        long_s = th.long_transaction.total_seconds()
        idle_s = th.idle_in_transaction.total_seconds()
        return {
            "long_transactions": sum(
                1 for s in here if s.state != "idle" and (s.xact_s or 0.0) >= long_s
            ),
            "idle_in_transaction": sum(
                1
                for s in here
                if s.state.startswith("idle in transaction") and (s.state_s or 0.0) >= idle_s
            ),
            "blocked_sessions": sum(1 for s in here if s.blocked_by),
        }


def bounded(items: list[Any], flagged: set[str], size: Any) -> list[Any]:
    """The :data:`DETAIL_LIMIT` largest of ``items`` by ``size``, then every other one
    whose name is ``flagged``."""
    largest = sorted(items, key=lambda x: (-size(x), x.name))
    return largest[:DETAIL_LIMIT] + [x for x in largest[DETAIL_LIMIT:] if x.name in flagged]


def vacuum_queue(server: Server, tables: list[Table], limit: int = 10) -> list[dict[str, Any]]:
    """The tables closest to (or past) their autovacuum trigger: dead tuples over
    ``autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor * reltuples``."""
    base = server.number("autovacuum_vacuum_threshold", 50)
    scale = server.number("autovacuum_vacuum_scale_factor", 0.2)
    queue = []
    for t in tables:
        if t.dead <= 0:
            continue
        threshold = float(t.options.get("autovacuum_vacuum_threshold", base))
        factor = float(t.options.get("autovacuum_vacuum_scale_factor", scale))
        trigger = threshold + factor * max(t.tuples, 0.0)
        queue.append((t.dead / trigger if trigger > 0 else float(t.dead), t))
    queue.sort(key=lambda x: (-x[0], x[1].name))
    return [
        {
            "name": t.name,
            "dead_tuples": t.dead,
            "dead_ratio": round(t.dead_ratio, 4),
            "autovacuum_due": round(due, 3),
            "last_vacuum": iso(t.last_vacuumed()),
        }
        for due, t in queue[:limit]
    ]


def summary(
    seen: Seen, hit_ratio: float | None, by_state: dict[str, int], figures: dict[str, int]
) -> dict[str, Any]:
    """Headline figures of the collection (``details["summary"]``)."""
    server, tables, indexes = seen.server, seen.tables, seen.indexes
    row = server.row
    freeze = server.number("autovacuum_freeze_max_age", 200_000_000)
    known = [t.bloat.bytes for t in tables if t.bloat] + [i.bloat.bytes for i in indexes if i.bloat]
    return {
        "version": str(row["version_text"]).split(" on ")[0],
        "database": server.database,
        "size_bytes": int(row["size_bytes"] or 0),
        "in_recovery": bool(row["in_recovery"]),
        "tables": len(tables),
        "indexes": len(indexes),
        "table_bytes": sum(t.size_bytes for t in tables),
        "index_bytes": sum(i.size_bytes for i in indexes),
        "bloat_bytes": sum(known),
        "dead_tuples": sum(t.dead for t in tables),
        "xid_age": int(row["xid_age"] or 0),
        "xid_age_ratio": int(row["xid_age"] or 0) / freeze if freeze else None,
        "mxid_age": int(row["mxid_age"] or 0),
        "cache_hit_ratio": round(hit_ratio, 5) if hit_ratio is not None else None,
        "connections": sum(by_state.values()),
        "max_connections": int(server.number("max_connections", 0)),
        **figures,
        "deadlocks": int(row["deadlocks"] or 0),
        "stats_reset": iso(row["stats_reset"]),
        "checkpoints_timed": row["checkpoints_timed"],
        "checkpoints_requested": row["checkpoints_req"],
        "archiver_failed": row["failed_count"],
        "pg_stat_statements": "pg_stat_statements" in server.extensions,
        "pgstattuple": "pgstattuple" in server.extensions,
        "statements": len(seen.statements),
        "vacuum_queue": vacuum_queue(server, tables),
    }


def samples(
    seen: Seen,
    flagged: set[str],
    by_state: dict[str, int] | None,
    figures: dict[str, int] | None,
    hit_ratio: float | None,
) -> list[Sample]:
    """The samples of the collection: per-object series for the :data:`SERIES_LIMIT`
    largest tables and indexes and every ``flagged`` one, server and database figures,
    and the counters of the top statements."""
    server, tables, indexes = seen.server, seen.tables, seen.indexes
    row = server.row
    out = [Sample("size_bytes", float(row["size_bytes"] or 0))]
    largest = sorted(tables, key=lambda t: (-t.total_bytes, t.name))
    for t in largest[:SERIES_LIMIT] + [t for t in largest[SERIES_LIMIT:] if t.name in flagged]:
        labels = {"table": t.name}
        out += [
            Sample("table_size_bytes", float(t.size_bytes), labels),
            Sample("table_rows", float(t.rows), labels),
            Sample("table_dead_tuples", float(t.dead), labels),
        ]
        if t.bloat is not None:
            out.append(Sample("table_bloat_bytes", float(t.bloat.bytes), labels))
    biggest = sorted(indexes, key=lambda i: (-i.size_bytes, i.name))
    for i in biggest[:SERIES_LIMIT] + [i for i in biggest[SERIES_LIMIT:] if i.name in flagged]:
        labels = {"index": i.name, "table": i.table}
        out.append(Sample("index_size_bytes", float(i.size_bytes), labels))
        if i.bloat is not None:
            out.append(Sample("index_bloat_bytes", float(i.bloat.bytes), labels))
    if by_state is not None:
        states = {"active": 0, "idle": 0, "idle_in_transaction": 0, **by_state}
        out += [Sample("connections", float(n), {"state": s}) for s, n in sorted(states.items())]
    out.append(Sample("max_connections", server.number("max_connections")))
    xid_age = float(row["xid_age"] or 0)
    freeze = server.number("autovacuum_freeze_max_age", 200_000_000)
    out += [
        Sample("xid_age", xid_age),
        Sample("xid_age_ratio", xid_age / freeze if freeze else 0.0),
        Sample("deadlocks_total", float(row["deadlocks"] or 0)),
    ]
    if hit_ratio is not None:
        out.append(Sample("cache_hit_ratio", hit_ratio))
    if figures is not None:
        out += [Sample(name, float(n)) for name, n in figures.items()]
    for r in seen.replicas:
        if r.get("replay_lag_s") is not None:
            out.append(
                Sample("replication_lag_seconds", float(r["replay_lag_s"]), {"replica": r["name"]})
            )
    for s in seen.slots:
        if s.get("retained_bytes") is not None:
            out.append(
                Sample(
                    "replication_slot_retained_bytes",
                    float(s["retained_bytes"]),
                    {"slot": str(s["name"])},
                )
            )
    if row["failed_count"] is not None:
        out.append(Sample("archiver_failed_total", float(row["failed_count"])))
    if row["checkpoints_req"] is not None:
        out += [
            Sample("checkpoints_requested_total", float(row["checkpoints_req"])),
            Sample("checkpoints_timed_total", float(row["checkpoints_timed"] or 0)),
        ]
    for st in seen.statements:
        labels = {"queryid": st.queryid}
        out += [
            Sample("statement_calls_total", float(st.calls), labels),
            Sample("statement_exec_seconds_total", st.total_ms / 1000, labels),
            Sample("statement_rows_total", float(st.rows), labels),
            Sample("statement_blocks_read_total", float(st.blocks_read), labels),
        ]
    return out
