"""PostgreSQL health collection against the machine's real server: a throw-away database
with bloat, unused/duplicate/invalid indexes, sequential scans and a slow statement; a
blocking lock between two sessions; a read-only pg_monitor role."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.dbmaint.pg_fixtures import (
    SLOW_CALLS,
    blocking_chain,
    make_bloat,
    make_problems,
    monitor_role,
    pg_run,
    pg_url,
    scratch_database,
)
from watchkeeper.dbmaint.config import PostgresDatabase, Thresholds
from watchkeeper.dbmaint.interface import Collection, DbError, Finding
from watchkeeper.dbmaint.postgres.collect import collect
from watchkeeper.dbmaint.postgres.report import SERIES_LIMIT
from watchkeeper.dbmaint.postgres.session import MARKER

THRESHOLDS = {
    "vacuum_min_dead": 1000,
    "bloat_min_size": 64 * 1024,
    "unused_index_min_size": 0,
    "seq_scan_min_rows": 1000,
    "slow_query_mean": "100ms",
    "idle_in_transaction": "1s",
    "long_transaction": "1s",
}


def target(url: str, **extra: Any) -> PostgresDatabase:
    return PostgresDatabase.model_validate(
        {"name": "app", "type": "postgres", "url": url, "thresholds": THRESHOLDS, **extra}
    )


def run(url: str, **extra: Any) -> Collection:
    return asyncio.run(collect(target(url, **extra)))


def finding(c: Collection, key: str) -> Finding:
    found = {f.key: f for f in c.findings}
    assert key in found, f"{key} not in {sorted(found)}"
    return found[key]


def keys(c: Collection, kind: str) -> set[str]:
    return {f.key for f in c.findings if f.kind == kind}


def row(c: Collection, part: str, name: str) -> dict[str, Any]:
    rows = {r["name"]: r for r in c.details[part]}
    assert name in rows, f"{name} not in details[{part!r}]"
    return rows[name]


def sample(c: Collection, name: str, **labels: str) -> float:
    values = [s.value for s in c.samples if s.name == name and dict(s.labels) == labels]
    assert len(values) == 1, f"{name}{labels}: {values}"
    return values[0]


@pytest.fixture(scope="module")
def problems() -> Iterator[tuple[str, Collection]]:
    """The problem database (see make_problems), collected twice: the second collection
    sees the first one's statements in pg_stat_statements (they must be left out)."""
    with scratch_database() as url:
        make_problems(url)
        # one of the two same indexes gets used, the other stays a pure duplicate
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")
            for _ in range(3):
                conn.execute("SELECT count(*) FROM orders WHERE customer_id = 5")
            conn.execute("SELECT pg_stat_force_next_flush()")
            conn.execute("SELECT 1")
        run(url)
        yield url, run(url)


# -- tables -----------------------------------------------------------------------------------


def test_dead_tuples_want_vacuum(problems: tuple[str, Collection]) -> None:
    _, c = problems
    f = finding(c, "vacuum:public.churn")
    assert f.severity == "warning"
    assert f.sql == "VACUUM (ANALYZE) public.churn;"
    churn = row(c, "tables", "public.churn")
    # 10,000 rows updated once: 10,000 dead tuples, and a few more when a snapshot elsewhere
    # on a busy server kept the fixture's VACUUM from removing every deleted row
    dead = churn["dead_tuples"]
    assert 10_000 <= dead <= 10_200, dead
    assert f"{dead:,} dead tuples (50% of {10_000 + dead:,})" in f.evidence
    assert (churn["rows"], churn["autovacuum_enabled"]) == (10_000, False)
    assert churn["last_vacuum"] is not None and churn["last_analyze"] is not None
    assert sample(c, "table_dead_tuples", table="public.churn") == dead
    assert c.details["summary"]["vacuum_queue"][0]["name"] == "public.churn"
    assert "vacuum:public.orders" not in keys(c, "vacuum")


def test_table_bloat_measured_with_pgstattuple(problems: tuple[str, Collection]) -> None:
    _, c = problems
    churn = row(c, "tables", "public.churn")
    assert churn["bloat_source"] == "pgstattuple"
    assert churn["bloat_ratio"] > 0.7  # 90% of the rows were deleted and vacuumed away
    f = finding(c, "table_bloat:public.churn")
    assert f.sql == "VACUUM (FULL, ANALYZE) public.churn;"
    assert "measured with pgstattuple" in f.evidence
    assert f.impact_bytes == churn["bloat_bytes"]
    assert sample(c, "table_bloat_bytes", table="public.churn") == churn["bloat_bytes"]
    # a table that was only ever inserted into is not bloated
    orders = row(c, "tables", "public.orders")
    assert orders["bloat_ratio"] is not None and orders["bloat_ratio"] < 0.2
    assert "table_bloat:public.orders" not in keys(c, "table_bloat")


