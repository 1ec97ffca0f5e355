"""PostgreSQL maintenance against the machine's server: the thresholds choose the tables and
indexes, the statements remove the bloat (the before/after figures show it), and a lock
held by another session fails only its own step, without harming the data."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import psycopg
import pytest

from tests.dbmaint.maint_fixtures import churned, dead_tuples, pg, pg_one
from watchkeeper.dbmaint.config import MaintenanceTask, PostgresDatabase
from watchkeeper.dbmaint.interface import Step
from watchkeeper.dbmaint.postgres import maintenance
from watchkeeper.dbmaint.postgres.collect import collect

SMALL = {"vacuum_min_dead": 1000, "bloat_min_size": "64KiB"}


def _target(url: str, **thresholds: Any) -> PostgresDatabase:
    return PostgresDatabase.model_validate(
        {"name": "app", "type": "postgres", "url": url, "thresholds": {**SMALL, **thresholds}}
    )


def _task(action: str, **fields: Any) -> MaintenanceTask:
    return MaintenanceTask.model_validate(
        {"name": f"{action}-task", "action": action, "windows": ["night"], **fields}
    )


def _plan_run(url: str, task: MaintenanceTask) -> tuple[list[Step], list[Step]]:
    target = _target(url)

    async def both() -> tuple[list[Step], list[Step]]:
        steps = await maintenance.plan(target, task)
        return steps, await maintenance.run(target, task, steps)

    return asyncio.run(both())


def test_vacuum_chooses_the_churned_table_and_removes_its_dead_tuples(maint_pg: str) -> None:
    churned(maint_pg, "churned", 20_000)  # every row updated: 50% dead
    churned(maint_pg, "quiet", 20_000, updated_every=200)  # 100 dead: under the ratio
    assert dead_tuples(maint_pg, "churned") == 20_000

    planned, done = _plan_run(maint_pg, _task("vacuum"))

    assert [s.target for s in planned] == ["public.churned"]
    assert planned[0].sql == 'VACUUM (ANALYZE) "public"."churned"'
    assert "dead tuples 50% (20,000)" in planned[0].reason
    (step,) = done
    assert step.status == "succeeded", step.error
    assert step.before["dead_tuples"] == 20_000
    assert step.after["dead_tuples"] == 0
    assert dead_tuples(maint_pg, "churned") == 0
    assert dead_tuples(maint_pg, "quiet") == 100  # not touched
    assert (
        pg_one(maint_pg, "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'quiet'")
        is None
    )


def test_all_tables_ignores_the_thresholds_and_globs_narrow_the_choice(maint_pg: str) -> None:
    churned(maint_pg, "churned", 5_000)
    churned(maint_pg, "quiet", 5_000, updated_every=500)
    pg(maint_pg, "CREATE SCHEMA audit")
    pg(maint_pg, "CREATE TABLE audit.log (id int) WITH (autovacuum_enabled = false)")
    target = _target(maint_pg)

    def targets(**fields: Any) -> list[str]:
        return [s.target for s in asyncio.run(maintenance.plan(target, _task("vacuum", **fields)))]

    assert targets() == ["public.churned"]
    assert set(targets(all_tables=True)) == {"public.churned", "public.quiet", "audit.log"}
    assert targets(all_tables=True, tables=["audit.*"]) == ["audit.log"]
    assert set(targets(all_tables=True, exclude=["quiet", "audit.*"])) == {"public.churned"}
    assert targets(exclude=["public.churned"]) == []


def test_reindex_rebuilds_only_the_bloated_index_and_shrinks_it(maint_pg: str) -> None:
    pg(
        maint_pg,
        "CREATE TABLE items (id int, v int) WITH (autovacuum_enabled = false)",
        "CREATE INDEX items_bloated ON items (id)",
        "INSERT INTO items SELECT g, g FROM generate_series(1, 100000) g",
        "DELETE FROM items WHERE id % 10 <> 0",  # nine rows in ten: every leaf page thinned
        "VACUUM ANALYZE items",
        "CREATE INDEX items_fresh ON items (v)",  # built after: packed
    )

    planned, done = _plan_run(maint_pg, _task("reindex"))

    assert [s.target for s in planned] == ["public.items_bloated"]
    assert planned[0].sql == 'REINDEX INDEX CONCURRENTLY "public"."items_bloated"'
    assert "measured with pgstatindex" in planned[0].reason
    (step,) = done
    assert step.status == "succeeded", step.error
    assert step.after["size_bytes"] < step.before["size_bytes"] / 4
    assert step.after["bloat_bytes"] < step.before["bloat_bytes"] / 4
    assert pg_one(maint_pg, "SELECT pg_relation_size('items_bloated')") == step.after["size_bytes"]
    assert pg_one(maint_pg, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 0


def test_a_locked_table_fails_its_step_at_lock_timeout_and_the_others_run(maint_pg: str) -> None:
    churned(maint_pg, "locked", 5_000)
    churned(maint_pg, "free", 6_000)
    task = _task("vacuum", lock_timeout="1s")
    with psycopg.connect(maint_pg) as holder:
        holder.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")  # stays in a transaction
        planned, done = _plan_run(maint_pg, task)
        holder.rollback()

    assert [s.target for s in planned] == ["public.free", "public.locked"]
    free, locked = done
    assert free.status == "succeeded"
    assert free.after["dead_tuples"] == 0
    assert locked.status == "failed"
    assert "lock on public.locked not granted within lock_timeout (1s)" in locked.error
    assert pg_one(maint_pg, "SELECT count(*) FROM locked") == 5_000
    assert dead_tuples(maint_pg, "locked") == 5_000


def test_a_reindex_blocked_by_a_writer_fails_and_its_leftover_is_dropped_next_time(
    maint_pg: str,
) -> None:
    pg(
        maint_pg,
        "CREATE TABLE items (id int, v int) WITH (autovacuum_enabled = false)",
        "CREATE INDEX items_v ON items (v)",
        "INSERT INTO items SELECT g, g FROM generate_series(1, 50000) g",
        "DELETE FROM items WHERE id % 10 <> 0",
        "VACUUM ANALYZE items",
    )
    task = _task("reindex", lock_timeout="1s")
    with psycopg.connect(maint_pg) as writer:
        writer.execute("INSERT INTO items VALUES (-1, -1)")  # open: REINDEX must wait for it
        planned, done = _plan_run(maint_pg, task)
        writer.commit()

    (step,) = done
    assert [s.target for s in planned] == ["public.items_v"]
    assert step.status == "failed"
    assert "not granted within lock_timeout (1s)" in step.error
    assert pg_one(maint_pg, "SELECT count(*) FROM items") == 5_001
    # the writer is gone: the next run drops what the failed one left and rebuilds
    planned, done = _plan_run(maint_pg, task)
    assert [s.status for s in done] == ["succeeded"]
    assert pg_one(maint_pg, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 0
    assert pg_one(maint_pg, "SELECT count(*) FROM pg_class WHERE relname LIKE '%ccnew%'") == 0


def test_analyze_chooses_tables_modified_since_their_last_analyze(maint_pg: str) -> None:
    pg(
        maint_pg,
        "CREATE TABLE grown (id int) WITH (autovacuum_enabled = false)",
        "CREATE TABLE steady (id int) WITH (autovacuum_enabled = false)",
        "INSERT INTO grown SELECT generate_series(1, 1000)",
        "INSERT INTO steady SELECT generate_series(1, 1000)",
        "ANALYZE",
        "INSERT INTO grown SELECT generate_series(1, 500)",
        "INSERT INTO steady SELECT generate_series(1, 10)",
    )

    planned, done = _plan_run(maint_pg, _task("analyze"))

    assert [s.target for s in planned] == ["public.grown"]
    (step,) = done
    assert step.status == "succeeded"
    assert step.before["modified_since_analyze"] == 500
    assert step.after["modified_since_analyze"] == 0


def test_no_step_starts_after_max_runtime(maint_pg: str) -> None:
    churned(maint_pg, "churned", 5_000)

    planned, done = _plan_run(maint_pg, _task("vacuum", max_runtime="0s"))

    assert [s.status for s in done] == ["skipped"]
    assert "max_runtime (0s)" in done[0].error
    assert dead_tuples(maint_pg, "churned") == 5_000


def _bloated_table(url: str) -> None:
    pg(
        url,
        "CREATE TABLE orders (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false)",
        "INSERT INTO orders SELECT g, repeat('o', 200) FROM generate_series(1, 40000) g",
        "DELETE FROM orders WHERE id % 4 <> 0",
        "VACUUM ANALYZE orders",  # no dead tuples left, but three pages in four are free
    )


def test_repack_without_the_extension_is_skipped_with_the_reason(maint_pg: str) -> None:
    _bloated_table(maint_pg)

    planned, done = _plan_run(maint_pg, _task("repack"))

    assert [(s.target, s.status) for s in done] == [("public.orders", "skipped")]
    assert "CREATE EXTENSION pg_repack" in done[0].error or "not installed" in done[0].error
    assert done[0].after == {}


@pytest.mark.skipif(shutil.which("pg_repack") is None, reason="pg_repack is not installed")
def test_repack_rebuilds_the_bloated_table_smaller(maint_pg: str) -> None:
    _bloated_table(maint_pg)
    pg(maint_pg, "CREATE EXTENSION pg_repack")

    planned, done = _plan_run(maint_pg, _task("repack"))

    assert [s.target for s in planned] == ["public.orders"]
    assert planned[0].sql.startswith("pg_repack --no-order --no-kill-backend --wait-timeout=5 ")
    (step,) = done
    assert step.status == "succeeded", step.error
    assert step.after["size_bytes"] < step.before["size_bytes"] / 2
    assert step.after["bloat_bytes"] < step.before["bloat_bytes"] / 4
    assert pg_one(maint_pg, "SELECT count(*) FROM orders") == 10_000


@pytest.mark.skipif(shutil.which("pg_repack") is None, reason="pg_repack is not installed")
def test_repack_gives_up_on_a_table_in_use_and_leaves_no_trace(maint_pg: str) -> None:
    _bloated_table(maint_pg)
    pg(maint_pg, "CREATE EXTENSION pg_repack")
    with psycopg.connect(maint_pg) as reader:
        reader.execute("SELECT count(*) FROM orders")  # its transaction stays open
        planned, done = _plan_run(maint_pg, _task("repack", lock_timeout="1s"))
        reader.rollback()

    (step,) = done
    assert step.status == "failed"
    assert "not granted within lock_timeout (1s)" in step.error
    assert "pg_repack gave up waiting" in step.error
    assert step.after["size_bytes"] == step.before["size_bytes"]
    assert pg_one(maint_pg, "SELECT count(*) FROM orders") == 10_000
    assert pg(maint_pg, "SELECT tgname FROM pg_trigger WHERE tgrelid = 'orders'::regclass") == []


def test_maintenance_sees_the_bloat_the_collector_reports(maint_pg: str) -> None:
    # TOASTed values (the collector counts a table's TOAST pages) and a measured index:
    # the figures a task plans with are those the advisor showed
    pg(
        maint_pg,
        "CREATE TABLE docs (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false)",
        "INSERT INTO docs SELECT g, (SELECT string_agg(md5(g::text || i::text), '')"
        " FROM generate_series(1, 80) i) FROM generate_series(1, 4000) g",
        "DELETE FROM docs WHERE id % 4 <> 0",
        "VACUUM docs",
        "ANALYZE docs",
    )
    target = _target(maint_pg, bloat_min_size="8KiB", bloat_ratio=0.1)
    found = asyncio.run(collect(target))
    tables = {t["name"]: t for t in found.details["tables"]}
    indexes = {i["name"]: i for i in found.details["indexes"]}
    assert indexes["public.docs_pkey"]["bloat_source"] == "pgstatindex"

    vacuum = asyncio.run(maintenance.plan(target, _task("vacuum", all_tables=True)))
    reindex = asyncio.run(maintenance.plan(target, _task("reindex", all_tables=True)))

    assert tables["public.docs"]["bloat_source"] == "pgstattuple"  # measured by the collector
    (table_step,) = [s for s in vacuum if s.target == "public.docs"]
    assert table_step.before["bloat_bytes"] > 0
    (index_step,) = [s for s in reindex if s.target == "public.docs_pkey"]
    assert index_step.before["bloat_bytes"] == indexes["public.docs_pkey"]["bloat_bytes"]
    assert "measured with pgstatindex" in index_step.reason


def test_maintenance_estimates_bloat_as_the_collector_does(maint_pg: str) -> None:
    pg(
        maint_pg,
        "DROP EXTENSION pgstattuple",  # estimates on both sides
        "CREATE TABLE docs (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false)",
        "INSERT INTO docs SELECT g, (SELECT string_agg(md5(g::text || i::text), '')"
        " FROM generate_series(1, 80) i) FROM generate_series(1, 4000) g",
        "DELETE FROM docs WHERE id % 4 <> 0",
        "VACUUM docs",
        "ANALYZE docs",
    )
    target = _target(maint_pg, bloat_min_size="8KiB", bloat_ratio=0.1)
    found = asyncio.run(collect(target))
    tables = {t["name"]: t for t in found.details["tables"]}
    indexes = {i["name"]: i for i in found.details["indexes"]}
    assert tables["public.docs"]["bloat_source"] == "estimate"

    vacuum = asyncio.run(maintenance.plan(target, _task("vacuum", all_tables=True)))
    reindex = asyncio.run(maintenance.plan(target, _task("reindex", all_tables=True)))

    (table_step,) = [s for s in vacuum if s.target == "public.docs"]
    assert table_step.before["bloat_bytes"] == tables["public.docs"]["bloat_bytes"]
    (index_step,) = [s for s in reindex if s.target == "public.docs_pkey"]
    assert index_step.before["bloat_bytes"] == indexes["public.docs_pkey"]["bloat_bytes"]
