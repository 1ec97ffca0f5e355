"""Server-wide health of MariaDB/MySQL: connections, InnoDB buffer pool, replication,
open transactions and lock waits.

These figures belong to the server, not to the watched schema: every target on the same
server reports the same ones. Transactions and lock waits need the ``PROCESS`` privilege,
replication ``REPLICATION CLIENT`` (MariaDB 10.5+: ``SLAVE MONITOR``); without them the
part is skipped with a note.
"""

from __future__ import annotations

import math
from typing import Any

from watchkeeper.dbmaint.config import Thresholds
from watchkeeper.dbmaint.interface import Collection, Finding, Sample
from watchkeeper.dbmaint.mariadb.session import Session, placeholders

VARIABLES = (
    "max_connections",
    "innodb_buffer_pool_size",
    "innodb_page_size",
    "innodb_file_per_table",
    "performance_schema",
    "read_only",
    "slow_query_log",
    "long_query_time",
    "max_statement_time",
    "max_execution_time",
    "lock_wait_timeout",
    "innodb_lock_wait_timeout",
    "table_open_cache",
    "version_comment",
)
STATUS = (
    "Uptime",
    "Threads_connected",
    "Threads_running",
    "Max_used_connections",
    "Aborted_connects",
    "Connection_errors_max_connections",
    "Innodb_buffer_pool_read_requests",
    "Innodb_buffer_pool_reads",
    "Innodb_row_lock_waits",
    "Innodb_deadlocks",
    "Slow_queries",
    "Questions",
)
BUFFER_POOL_MIN_REQUESTS = 1_000_000
"""Below this many reads since start the hit ratio is the warm-up's, not the workload's."""
SESSIONS_LISTED = 100
QUERY_CHARS = 500