def test_index_bloat_measured_with_pgstatindex(problems: tuple[str, Collection]) -> None:
    _, c = problems
    pkey = row(c, "indexes", "public.churn_pkey")
    assert pkey["bloat_source"] == "pgstatindex" and pkey["bloat_ratio"] > 0.7
    f = finding(c, "index_bloat:public.churn_pkey")
    assert f.sql == "REINDEX INDEX CONCURRENTLY public.churn_pkey;"
    assert "index_bloat:public.orders_pkey" not in keys(c, "index_bloat")


def test_missing_index_hint_names_the_statement(problems: tuple[str, Collection]) -> None:
    _, c = problems
    f = finding(c, "missing_index:public.events")
    assert f.severity == "info" and f.sql == ""
    assert "60 sequential scans read 300,000 rows" in f.evidence
    assert "SELECT count(*) FROM events WHERE kind = $1" in f.evidence
    # orders is read by index scans and churn was never scanned sequentially 50 times
    assert keys(c, "missing_index") == {"missing_index:public.events"}


# -- indexes ----------------------------------------------------------------------------------


def test_unused_index_with_stats_reset_evidence(problems: tuple[str, Collection]) -> None:
    _, c = problems
    f = finding(c, "unused_index:public.orders_note_idx")
    assert f.sql == "DROP INDEX CONCURRENTLY public.orders_note_idx;"
    assert "0 scans since statistics" in f.evidence
    assert "CREATE INDEX orders_note_idx ON public.orders USING btree (note)" in f.evidence
    assert f.impact_bytes == row(c, "indexes", "public.orders_note_idx")["size_bytes"] > 0
    unused = keys(c, "unused_index")
    # primary keys and unique indexes enforce something: never "unused"
    assert not {"unused_index:public.churn_pkey", "unused_index:public.orders_pkey"} & unused
    assert "unused_index:public.dup_v_key" not in unused  # invalid: its own finding


def test_duplicate_index_keeps_the_used_one(problems: tuple[str, Collection]) -> None:
    _, c = problems
    dups = keys(c, "duplicate_index")
    pair = {"public.orders_customer_idx", "public.orders_customer_dup"}
    assert len(dups) == 1
    (dropped,) = (k.split(":", 1)[1] for k in dups)
    (kept,) = pair - {dropped}
    assert dropped in pair
    assert row(c, "indexes", kept)["scans"] > row(c, "indexes", dropped)["scans"] == 0
    f = finding(c, f"duplicate_index:{dropped}")
    assert f.sql == f"DROP INDEX CONCURRENTLY {dropped};"
    assert f"same definition as {kept}" in f.evidence
    # the same expression with another predicate is not a duplicate
    assert "duplicate_index:public.orders_lower_note_b" not in dups


def test_invalid_index_from_failed_concurrent_build(problems: tuple[str, Collection]) -> None:
    _, c = problems
    f = finding(c, "invalid_index:public.dup_v_key")
    assert f.sql == "DROP INDEX CONCURRENTLY public.dup_v_key;"
    assert "CREATE UNIQUE INDEX dup_v_key ON public.dup USING btree (v)" in f.evidence
    assert row(c, "indexes", "public.dup_v_key")["valid"] is False
    assert keys(c, "invalid_index") == {"invalid_index:public.dup_v_key"}


# -- statements -------------------------------------------------------------------------------


def test_slow_query_from_pg_stat_statements(problems: tuple[str, Collection]) -> None:
    _, c = problems
    sleeps = [q for q in c.details["queries"] if q["query"] == "SELECT pg_sleep($1)"]
    assert len(sleeps) == 1
    q = sleeps[0]
    assert q["calls"] == SLOW_CALLS and q["mean_ms"] >= 150
    f = finding(c, f"slow_query:{q['queryid']}")
    assert f.object == q["queryid"] and f"over {SLOW_CALLS} calls" in f.evidence
    assert c.statements[q["queryid"]] == "SELECT pg_sleep($1)"
    assert sample(c, "statement_calls_total", queryid=q["queryid"]) == SLOW_CALLS
    assert sample(c, "statement_exec_seconds_total", queryid=q["queryid"]) >= 0.15 * SLOW_CALLS


