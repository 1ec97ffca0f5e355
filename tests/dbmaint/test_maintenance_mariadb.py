"""MariaDB maintenance against the machine's server: OPTIMIZE TABLE of the fragmented table
only, ANALYZE TABLE of the changed ones, and a table locked by another session failing only
its own step at lock_wait_timeout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.dbmaint.maint_fixtures import my, my_connect
from watchkeeper.dbmaint.config import MaintenanceTask, MariadbDatabase
from watchkeeper.dbmaint.interface import DbError, Step
from watchkeeper.dbmaint.mariadb import maintenance
from watchkeeper.dbmaint.mariadb.collect import collect


def _target(database: str) -> MariadbDatabase:
    return MariadbDatabase.model_validate(
        {
            "name": "shop",
            "type": "mariadb",
            "url": f"mysql://root@127.0.0.1:3306/{database}",
            "thresholds": {"bloat_min_size": "1MiB", "fragmentation_ratio": 0.2},
        }
    )


def _task(action: str, **fields: Any) -> MaintenanceTask:
    return MaintenanceTask.model_validate(
        {"name": f"{action}-task", "action": action, "windows": ["night"], **fields}
    )


def _plan_run(database: str, task: MaintenanceTask) -> tuple[list[Step], list[Step]]:
    target = _target(database)

    async def both() -> tuple[list[Step], list[Step]]:
        steps = await maintenance.plan(target, task)
        return steps, await maintenance.run(target, task, steps)

    return asyncio.run(both())


def _fragmented(database: str, table: str) -> None:
    """A table with most of its rows deleted: megabytes free inside its tablespace."""
    my(
        database,
        f"CREATE TABLE {table} (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB",
        f"INSERT INTO {table} SELECT seq, REPEAT('z', 2000) FROM seq_1_to_8000",
        f"DELETE FROM {table} WHERE id > 800",
    )
    # the purge thread frees the pages in the background: wait until data_free shows them
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        free = my(
            None,
            "SELECT data_free FROM information_schema.tables "
            f"WHERE table_schema = '{database}' AND table_name = '{table}'",
        )[0][0]
        if free >= 4 * 1024 * 1024:
            return
        time.sleep(0.2)
    raise AssertionError(f"{table}: data_free stayed {free}")


def test_optimize_chooses_the_fragmented_table_and_frees_its_space(maint_my: str) -> None:
    _fragmented(maint_my, "orders")
    my(
        maint_my,
        "CREATE TABLE tags (id INT PRIMARY KEY, name VARCHAR(20))",
        "INSERT INTO tags SELECT seq, CONCAT('t', seq) FROM seq_1_to_100",
    )

    planned, done = _plan_run(maint_my, _task("optimize"))

    assert [s.target for s in planned] == ["orders"]
    assert planned[0].sql == "OPTIMIZE TABLE `orders`"
    assert planned[0].reason.startswith("reclaimable ")
    (step,) = done
    assert step.status == "succeeded", step.error
    assert step.after["bloat_bytes"] < step.before["bloat_bytes"]
    assert step.after["size_bytes"] < step.before["size_bytes"] / 2
    assert my(maint_my, "SELECT COUNT(*) FROM orders")[0][0] == 800


def test_analyze_takes_the_tables_changed_since_their_statistics(maint_my: str) -> None:
    my(
        maint_my,
        "CREATE TABLE fresh (id INT PRIMARY KEY) ENGINE=InnoDB",
        "CREATE TABLE settled (id INT PRIMARY KEY) ENGINE=InnoDB",
        "INSERT INTO settled SELECT seq FROM seq_1_to_10",
        "ANALYZE TABLE settled",
        "DELETE FROM mysql.innodb_table_stats "
        f"WHERE database_name = '{maint_my}' AND table_name = 'fresh'",
    )

    planned, done = _plan_run(maint_my, _task("analyze"))

    assert [(s.target, s.reason) for s in planned] == [("fresh", "no persistent statistics yet")]
    assert planned[0].sql == "ANALYZE TABLE `fresh`"
    assert [s.status for s in done] == ["succeeded"]
    everything = asyncio.run(maintenance.plan(_target(maint_my), _task("analyze", all_tables=True)))
    assert {s.target for s in everything} == {"fresh", "settled"}
    qualified = _task("analyze", all_tables=True, tables=[f"{maint_my}.*"], exclude=["fresh"])
    assert [s.target for s in asyncio.run(maintenance.plan(_target(maint_my), qualified))] == [
        "settled"
    ]


def test_a_locked_table_fails_its_step_and_the_next_one_runs(maint_my: str) -> None:
    _fragmented(maint_my, "busy")
    _fragmented(maint_my, "idle")
    holder = my_connect(maint_my)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES busy WRITE")
        planned, done = _plan_run(maint_my, _task("optimize", lock_timeout="1s"))
    finally:
        holder.close()

    by_table = {s.target: s for s in done}
    assert set(by_table) == {"busy", "idle"}
    assert by_table["busy"].status == "failed"
    assert "lock on busy not granted within lock_timeout (1s)" in by_table["busy"].error
    assert by_table["idle"].status == "succeeded", by_table["idle"].error
    assert my(maint_my, "SELECT COUNT(*) FROM busy")[0][0] == 800


def test_a_url_without_a_database_is_refused_with_the_reason() -> None:
    target = MariadbDatabase.model_validate(
        {"name": "shop", "type": "mariadb", "url": "mysql://root@127.0.0.1:3306/"}
    )
    with pytest.raises(DbError, match='database "shop": the url names no database'):
        asyncio.run(maintenance.plan(target, _task("analyze")))


def test_optimize_takes_the_tables_the_collector_finds_fragmented(maint_my: str) -> None:
    # Deleting 9 rows of 10 all over the table empties its pages without freeing whole
    # extents: data_free stays small while the indexes keep the emptied pages
    fill = "SELECT seq, REPEAT('x', 900) FROM seq_1_to_20000"
    my(
        maint_my,
        "CREATE TABLE churned (id INT PRIMARY KEY, body VARCHAR(1000)) ENGINE=InnoDB",
        f"INSERT INTO churned {fill}",
        "CREATE TABLE kept (id INT PRIMARY KEY, body VARCHAR(1000)) ENGINE=InnoDB",
        f"INSERT INTO kept {fill}",
        "DELETE FROM churned WHERE id % 10 <> 0",
    )
    target = MariadbDatabase.model_validate(
        {
            "name": "shop",
            "type": "mariadb",
            "url": f"mysql://root@127.0.0.1:3306/{maint_my}",
            "thresholds": {"bloat_min_size": "4MiB", "fragmentation_ratio": 0.5},
        }
    )
    deadline = time.monotonic() + 60
    while True:  # the purge frees the pages in the server's own time; ANALYZE publishes it
        my(maint_my, "ANALYZE TABLE churned, kept")
        found = asyncio.run(collect(target)).findings  # (a slow DELETE may be one too)
        flagged = {f.object for f in found if f.kind == "fragmentation"}
        if f"{maint_my}.churned" in flagged or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert flagged == {f"{maint_my}.churned"}
    data_free, data = my(
        None,
        "SELECT data_free, data_length FROM information_schema.tables "
        f"WHERE table_schema = '{maint_my}' AND table_name = 'churned'",
    )[0]
    assert data_free < 0.5 * (data + data_free)  # data_free alone would not choose it

    steps = asyncio.run(maintenance.plan(target, _task("optimize")))

    assert [f"{maint_my}.{s.target}" for s in steps] == sorted(flagged)
    assert "unused index pages" in steps[0].reason
    assert steps[0].before["bloat_bytes"] >= 4 * 1024 * 1024
    (done,) = asyncio.run(maintenance.run(target, _task("optimize"), steps))
    assert done.status == "succeeded", done.error
    assert done.after["bloat_bytes"] < done.before["bloat_bytes"] / 2