def read_settings(session: Session) -> tuple[dict[str, str], dict[str, int]]:
    """Return the server variables and global status counters the collection uses."""
    variables = session.rows(
        f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({placeholders(VARIABLES)})", VARIABLES
    )
    status = session.rows(
        f"SHOW GLOBAL STATUS WHERE Variable_name IN ({placeholders(STATUS)})", STATUS
    )
    return (
        {str(r["Variable_name"]).lower(): str(r["Value"]) for r in variables},
        {str(r["Variable_name"]): _int(r["Value"]) for r in status},
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def connections(
    out: Collection, variables: dict[str, str], status: dict[str, int], th: Thresholds, obj: str
) -> dict[str, Any]:
    """Connection samples and the finding when they near ``max_connections``."""
    connected, running = status.get("Threads_connected", 0), status.get("Threads_running", 0)
    limit = _int(variables.get("max_connections"))
    out.samples += [
        Sample("connections", running, {"state": "active"}),
        Sample("connections", max(0, connected - running), {"state": "idle"}),
        Sample("max_connections", limit),
    ]
    ratio = connected / limit if limit else 0.0
    if limit and ratio >= th.connections_ratio:
        wanted = math.ceil(connected / th.connections_ratio * 1.25)
        out.findings.append(
            Finding(
                key=f"connections:{obj}",
                kind="connections",
                severity="critical" if ratio >= 0.95 else "warning",
                title=f"Connections at {ratio:.0%} of max_connections ({connected}/{limit})",
                evidence=f"{connected} connected, {running} running, at most "
                f"{status.get('Max_used_connections', 0)} since start; "
                f"{status.get('Connection_errors_max_connections', 0)} refused for "
                "max_connections. Raise the limit (also in the server's configuration: "
                "SET GLOBAL does not survive a restart) or put a connection pool in front",
                sql=f"SET GLOBAL max_connections = {wanted}",
                object=obj,
            )
        )
    return {
        "connected": connected,
        "running": running,
        "max_connections": limit,
        "max_used": status.get("Max_used_connections", 0),
        "ratio": round(ratio, 4),
    }


def buffer_pool(
    out: Collection, variables: dict[str, str], status: dict[str, int], th: Thresholds, obj: str
) -> float | None:
    """The InnoDB buffer pool hit ratio since start (None before any read), a sample and
    the finding when it is low under real load."""
    requests = status.get("Innodb_buffer_pool_read_requests", 0)
    misses = status.get("Innodb_buffer_pool_reads", 0)
    if not requests:
        return None
    ratio = max(0.0, 1 - misses / requests)
    out.samples.append(Sample("buffer_pool_hit_ratio", ratio))
    if "Innodb_deadlocks" in status:
        out.samples.append(Sample("deadlocks_total", status["Innodb_deadlocks"]))
    if ratio < th.cache_hit_ratio and requests >= BUFFER_POOL_MIN_REQUESTS:
        size = _int(variables.get("innodb_buffer_pool_size"))
        out.findings.append(
            Finding(
                key=f"cache_hit_ratio:{obj}",
                kind="cache_hit_ratio",
                severity="warning",
                title=f"InnoDB buffer pool hit ratio {ratio:.1%}",
                evidence=f"{misses:,} of {requests:,} page reads since start went to disk "
                f"(below {th.cache_hit_ratio:.0%}); innodb_buffer_pool_size is "
                f"{size // (1024 * 1024)} MiB. A larger pool (also in the server's "
                "configuration) keeps more of the working set in memory",
                sql=f"SET GLOBAL innodb_buffer_pool_size = {size * 2}" if size else "",
                object=obj,
            )
        )
    return ratio


def replication(session: Session, out: Collection, th: Thresholds) -> dict[str, Any]:
    """The replica's view of its sources (lag, threads, errors), or the role when it is
    not a replica; a channel further behind than ``th.replication_lag`` is a finding. Raise
    pymysql.MySQLError when the status is not readable."""
    if session.server.flavor == "mariadb":
        statement = "SHOW ALL SLAVES STATUS"
    elif session.server.version >= (8, 0, 22):
        statement = "SHOW REPLICA STATUS"
    else:
        statement = "SHOW SLAVE STATUS"
    rows = session.rows(statement)
    if not rows:
        dumps = session.value(
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND LIKE %s",
            ("Binlog Dump%",),
        )
        return {"role": "primary" if dumps else "standalone", "replicas": int(dumps or 0)}
    channels = [replica_channel(row) for row in rows]
    for ch in channels:
        if ch["lag_seconds"] is not None:
            out.samples.append(
                Sample("replication_lag_seconds", ch["lag_seconds"], {"replica": ch["name"]})
            )
            if ch["lag_seconds"] >= th.replication_lag.total_seconds():
                out.findings.append(
                    Finding(
                        key=f"replication_lag:{ch['name']}",
                        kind="replication_lag",
                        severity="warning",
                        title=f"Replication from {ch['source']} is {ch['lag_seconds']:,} s behind",
                        evidence=f"Seconds_Behind_Source {ch['lag_seconds']:,} (threshold "
                        f"{th.replication_lag.total_seconds():,.0f} s), SQL thread "
                        f"{ch['sql_running']}",
                        object=ch["name"],
                    )
                )
        if not (ch["io_running"] == "Yes" and ch["sql_running"] == "Yes"):
            error = ch["last_sql_error"] or ch["last_io_error"] or "no error recorded"
            out.findings.append(
                Finding(
                    key=f"replication_stopped:{ch['name']}",
                    kind="replication_stopped",
                    severity="warning" if ch["io_running"] == "Connecting" else "critical",
                    title=f"Replication from {ch['source']} is not running",
                    evidence=f"IO thread {ch['io_running']}, SQL thread "
                    f"{ch['sql_running']}: {error}",
                    object=ch["name"],
                )
            )
    return {"role": "replica", "channels": channels}


def replica_channel(row: dict[str, Any]) -> dict[str, Any]:
    """One replication channel from a ``SHOW ... STATUS`` row, MariaDB or MySQL naming."""

    def pick(*names: str) -> Any:
        return next((row[n] for n in names if n in row and row[n] is not None), None)

    host = pick("Master_Host", "Source_Host") or "?"
    source = f"{host}:{pick('Master_Port', 'Source_Port') or 3306}"
    lag = pick("Seconds_Behind_Master", "Seconds_Behind_Source")
    return {
        "name": str(pick("Connection_name", "Channel_Name") or "") or source,
        "source": source,
        "io_running": str(pick("Slave_IO_Running", "Replica_IO_Running") or "No"),
        "sql_running": str(pick("Slave_SQL_Running", "Replica_SQL_Running") or "No"),
        "lag_seconds": None if lag is None else int(lag),
        "last_io_error": str(pick("Last_IO_Error") or ""),
        "last_sql_error": str(pick("Last_SQL_Error") or ""),
        "gtid": str(pick("Gtid_IO_Pos", "Retrieved_Gtid_Set") or ""),
    }


def transactions(session: Session, out: Collection, th: Thresholds) -> list[dict[str, Any]]:
    """Open InnoDB transactions, oldest first, with the long and idle ones as findings;
    raise pymysql.MySQLError without the PROCESS privilege."""
    rows = session.rows(
        "SELECT t.trx_mysql_thread_id AS thread, t.trx_state AS state, "
        "t.trx_started AS started, TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS age_s, "
        "t.trx_rows_modified AS rows_modified, t.trx_rows_locked AS rows_locked, "
        "t.trx_query AS query, p.USER AS user, p.HOST AS host, p.DB AS db, "
        "p.COMMAND AS command, p.TIME AS state_s "
        "FROM information_schema.INNODB_TRX t "
        "LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
        "WHERE t.trx_mysql_thread_id <> CONNECTION_ID() ORDER BY t.trx_started"
    )
    long_s, idle_s = th.long_transaction.total_seconds(), th.idle_in_transaction.total_seconds()
    sessions, long_count, idle_count = [], 0, 0
    for r in rows:
        age, thread = int(r["age_s"] or 0), int(r["thread"] or 0)
        idle = r["command"] == "Sleep" and int(r["state_s"] or 0) >= idle_s
        who = f"{r['user'] or '?'}@{r['host'] or '?'}"
        query = str(r["query"] or "")[:QUERY_CHARS]
        sessions.append(
            {
                "thread": thread,
                "user": r["user"],
                "host": r["host"],
                "db": r["db"],
                "command": r["command"],
                "state": r["state"],
                "transaction_started": r["started"].isoformat() if r["started"] else None,
                "transaction_age_s": age,
                "state_s": int(r["state_s"] or 0),
                "rows_modified": int(r["rows_modified"] or 0),
                "rows_locked": int(r["rows_locked"] or 0),
                "query": query,
            }
        )
        long_count += age >= long_s
        idle_count += idle
        if idle or age >= long_s:
            kind = "idle_in_transaction" if idle else "long_transaction"
            out.findings.append(
                Finding(
                    key=f"{kind}:{thread}",
                    kind=kind,
                    severity="warning",
                    title=f"Transaction open for {_duration(age)} "
                    + ("and idle " if idle else "")
                    + f"(thread {thread}, {who})",
                    evidence=f"{r['rows_modified'] or 0} rows modified, {r['rows_locked'] or 0} "
                    "locked; it holds its locks and keeps old row versions from being "
                    "purged" + (f"; running: {query}" if query else ""),
                    sql=f"KILL {thread}",
                    object=str(thread),
                )
            )
    out.samples += [
        Sample("long_transactions", long_count),
        Sample("idle_in_transaction", idle_count),
    ]
    return sessions[:SESSIONS_LISTED]


def lock_waits(session: Session, out: Collection, th: Thresholds) -> list[dict[str, Any]]:
    """Sessions waiting for a row or metadata lock and who blocks them (a blocker keeping
    a session waiting longer than ``th.lock_wait`` is a finding); raise pymysql.MySQLError
    without the PROCESS privilege."""
    if session.server.mysql8:
        waits = "performance_schema.data_lock_waits w"
        ids = "w.REQUESTING_ENGINE_TRANSACTION_ID", "w.BLOCKING_ENGINE_TRANSACTION_ID"
    else:
        waits = "information_schema.INNODB_LOCK_WAITS w"
        ids = "w.requesting_trx_id", "w.blocking_trx_id"
    rows = session.rows(
        "SELECT r.trx_mysql_thread_id AS waiting, r.trx_query AS waiting_query, "
        "TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()) AS wait_s, "
        "b.trx_mysql_thread_id AS blocking, b.trx_query AS blocking_query, "
        "TIMESTAMPDIFF(SECOND, b.trx_started, NOW()) AS blocking_age_s "
        f"FROM {waits} "
        f"JOIN information_schema.INNODB_TRX r ON r.trx_id = {ids[0]} "
        f"JOIN information_schema.INNODB_TRX b ON b.trx_id = {ids[1]} "
        "ORDER BY wait_s DESC"
    )
    locks: list[dict[str, Any]] = [
        {
            "kind": "row",
            "waiting": int(r["waiting"]),
            "waiting_query": str(r["waiting_query"] or "")[:QUERY_CHARS],
            "wait_s": int(r["wait_s"] or 0),
            "blocking": int(r["blocking"]),
            "blocking_query": str(r["blocking_query"] or "")[:QUERY_CHARS],
            "blocking_age_s": int(r["blocking_age_s"] or 0),
        }
        for r in rows
    ]
    metadata = session.rows(
        "SELECT ID AS waiting, INFO AS query, TIME AS wait_s "
        "FROM information_schema.PROCESSLIST WHERE STATE LIKE %s ORDER BY TIME DESC",
        ("Waiting for%metadata lock",),
    )
    locks += [
        {
            "kind": "metadata",
            "waiting": int(r["waiting"]),
            "waiting_query": str(r["query"] or "")[:QUERY_CHARS],
            "wait_s": int(r["wait_s"] or 0),
            "blocking": None,
            "blocking_query": "",
            "blocking_age_s": None,
        }
        for r in metadata
    ]
    out.samples.append(Sample("blocked_sessions", len({lk["waiting"] for lk in locks})))
    worst: dict[int, list[dict[str, Any]]] = {}
    for lk in locks:
        if lk["blocking"] is not None:
            worst.setdefault(lk["blocking"], []).append(lk)
    for blocker, waiting in worst.items():
        longest = max(w["wait_s"] for w in waiting)
        if longest < th.lock_wait.total_seconds():
            continue
        out.findings.append(
            Finding(
                key=f"lock_wait:{blocker}",
                kind="lock_wait",
                severity="warning",
                title=f"Thread {blocker} blocks {len(waiting)} session(s)",
                evidence=f"the longest has waited {_duration(longest)} for a row lock; "
                f"the blocker runs: {waiting[0]['blocking_query'] or '(idle in transaction)'}",
                sql=f"KILL {blocker}",
                object=str(blocker),
            )
        )
    return locks[:SESSIONS_LISTED]


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
