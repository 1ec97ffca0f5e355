"""MariaDB health collection against the machine's MariaDB: a throw-away schema per test
(random name, always dropped) with a fragmented table, a duplicate index, a slow query, a
blocking lock; and the parts that degrade when the user may not read them."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pymysql
import pytest

from tests.conftest import remember_secret
from watchkeeper.dbmaint.config import MariadbDatabase, Thresholds
from watchkeeper.dbmaint.interface import Collection, DbError, Finding
from watchkeeper.dbmaint.mariadb import indexes as ix
from watchkeeper.dbmaint.mariadb.collect import collect
from watchkeeper.dbmaint.mariadb.server import replica_channel
from watchkeeper.dbmaint.mariadb.session import Server

T = TypeVar("T")


def connect(database: str | None = None, user: str = "root", password: str = "") -> Any:
    return pymysql.connect(
        host="127.0.0.1",
        port=3306,
        user=user,
        password=password,
        database=database,
        autocommit=True,
    )


def run(database: str | None, *statements: str) -> None:
    conn = connect(database)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"wk_dbh_{uuid.uuid4().hex[:10]}"
    run(None, f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        run(None, f"DROP DATABASE IF EXISTS `{name}`")


def target(
    schema: str, url: str = "mysql://root@127.0.0.1:3306", top: int = 100, **thresholds: Any
) -> MariadbDatabase:
    return MariadbDatabase.model_validate(
        {
            "name": "app",
            "type": "mariadb",
            "url": f"{url}/{schema}",
            "statements_top": top,
            "thresholds": thresholds,
        }
    )


def eventually(read: Callable[[], T], ok: Callable[[T], bool], what: str, limit: float = 60) -> T:
    """Return the first ``read()`` that satisfies ``ok``; fail after ``limit`` seconds
    (InnoDB purge and lock waits happen in the server's own time)."""
    end = time.monotonic() + limit
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() > end:
            pytest.fail(f"{what} did not happen within {limit:g}s; last: {value!r}")
        time.sleep(0.3)


def finding(c: Collection, key: str) -> Finding:
    found = {f.key: f for f in c.findings}
    assert key in found, sorted(found)
    return found[key]


def samples(c: Collection, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in c.samples if s.name == name}


def test_fragmented_table_gets_optimize_and_a_full_one_does_not(schema: str) -> None:
    fill = "SELECT seq, REPEAT('x', 900) FROM seq_1_to_20000"
    run(
        schema,
        "CREATE TABLE churned (id INT PRIMARY KEY, body VARCHAR(1000)) ENGINE=InnoDB",
        f"INSERT INTO churned {fill}",
        "CREATE TABLE kept (id INT PRIMARY KEY, body VARCHAR(1000)) ENGINE=InnoDB",
        f"INSERT INTO kept {fill}",
        "DELETE FROM churned WHERE id % 10 <> 0",
    )
    t = target(schema, fragmentation_ratio=0.5, bloat_min_size="4MiB")

    def analysed() -> Collection:  # the purge frees the pages; ANALYZE publishes it
        run(schema, "ANALYZE TABLE churned, kept")
        return asyncio.run(collect(t))

    c = eventually(
        analysed,
        lambda c: any(f.key == f"fragmentation:{schema}.churned" for f in c.findings),
        "fragmentation of the churned table",
    )
    f = finding(c, f"fragmentation:{schema}.churned")
    assert f.sql == f"OPTIMIZE TABLE `{schema}`.`churned`"
    assert f.severity == "warning" and f.impact_bytes >= 10 * 1024 * 1024
    assert not [x for x in c.findings if x.object == f"{schema}.kept"]
    tables = {t["name"]: t for t in c.details["tables"]}
    assert tables[f"{schema}.churned"]["bloat_ratio"] >= 0.5
    assert tables[f"{schema}.kept"]["bloat_ratio"] < 0.5
    assert tables[f"{schema}.kept"]["rows"] > 15_000  # an estimate: InnoDB samples pages
    free = samples(c, "table_data_free_bytes")
    assert (("table", f"{schema}.churned"),) in free
    assert samples(c, "size_bytes")[()] == c.size_bytes >= 20 * 1024 * 1024
    assert c.details["notes"] == []
    assert c.queries >= 10


def test_slow_query_from_the_digest(schema: str) -> None:
    conn = connect(schema)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT SLEEP(0.3)")
            cur.execute("SELECT 1 + 1")
    finally:
        conn.close()
    c = asyncio.run(collect(target(schema, slow_query_mean="100ms")))
    slow = [f for f in c.findings if f.kind == "slow_query"]
    assert len(slow) == 1, slow
    digest = slow[0].object
    assert slow[0].key == f"slow_query:{digest}"
    assert "SLEEP" in c.statements[digest].upper()
    queries = {q["queryid"]: q for q in c.details["queries"]}
    assert queries[digest]["calls"] == 1 and queries[digest]["rows_sent"] == 1
    fast = [q for q in queries.values() if "SLEEP" not in q["query"].upper()]
    assert fast and all(
        f"slow_query:{q['queryid']}" not in {x.key for x in c.findings} for q in fast
    )
    labels = (("queryid", digest),)
    assert samples(c, "statement_calls_total")[labels] == 1
    assert samples(c, "statement_exec_seconds_total")[labels] > 0
    # the collection's own statements run without a default schema: not in the digest
    assert not any("information_schema" in text.lower() for text in c.statements.values())


def test_statements_top_bounds_the_digest(schema: str) -> None:
    conn = connect(schema)
    try:
        with conn.cursor() as cur:
            for n in range(1, 6):
                cur.execute("SELECT " + ", ".join(["1"] * n))  # five different digests
    finally:
        conn.close()
    c = asyncio.run(collect(target(schema, top=2)))
    assert len(c.details["queries"]) == 2 and len(c.statements) == 2
    assert asyncio.run(collect(target(schema, top=0))).details["queries"] == []


def test_duplicate_index_found_and_unique_one_kept(schema: str) -> None:
    run(
        schema,
        "CREATE TABLE orders (id INT PRIMARY KEY, customer INT, placed DATE, ref CHAR(8), "
        "KEY by_customer (customer), KEY by_customer_date (customer, placed), "
        "UNIQUE KEY ref_unique (ref), KEY ref_plain (ref), KEY by_placed (placed))",
    )
    c = asyncio.run(collect(target(schema)))
    dupes = {f.key: f for f in c.findings if f.kind == "duplicate_index"}
    assert set(dupes) == {
        f"duplicate_index:{schema}.orders.by_customer",
        f"duplicate_index:{schema}.orders.ref_plain",
    }
    f = dupes[f"duplicate_index:{schema}.orders.by_customer"]
    assert f.sql == f"ALTER TABLE `{schema}`.`orders` DROP INDEX `by_customer`"
    assert "by_customer_date" in f.evidence
    names = {i["name"] for i in c.details["indexes"]}
    assert names == {
        "PRIMARY",
        "by_customer",
        "by_customer_date",
        "ref_unique",
        "ref_plain",
        "by_placed",
    }


def test_blocking_lock_and_open_transactions_seen(schema: str) -> None:
    run(schema, "CREATE TABLE acct (id INT PRIMARY KEY, v INT)", "INSERT INTO acct VALUES (1, 0)")
    holder, waiter = connect(schema), connect(schema)
    done = threading.Event()
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            holder_id = cur.fetchone()[0]
            cur.execute("BEGIN")
            cur.execute("UPDATE acct SET v = 1 WHERE id = 1")
        with waiter.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            waiter_id = cur.fetchone()[0]
            cur.execute("SET SESSION innodb_lock_wait_timeout = 120")

        def wait_for_lock() -> None:
            try:
                with waiter.cursor() as cur:
                    cur.execute("UPDATE acct SET v = 2 WHERE id = 1")
            finally:
                done.set()

        thread = threading.Thread(target=wait_for_lock)
        thread.start()
        t = target(schema, long_transaction="1s", idle_in_transaction="1s", lock_wait="1s")
        keys = {
            f"idle_in_transaction:{holder_id}",
            f"long_transaction:{waiter_id}",
            f"lock_wait:{holder_id}",
        }
        c = eventually(
            lambda: asyncio.run(collect(t)),
            lambda c: keys <= {f.key for f in c.findings},
            "the lock wait and the open transactions",
        )
        pair = [(lk["waiting"], lk["blocking"]) for lk in c.details["locks"]]
        assert (waiter_id, holder_id) in pair
        assert samples(c, "blocked_sessions")[()] >= 1
        assert finding(c, f"idle_in_transaction:{holder_id}").sql == f"KILL {holder_id}"
        threads = {s["thread"]: s for s in c.details["sessions"]}
        assert threads[holder_id]["rows_modified"] == 1
        assert "UPDATE acct" in threads[waiter_id]["query"]
        assert samples(c, "idle_in_transaction")[()] >= 1
        assert not done.is_set()  # the collection did not disturb the waiter
    finally:
        holder.rollback()
        done.wait(30)
        holder.close()
        waiter.close()
    thread.join(30)
    conn = connect(schema)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT v FROM acct WHERE id = 1")
            assert cur.fetchone()[0] == 2  # the waiter went ahead once released
    finally:
        conn.close()


def test_server_figures_and_no_replica(schema: str) -> None:
    c = asyncio.run(collect(target(schema)))
    summary = c.details["summary"]
    assert summary["server"] == "mariadb" and summary["schemas"] == [schema]
    assert c.details["replication"]["role"] in ("standalone", "primary")
    assert not samples(c, "replication_lag_seconds")
    conns = samples(c, "connections")
    assert conns[(("state", "active"),)] >= 1  # this collection's own query
    assert samples(c, "max_connections")[()] == int(c.details["settings"]["max_connections"])
    assert 0 < samples(c, "buffer_pool_hit_ratio")[()] <= 1
    # a ratio this low flags the server (the finding wants the server's real load)
    crowded = asyncio.run(collect(target(schema, connections_ratio=0.0001)))
    f = finding(crowded, f"connections:{schema}")
    assert f.sql.startswith("SET GLOBAL max_connections = ")


def test_missing_privileges_degrade_with_notes(schema: str) -> None:
    user = f"wk_ro_{uuid.uuid4().hex[:8]}"
    password = remember_secret(f"pw-{uuid.uuid4().hex}")
    run(
        None,
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT ON `{schema}`.* TO '{user}'@'%'",
    )
    run(schema, "CREATE TABLE t (id INT PRIMARY KEY, k INT, KEY a (k), KEY b (k, id))")
    try:
        url = f"mysql://{user}:{password}@127.0.0.1:3306"
        c = asyncio.run(collect(target(schema, url=url)))
        assert [t["name"] for t in c.details["tables"]] == [f"{schema}.t"]
        assert f"duplicate_index:{schema}.t.a" in {f.key for f in c.findings}
        notes = "\n".join(c.details["notes"])
        for part in (
            "statement digest",
            "transactions",
            "lock waits",
            "replication",
            "index sizes",
        ):
            assert part in notes
        assert "PROCESS" in notes and "not permitted" in notes
        assert password not in notes
        assert c.details["sessions"] == [] and c.details["summary"]["open_transactions"] is None
        with pytest.raises(DbError) as err:
            asyncio.run(collect(target(schema, url=f"mysql://{user}:{password}x@127.0.0.1:3306")))
        assert "Access denied" in str(err.value) and password not in str(err.value)
    finally:
        run(None, f"DROP USER IF EXISTS '{user}'@'%'")


def test_unreachable_server_and_missing_schema_raise(schema: str) -> None:
    with pytest.raises(DbError, match="does not exist"):
        asyncio.run(collect(target(schema + "_gone")))
    with pytest.raises(DbError, match="cannot connect"):
        asyncio.run(collect(target(schema, url="mysql://root@127.0.0.1:1")))


@pytest.mark.parametrize(
    ("text", "flavor", "version", "mysql8"),
    [
        ("10.11.19-MariaDB-0+deb12u1", "mariadb", (10, 11, 19), False),
        ("5.5.5-10.6.12-MariaDB", "mariadb", (10, 6, 12), False),
        ("8.0.36", "mysql", (8, 0, 36), True),
        ("5.7.44-log", "mysql", (5, 7, 44), False),
    ],
)
def test_server_version_decides_the_syntax(
    text: str, flavor: str, version: tuple[int, int, int], mysql8: bool
) -> None:
    server = Server.parse(text)
    assert (server.flavor, server.version, server.mysql8) == (flavor, version, mysql8)


def test_replica_rows_of_both_flavours_read_alike() -> None:
    mariadb = replica_channel(
        {
            "Connection_name": "",
            "Master_Host": "db-1",
            "Master_Port": 3306,
            "Slave_IO_Running": "Yes",
            "Slave_SQL_Running": "No",
            "Seconds_Behind_Master": None,
            "Last_SQL_Error": "Duplicate entry '7' for key 'PRIMARY'",
            "Last_IO_Error": "",
        }
    )
    mysql = replica_channel(
        {
            "Channel_Name": "eu",
            "Source_Host": "db-2",
            "Source_Port": 3307,
            "Replica_IO_Running": "Yes",
            "Replica_SQL_Running": "Yes",
            "Seconds_Behind_Source": 42,
        }
    )
    assert (mariadb["name"], mariadb["sql_running"], mariadb["lag_seconds"]) == (
        "db-1:3306",
        "No",
        None,
    )
    assert "Duplicate entry" in mariadb["last_sql_error"]
    assert (mysql["name"], mysql["source"], mysql["lag_seconds"]) == ("eu", "db-2:3307", 42)


def _index(name: str, cols: list[str], unique: bool = False, size: int = 4 << 20) -> ix.Index:
    return ix.Index("s", "t", name, unique, "BTREE", [(c, None) for c in cols], size_bytes=size)


def test_unused_index_needs_a_week_of_counters_and_a_used_table() -> None:
    indexes = [_index("PRIMARY", ["id"], True), _index("idle", ["a"]), _index("busy", ["b"])]
    usage: ix.Usage = {("s", "t", "PRIMARY"): 900, ("s", "t", "idle"): 0, ("s", "t", "busy"): 5}
    week = ix.UNUSED_MIN_UPTIME_S
    found = ix.unused(indexes, usage, week, Thresholds())
    assert [f.key for f in found] == ["unused_index:s.t.idle"]
    assert found[0].sql == "ALTER TABLE `s`.`t` DROP INDEX `idle`"
    assert ix.unused(indexes, usage, week - 1, Thresholds()) == []
    untouched = dict.fromkeys(usage, 0)  # counters lost (or table never used): no verdict
    assert ix.unused(indexes, untouched, week, Thresholds()) == []
    small = Thresholds(unused_index_min_size=8 << 20)
    assert ix.unused(indexes, usage, week, small) == []
