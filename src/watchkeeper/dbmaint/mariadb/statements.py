"""The statement digest of MariaDB/MySQL (``performance_schema``): the top statements of the
watched schemas by total time, as counters (so a regression after a release shows in their
history) and as findings for slow ones and ones that scan without an index.

Counted are statements whose default schema was one of the watched ones (the digest keys
statements by ``SCHEMA_NAME``), since the server started or the table was truncated; the
digest text is normalised (literals replaced by ``?``) and cut at
``max_digest_length``. Timers are picoseconds.
"""

from __future__ import annotations

from typing import Any

from watchkeeper.dbmaint.config import Thresholds
from watchkeeper.dbmaint.interface import Collection, Finding, Sample
from watchkeeper.dbmaint.mariadb.session import Session, placeholders

PS_PER_MS = 1_000_000_000
QUERY_CHARS = 1000  # of the digest text in details (the whole text goes to statements)


def digest_enabled(session: Session) -> str:
    """Return why the digest cannot be read ("" when it can)."""
    if str(session.value("SELECT @@performance_schema AS p")) not in ("1", "ON"):
        return (
            "performance_schema is OFF (set performance_schema=ON in the server's "
            "configuration and restart it)"
        )
    enabled = session.value(
        "SELECT ENABLED AS e FROM performance_schema.setup_consumers "
        "WHERE NAME = 'statements_digest'"
    )
    if str(enabled or "").upper() != "YES":
        return "the statements_digest consumer is disabled (performance_schema.setup_consumers)"
    return ""


def top_statements(
    session: Session, schemas: list[str], top: int, out: Collection, th: Thresholds
) -> list[dict[str, Any]]:
    """Read the ``top`` statements by total time into samples, statements and findings;
    return their details; raise pymysql.MySQLError if the digest is unreadable."""
    rows = session.rows(
        "SELECT DIGEST AS digest, MAX(DIGEST_TEXT) AS text, SUM(COUNT_STAR) AS calls, "
        "SUM(SUM_TIMER_WAIT) AS total_ps, MAX(MAX_TIMER_WAIT) AS max_ps, "
        "SUM(SUM_LOCK_TIME) AS lock_ps, SUM(SUM_ROWS_SENT) AS rows_sent, "
        "SUM(SUM_ROWS_EXAMINED) AS rows_examined, SUM(SUM_ROWS_AFFECTED) AS rows_affected, "
        "SUM(SUM_NO_INDEX_USED) AS no_index, SUM(SUM_NO_GOOD_INDEX_USED) AS no_good_index, "
        "SUM(SUM_CREATED_TMP_DISK_TABLES) AS tmp_disk, SUM(SUM_ERRORS) AS errors, "
        "MIN(FIRST_SEEN) AS first_seen, MAX(LAST_SEEN) AS last_seen "
        "FROM performance_schema.events_statements_summary_by_digest "
        f"WHERE SCHEMA_NAME IN ({placeholders(schemas)}) AND DIGEST IS NOT NULL "
        "GROUP BY DIGEST ORDER BY total_ps DESC LIMIT %s",
        [*schemas, top],
    )
    queries = []
    for r in rows:
        q = _query(r)
        queries.append(q)
        out.statements[q["queryid"]] = str(r["text"] or "")
        labels = {"queryid": q["queryid"]}
        out.samples += [
            Sample("statement_calls_total", q["calls"], labels),
            Sample("statement_exec_seconds_total", q["total_ms"] / 1000, labels),
            Sample("statement_rows_total", q["rows"], labels),
            Sample("statement_rows_examined_total", q["rows_examined"], labels),
            Sample("statement_no_index_used_total", q["no_index_used"], labels),
        ]
        out.findings += _findings(q, th)
    return queries


def _query(r: dict[str, Any]) -> dict[str, Any]:
    calls = int(r["calls"] or 0)
    total_ms = int(r["total_ps"] or 0) / PS_PER_MS
    sent, affected = int(r["rows_sent"] or 0), int(r["rows_affected"] or 0)
    return {
        "queryid": str(r["digest"]),
        "query": str(r["text"] or "")[:QUERY_CHARS],
        "calls": calls,
        "total_ms": round(total_ms, 3),
        "mean_ms": round(total_ms / calls, 3) if calls else 0.0,
        "max_ms": round(int(r["max_ps"] or 0) / PS_PER_MS, 3),
        "lock_ms": round(int(r["lock_ps"] or 0) / PS_PER_MS, 3),
        "rows": sent + affected,
        "rows_sent": sent,
        "rows_affected": affected,
        "rows_examined": int(r["rows_examined"] or 0),
        "no_index_used": int(r["no_index"] or 0),
        "no_good_index_used": int(r["no_good_index"] or 0),
        "tmp_disk_tables": int(r["tmp_disk"] or 0),
        "errors": int(r["errors"] or 0),
        "first_seen": r["first_seen"].isoformat() if r["first_seen"] else None,
        "last_seen": r["last_seen"].isoformat() if r["last_seen"] else None,
    }


def _findings(q: dict[str, Any], th: Thresholds) -> list[Finding]:
    found = []
    calls, text = q["calls"], q["query"][:200]
    slow_ms = th.slow_query_mean.total_seconds() * 1000
    if calls and q["mean_ms"] >= slow_ms:
        found.append(
            Finding(
                key=f"slow_query:{q['queryid']}",
                kind="slow_query",
                severity="warning",
                title=f"Slow query: {q['mean_ms']:,.0f} ms on average over {calls:,} "
                + ("call" if calls == 1 else "calls"),
                evidence=f"{text} — {q['total_ms'] / 1000:,.1f} s in all, "
                f"{q['rows_examined'] // calls:,} rows examined and {q['rows'] // calls:,} "
                "returned or changed per call",
                object=q["queryid"],
            )
        )
    per_call = q["rows_examined"] // calls if calls else 0
    if calls and q["no_index_used"] * 2 >= calls and per_call >= th.seq_scan_min_rows:
        found.append(
            Finding(
                key=f"full_scan_query:{q['queryid']}",
                kind="full_scan_query",
                severity="info",
                title=f"Query reads {per_call:,} rows per call without an index",
                evidence=f"{text} — {q['no_index_used']:,} of {calls:,} runs used no index; "
                "EXPLAIN it and index the columns of its WHERE or JOIN",
                object=q["queryid"],
            )
        )
    return found