def test_collector_statements_left_out_and_counted(problems: tuple[str, Collection]) -> None:
    _, c = problems
    assert not [t for t in c.statements.values() if t.startswith(MARKER)]
    timings = c.details["collector"]["statements"]
    assert c.queries == len(timings)
    names = [t["name"] for t in timings]
    assert names[:2] == ["session", "server"]
    assert {"tables", "indexes", "widths", "sizes", "statements", "activity"} <= set(names)
    assert c.queries <= 16  # set-based: a handful, however many tables
    assert c.details["notes"] == []


def test_samples_and_details(problems: tuple[str, Collection]) -> None:
    url, c = problems
    names = {s.name for s in c.samples}
    assert {
        "size_bytes", "table_size_bytes", "table_rows", "index_size_bytes", "connections",
        "max_connections", "xid_age", "xid_age_ratio", "cache_hit_ratio", "deadlocks_total",
        "long_transactions", "idle_in_transaction", "blocked_sessions",
        "checkpoints_requested_total", "checkpoints_timed_total", "archiver_failed_total",
        "statement_calls_total", "statement_rows_total", "statement_blocks_read_total",
    } <= names  # fmt: skip
    size = pg_run(url, "SELECT pg_database_size(current_database())")[0][0]
    assert c.size_bytes == sample(c, "size_bytes") > 0
    assert abs(c.size_bytes - size) < size * 0.2
    assert sample(c, "max_connections") == int(pg_run(url, "SHOW max_connections")[0][0])
    assert (
        sample(c, "table_size_bytes", table="public.churn")
        == row(c, "tables", "public.churn")["size_bytes"]
    )
    summary = c.details["summary"]
    assert (summary["tables"], summary["indexes"]) == (4, 8)
    assert summary["pg_stat_statements"] and summary["pgstattuple"]
    assert 0 < summary["xid_age"] and 0 < summary["xid_age_ratio"] < 1
    assert set(c.details) >= {
        "summary", "tables", "indexes", "queries", "sessions", "locks", "replication",
        "settings", "notes",
    }  # fmt: skip
    assert c.details["settings"]["max_connections"] == str(int(sample(c, "max_connections")))
    churn = row(c, "tables", "public.churn")
    assert churn["size_exact"] and churn["index_bytes"] > 0
    assert churn["total_bytes"] == churn["size_bytes"] + churn["index_bytes"]
    assert [f.severity for f in c.findings] == sorted(
        (f.severity for f in c.findings), key=["critical", "warning", "info"].index
    )


# -- sessions and locks -----------------------------------------------------------------------


def test_blocking_chain_and_idle_in_transaction() -> None:
    with scratch_database() as url:
        pg_run(
            url,
            "CREATE TABLE orders (id int PRIMARY KEY, note text)",
            "INSERT INTO orders SELECT g, 'n' FROM generate_series(1, 10) g",
        )
        with blocking_chain(url, wait_s=Thresholds().lock_wait.total_seconds() + 0.5) as chain:
            c = run(url)
    (lock,) = c.details["locks"]
    assert lock["blocker"]["pid"] == chain.blocker_pid
    assert lock["blocker"]["state"] == "idle in transaction"
    assert [b["pid"] for b in lock["blocked"]] == [chain.waiter_pid]
    assert lock["blocked"][0]["blocked_by"] == [chain.blocker_pid]
    assert lock["blocked"][0]["wait"].startswith("Lock:")
    f = finding(c, f"lock_wait:{chain.blocker_pid}")
    assert f.sql == f"SELECT pg_terminate_backend({chain.blocker_pid});"
    assert "UPDATE orders SET note = 'waited' WHERE id = 1" in f.evidence
    idle = finding(c, f"idle_in_transaction:{chain.blocker_pid}")
    assert idle.sql == f"SELECT pg_terminate_backend({chain.blocker_pid});"
    assert "UPDATE orders SET note = note WHERE id = 1" in idle.evidence
    long = finding(c, f"long_transaction:{chain.waiter_pid}")
    assert long.sql == f"SELECT pg_cancel_backend({chain.waiter_pid});"
    assert sample(c, "blocked_sessions") == 1
    assert sample(c, "idle_in_transaction") == 1
    assert sample(c, "connections", state="idle_in_transaction") >= 1
    pids = {s["pid"] for s in c.details["sessions"]}
    assert {chain.blocker_pid, chain.waiter_pid} <= pids


