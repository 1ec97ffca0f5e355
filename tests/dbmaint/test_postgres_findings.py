"""The PostgreSQL collector's arithmetic and judgements, on hand-made figures: the bloat
estimate and measurements, blocking chains, duplicate indexes, server-level findings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from watchkeeper.dbmaint.config import Thresholds
from watchkeeper.dbmaint.postgres import activity, findings
from watchkeeper.dbmaint.postgres.bloat import (
    Widths,
    estimate_btree,
    estimate_table,
    measured_btree,
    measured_table,
)
from watchkeeper.dbmaint.postgres.model import Index, Server, Session, Table

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TH = Thresholds()
WIDE = Widths(columns=3, with_stats=3, null_frac=0.0, width=100.0, has_name=False)


# -- bloat ------------------------------------------------------------------------------------


def table_estimate(pages: int, **change: Any) -> float | None:
    args: dict[str, Any] = {
        "pages": pages,
        "tuples": 1000.0,
        "toast_pages": 0,
        "toast_tuples": 0.0,
        "widths": WIDE,
        "fillfactor": 100,
        "block_size": 8192,
        "maxalign": 8,
    } | change
    b = estimate_table(**args)
    return None if b is None else b.ratio


def test_table_estimate_packs_tuples_into_pages() -> None:
    # a tuple: 4 (line pointer) + 24 (23-byte header, aligned) + 104 (100, aligned) = 132
    # bytes; (8192 - 24) // 132 = 61 per page; 1,000 rows need 17 pages
    assert table_estimate(17) == 0.0
    assert table_estimate(34) == pytest.approx(0.5)
    assert table_estimate(10) == 0.0  # smaller than expected: no negative bloat
    b = estimate_table(
        pages=34, tuples=1000.0, toast_pages=0, toast_tuples=0.0, widths=WIDE,
        fillfactor=100, block_size=8192, maxalign=8,
    )  # fmt: skip
    assert b is not None and (b.bytes, b.source) == (17 * 8192, "estimate")
    # a fill factor of 50 leaves half of each page free on purpose: 34 pages are right
    assert table_estimate(34, fillfactor=50) == 0.0
    # null columns add a null bitmap (1 byte for 3 columns: the header stays 24 aligned)
    nullable = Widths(columns=3, with_stats=3, null_frac=0.5, width=100.0, has_name=False)
    assert table_estimate(17, widths=nullable) == 0.0


@pytest.mark.parametrize(
    "change",
    [
        {"widths": None},
        {"widths": Widths(columns=3, with_stats=2, null_frac=0, width=80, has_name=False)},
        {"widths": Widths(columns=3, with_stats=3, null_frac=0, width=164, has_name=True)},
        {"tuples": -1.0},  # never vacuumed nor analysed (PostgreSQL 14+)
    ],
)
def test_no_table_estimate_without_trustworthy_statistics(change: dict[str, Any]) -> None:
    assert table_estimate(34, **change) is None


def test_btree_estimate() -> None:
    # an entry: 8 (IndexTupleData) + 8 (a bigint) = 16, plus its 4-byte line pointer; a
    # page holds (8192 - 24 - 16) * 90% // 20 = 366 entries; 10,000 need 1 + 28 pages
    key = Widths(columns=1, with_stats=1, null_frac=0.0, width=8.0, has_name=False)
    args: dict[str, Any] = {
        "tuples": 10_000.0, "widths": key, "fillfactor": 90, "block_size": 8192, "maxalign": 8,
    }  # fmt: skip
    fresh = estimate_btree(pages=29, **args)
    assert fresh is not None and fresh.ratio == 0.0
    bloated = estimate_btree(pages=290, **args)
    assert bloated is not None and bloated.ratio == pytest.approx(261 / 290)
    assert bloated.bytes == 261 * 8192
    assert estimate_btree(pages=0, **args) is None


def test_measurements() -> None:
    # pgstattuple: dead tuples and free space are waste, less what the fill factor keeps
    m = measured_table(table_len=100_000, dead_tuple_len=20_000, free_space=30_000, fillfactor=90)
    assert (m.bytes, m.ratio, m.source) == (40_000, 0.4, "pgstattuple")
    assert measured_table(table_len=0, dead_tuple_len=0, free_space=0, fillfactor=100).bytes == 0
    # pgstatindex: leaves half as dense as the fill factor makes them waste half the leaves
    i = measured_btree(
        index_size=101 * 8192, leaf_pages=100, empty_pages=0, deleted_pages=1,
        avg_leaf_density=45.0, fillfactor=90, block_size=8192,
    )  # fmt: skip
    assert i.bytes == 51 * 8192 and i.source == "pgstatindex"
    empty = measured_btree(
        index_size=8192, leaf_pages=0, empty_pages=0, deleted_pages=0,
        avg_leaf_density=float("nan"), fillfactor=90, block_size=8192,
    )  # fmt: skip
    assert empty.bytes == 0


# -- sessions ---------------------------------------------------------------------------------


def session(pid: int, *blocked_by: int, state: str = "active", wait_s: float = 10.0) -> Session:
    return Session(
        pid=pid, database="app", user="app", application="web", client="10.0.0.1",
        state=state, wait="Lock:transactionid" if blocked_by else "", query=f"q{pid}",
        xact_s=wait_s, state_s=wait_s, query_s=wait_s, xmin_age=None, blocked_by=blocked_by,
    )  # fmt: skip


def test_chains_follow_waits_to_the_root_blocker() -> None:
    sessions = [
        session(1, state="idle in transaction"),
        session(2, 1),
        session(3, 2),  # waits on 2, which waits on 1
        session(4, 1, wait_s=1.0),
        session(7),
        session(8, 7, wait_s=2.0),
    ]
    first, second = activity.chains(sessions)
    assert first.blocker.pid == 1
    assert [(s.pid, depth) for s, depth in first.waiting] == [(2, 1), (4, 1), (3, 2)]
    assert second.blocker.pid == 7 and second.longest_wait_s == 2.0
    found = {f.key: f for f in activity.lock_waits([first, second], Thresholds())}
    assert set(found) == {"lock_wait:1"}  # 8 has waited under the lock_wait threshold
    assert found["lock_wait:1"].sql == "SELECT pg_terminate_backend(1);"  # idle: terminate


def test_chains_survive_a_deadlock_cycle() -> None:
    (chain,) = activity.chains([session(1, 2), session(2, 1)])
    assert {chain.blocker.pid} | {s.pid for s, _ in chain.waiting} == {1, 2}


def test_blocker_outside_the_database_is_named_by_pid() -> None:
    (chain,) = activity.chains([session(5, 99)])
    assert chain.blocker.pid == 99 and [s.pid for s, _ in chain.waiting] == [5]
    (f,) = activity.lock_waits([chain], Thresholds())
    assert f.sql == "SELECT pg_cancel_backend(99);"


# -- indexes ----------------------------------------------------------------------------------


def index(name: str, **change: Any) -> Index:
    row: dict[str, Any] = {
        "oid": 1, "table_oid": 10, "schema": "public", "name": name, "qname": f"public.{name}",
        "table_name": "public.t", "table_qname": "public.t", "method": "btree",
        "is_unique": False, "is_primary": False, "valid": True, "ready": True,
        "exclusion": False, "columns": "2", "opclasses": "1978", "collations": "0",
        "options": "0", "exprs": None, "predicate": None, "relpages": 10, "reltuples": 100.0,
        "reloptions": None, "size_bytes": 81920, "idx_scan": 0, "idx_tup_read": 0,
        "last_scan": None, "conname": None, "fk_referenced": False, "building": False,
    } | change  # fmt: skip
    return Index.from_row(row)


def test_duplicate_keeps_the_constraint_and_drops_it_the_right_way() -> None:
    plain = index("t_a_idx", oid=5, idx_scan=500)
    key = index("t_a_key", oid=6, is_unique=True, conname="t_a_key", idx_scan=3)
    other_key = index("t_a_key2", oid=7, is_unique=True, conname="t_a_key2")
    partial = index("t_a_part", oid=8, predicate="(a > 0)")
    found = {f.key: f for f in findings.duplicate_indexes([plain, key, other_key, partial])}
    # the same columns and classes: one group of three (a plain index next to a unique
    # one on the same columns is redundant too); the used constraint stays
    assert set(found) == {"duplicate_index:public.t_a_idx", "duplicate_index:public.t_a_key2"}
    assert found["duplicate_index:public.t_a_idx"].sql == (
        "DROP INDEX CONCURRENTLY public.t_a_idx;"
    )
    assert found["duplicate_index:public.t_a_key2"].sql == (
        'ALTER TABLE public.t DROP CONSTRAINT "t_a_key2";'
    )
    assert "same definition as public.t_a_key" in found["duplicate_index:public.t_a_idx"].evidence


def test_unused_index_severity_follows_the_evidence() -> None:
    big = index("t_big", size_bytes=200 * 1024**2)
    small = index("t_small", size_bytes=2 * 1024**2)
    tiny = index("t_tiny", size_bytes=8192)
    old_reset = NOW - timedelta(days=60)
    found = {
        f.key: f
        for f in findings.unused_indexes(
            [big, small, tiny], TH, stats_reset=old_reset, now=NOW, replicas=0
        )
    }
    assert found["unused_index:public.t_big"].severity == "warning"
    assert found["unused_index:public.t_small"].severity == "info"
    assert "unused_index:public.t_tiny" not in found  # under unused_index_min_size
    assert "reset on 2026-10-02 (60.0 d ago)" in found["unused_index:public.t_big"].evidence
    recent = findings.unused_indexes(
        [big], TH, stats_reset=NOW - timedelta(days=1), now=NOW, replicas=2
    )
    assert recent[0].severity == "info"
    assert "watch it longer" in recent[0].evidence and "standbys" in recent[0].evidence


def test_index_being_built_is_not_invalid() -> None:
    building = index("t_new", valid=False, ready=False, building=True)
    failed = index("t_failed", valid=False, ready=True, is_unique=True)
    (f,) = findings.invalid_indexes([building, failed])
    assert f.key == "invalid_index:public.t_failed"
    assert "still rejects duplicates" in f.evidence


# -- tables -----------------------------------------------------------------------------------


def table(name: str, **change: Any) -> Table:
    row: dict[str, Any] = {
        "oid": 10, "schema": "public", "name": name, "qname": f"public.{name}",
        "relkind": "r", "relpages": 100, "reltuples": 1000.0, "reloptions": None,
        "toast_pages": 0, "toast_tuples": 0.0, "xid_age": 1000, "size_bytes": 819200,
        "n_live_tup": 1000, "n_dead_tup": 0, "n_mod_since_analyze": 0, "seq_scan": 0,
        "seq_tup_read": 0, "idx_scan": 0, "idx_tup_fetch": 0, "n_tup_ins": 0,
        "n_tup_upd": 0, "n_tup_del": 0, "n_tup_hot_upd": 0, "last_vacuum": None,
        "last_autovacuum": None, "last_analyze": None, "last_autoanalyze": None,
        "vacuum_count": 0, "autovacuum_count": 0, "analyze_count": 0, "autoanalyze_count": 0,
    } | change  # fmt: skip
    return Table.from_row(row)


def test_vacuum_and_analyze_thresholds() -> None:
    th = Thresholds(vacuum_min_dead=100, vacuum_dead_ratio=0.1)
    needs = table("needs", n_dead_tup=500, n_live_tup=1000)
    few = table("few", n_dead_tup=50, n_live_tup=100)  # 33% but under vacuum_min_dead
    ratio = table("ratio", n_dead_tup=100, n_live_tup=10_000)  # enough, but 1%
    stale = table("stale", n_mod_since_analyze=300, n_live_tup=1000)
    (v,) = findings.vacuum([needs, few, ratio, stale], th, NOW, autovacuum=True)
    assert v.key == "vacuum:public.needs" and "last vacuum never" in v.evidence
    a = findings.analyze([needs, few, ratio, stale], th, NOW, 50, skip={"public.needs"})
    assert [f.key for f in a] == ["analyze:public.stale"]
    assert a[0].sql == "ANALYZE public.stale;"


def test_missing_index_needs_frequent_whole_scans_of_a_large_table() -> None:
    th = Thresholds(seq_scan_min_rows=10_000)
    hot = table("hot", n_live_tup=50_000, seq_scan=100, seq_tup_read=5_000_000, idx_scan=10)
    indexed = table(
        "indexed", n_live_tup=50_000, seq_scan=100, seq_tup_read=5_000_000, idx_scan=100_000
    )
    small = table("small", n_live_tup=5_000, seq_scan=1000, seq_tup_read=5_000_000)
    (f,) = findings.missing_index([hot, indexed, small], th, [])
    assert f.key == "missing_index:public.hot"


# -- server -----------------------------------------------------------------------------------


def server(**change: Any) -> Server:
    settings = {
        "max_connections": "100", "superuser_reserved_connections": "3",
        "autovacuum_freeze_max_age": "200000000", "shared_buffers": "16384",
        "max_wal_size": "1024", "autovacuum": "on", "archive_mode": "on",
    } | change.pop("settings", {})  # fmt: skip
    units = {"shared_buffers": "8kB", "max_wal_size": "MB"}
    row: dict[str, Any] = {
        "database": "app", "version_text": "PostgreSQL 15.4 on x86_64, 64-bit",
        "block_size": 8192, "xid_age": 1000, "mxid_age": 0, "blks_hit": 0, "blks_read": 0,
        "checkpoints_timed": 0, "checkpoints_req": 0, "failed_count": 0,
        "last_failed_time": None, "last_archived_time": None, "last_failed_wal": None,
        "now": NOW, "extensions": {},
        "settings": {k: {"setting": v, "unit": units.get(k)} for k, v in settings.items()},
    } | change  # fmt: skip
    return Server(row)


def test_connections_near_the_limit() -> None:
    counts = [
        {"here": True, "state": "idle", "count": 60},
        {"here": False, "state": "active", "count": 25},
    ]
    by_state, (f,) = activity.connections(counts, server(), TH)
    assert by_state == {"idle": 60, "active": 25}
    assert f.severity == "warning" and "pooler" in f.evidence
    assert f.sql == "ALTER SYSTEM SET max_connections = 150;"
    full = [{"here": True, "state": "active", "count": 97}]
    assert activity.connections(full, server(), TH)[1][0].severity == "critical"
    assert (
        activity.connections([{"here": True, "state": "idle", "count": 5}], server(), TH)[1] == []
    )


def test_wraparound_names_the_oldest_tables() -> None:
    old = table("old", xid_age=150_000_000)
    young = table("young", xid_age=1_000)
    (f,) = activity.wraparound(server(xid_age=150_000_000), [young, old], TH)
    assert f.key == "wraparound:app" and f.severity == "warning"
    assert f.sql == "VACUUM (FREEZE, ANALYZE) public.old;"
    (late,) = activity.wraparound(server(xid_age=210_000_000), [old], TH)
    assert late.severity == "critical"
    assert activity.wraparound(server(xid_age=50_000_000), [old], TH) == []


def test_archiver_cache_and_checkpoints() -> None:
    failing = server(
        failed_count=3, last_failed_time=NOW, last_failed_wal="0000000100000000000000AB",
        last_archived_time=NOW - timedelta(hours=1),
    )  # fmt: skip
    (a,) = activity.archiver(failing)
    assert a.severity == "critical" and "0000000100000000000000AB" in a.evidence
    recovered = server(failed_count=3, last_failed_time=NOW - timedelta(hours=1),
                       last_archived_time=NOW)  # fmt: skip
    assert activity.archiver(recovered) == []
    ratio, (c,) = activity.cache_hit(server(blks_hit=800_000, blks_read=200_000), TH)
    assert ratio == 0.8 and c.sql == "ALTER SYSTEM SET shared_buffers = '256MB';"
    assert activity.cache_hit(server(blks_hit=800, blks_read=200), TH)[1] == []  # too few
    (cp,) = activity.checkpoints(server(checkpoints_timed=5, checkpoints_req=15))
    assert cp.sql == "ALTER SYSTEM SET max_wal_size = '2048MB'; SELECT pg_reload_conf();"
    assert activity.checkpoints(server(checkpoints_timed=15, checkpoints_req=5)) == []


def test_replication_slots_and_lag() -> None:
    slots = [
        {"name": "gone'consumer", "type": "physical", "active": False, "wal_status": "extended",
         "retained_bytes": 5 * 1024**3, "database": None},
        {"name": "live", "type": "logical", "active": True, "wal_status": "reserved",
         "retained_bytes": 1024, "database": "app"},
        {"name": "lost", "type": "physical", "active": True, "wal_status": "lost",
         "retained_bytes": None, "database": None},
    ]  # fmt: skip
    replicas = [
        {"name": "replica-1", "replay_lag_s": 900.0, "lag_bytes": 1024**3, "state": "streaming"},
        {"name": "replica-2", "replay_lag_s": 1.0, "lag_bytes": 0, "state": "streaming"},
    ]
    found = {f.key: f for f in activity.replication(replicas, slots, Thresholds())}
    assert set(found) == {
        "replication_lag:replica-1",
        "replication_slot:gone'consumer",
        "replication_slot:lost",
    }
    assert found["replication_slot:gone'consumer"].sql == (
        "SELECT pg_drop_replication_slot('gone''consumer');"
    )
    assert found["replication_slot:lost"].severity == "critical"


def test_autovacuum_off_is_a_finding() -> None:
    (f,) = activity.settings(server(settings={"autovacuum": "off"}))
    assert f.key == "setting:autovacuum"
    assert f.sql == "ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf();"
    assert activity.settings(server()) == []