def test_locked_table_does_not_stall_the_collection() -> None:
    """A session holding ACCESS EXCLUSIVE on a table: measuring sizes gives up after the
    lock timeout, the sizes stay those of pg_class, everything else is collected."""
    with scratch_database() as url:
        pg_run(url, "CREATE EXTENSION pgstattuple")
        make_bloat(url)
        with psycopg.connect(url) as holder:
            holder.execute("LOCK TABLE churn IN ACCESS EXCLUSIVE MODE")
            c = run(url)
            holder.rollback()
    notes = " ".join(c.details["notes"])
    assert "sizes: a lock was not granted" in notes
    churn = row(c, "tables", "public.churn")
    assert not churn["size_exact"] and churn["size_bytes"] > 0
    assert "vacuum:public.churn" in keys(c, "vacuum")
    assert churn["bloat_source"] == "estimate"  # pgstattuple could not read it either


# -- degraded parts ---------------------------------------------------------------------------


def test_estimates_bloat_without_pgstattuple() -> None:
    """Without the extensions: the bloat comes from the pg_stats estimate (high for the
    churned table and its primary key, low for a freshly filled table), with a note; the
    preloaded but uncreated pg_stat_statements becomes a hint."""
    with scratch_database() as url:
        make_bloat(url)
        pg_run(
            url,
            "CREATE TABLE fresh (id bigint PRIMARY KEY, name text, at timestamptz)",
            "INSERT INTO fresh SELECT g, 'name ' || g, now() FROM generate_series(1, 50000) g",
            "ANALYZE fresh",
        )
        c = run(url)
    churn = row(c, "tables", "public.churn")
    assert churn["bloat_source"] == "estimate" and churn["bloat_ratio"] > 0.6
    assert row(c, "indexes", "public.churn_pkey")["bloat_ratio"] > 0.6
    assert row(c, "tables", "public.fresh")["bloat_ratio"] < 0.15
    assert row(c, "indexes", "public.fresh_pkey")["bloat_ratio"] < 0.15
    assert "estimated from pg_stats" in finding(c, "table_bloat:public.churn").evidence
    assert "CREATE EXTENSION pgstattuple" in " ".join(c.details["notes"])
    hint = finding(c, "extension:pg_stat_statements")
    assert hint.sql == "CREATE EXTENSION pg_stat_statements;" and hint.severity == "info"
    assert c.details["queries"] == [] and c.statements == {}


def test_bloat_estimated_only_where_it_matters() -> None:
    """pg_stats costs in proportion to the relations asked about: tables under
    bloat_min_size get an estimate only when among the SERIES_LIMIT largest."""
    with scratch_database() as url:
        make_bloat(url)
        pg_run(
            url,
            f"DO $$ BEGIN FOR i IN 1..{SERIES_LIMIT + 10} LOOP"
            " EXECUTE format('CREATE TABLE %I (id int); INSERT INTO %I VALUES (1)',"
            " 'tiny' || i, 'tiny' || i); END LOOP; END $$",
            "ANALYZE",
        )
        c = run(url, thresholds=THRESHOLDS | {"bloat_min_size": "1MiB"})
    estimated = [t["name"] for t in c.details["tables"] if t["bloat_source"]]
    assert len(c.details["tables"]) == SERIES_LIMIT + 11
    assert len(estimated) == SERIES_LIMIT and "public.churn" in estimated
    assert "table_bloat:public.churn" in keys(c, "table_bloat")


def test_pg_monitor_role_suffices() -> None:
    """A role with pg_monitor only: it may not read the tables, so pg_stats hides their
    statistics (no bloat estimate, with a note), but everything else is collected."""
    with scratch_database() as url, monitor_role() as role:
        make_problems(url)
        c = run(pg_url(url.rsplit("/", 1)[1], user=role))
    assert "unused_index:public.orders_note_idx" in keys(c, "unused_index")
    assert "invalid_index:public.dup_v_key" in keys(c, "invalid_index")
    assert len(keys(c, "duplicate_index")) == 1
    assert "vacuum:public.churn" in keys(c, "vacuum")
    assert any(q["query"] == "SELECT pg_sleep($1)" for q in c.details["queries"])
    assert row(c, "tables", "public.churn")["bloat_bytes"] is None
    assert "no statistics in pg_stats" in " ".join(c.details["notes"])


def test_unreachable_database_raises_without_the_password() -> None:
    url = "postgresql://postgres:hunter2-secret@127.0.0.1:5432/wk_pgc_does_not_exist"
    with pytest.raises(DbError) as err:
        run(url)
    assert "wk_pgc_does_not_exist" in str(err.value)
    assert "hunter2-secret" not in str(err.value)


def test_bad_url_is_a_dberror() -> None:
    with pytest.raises(DbError, match='database "app"'):
        run("not a connection string at all")
