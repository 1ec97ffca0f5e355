"""Restore drills against the machine's PostgreSQL and MariaDB, with a real restic."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.backups.dbs import (
    MY_ADMIN,
    PG_ADMIN,
    corrupt_packs,
    my_databases,
    my_exec,
    pg_databases,
    pg_exec,
    policy,
)
from watchkeeper.backups.drills import run_drill
from watchkeeper.backups.engine import RepositoryAccess
from watchkeeper.backups.restic import Restic
from watchkeeper.backups.sources import for_policy
from watchkeeper.store.tables import BackupRun, utcnow
from watchkeeper.telemetry import BACKUP_RUNS

TAGS = ["watchkeeper", "policy=orders-db"]


def _back_up(
    restic: Restic, repo: RepositoryAccess, source: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    pol = policy(source, **fields)
    _, inventory = asyncio.run(for_policy(pol).back_up(restic, repo, TAGS, None))
    return inventory


def _assert_dropped(scratch: tuple[str, ...]) -> None:
    """Every scratch database the drill names exists no more (other tests run drills too)."""
    assert scratch
    for where in scratch:
        kind, _, rest = where.partition(" ")
        name = rest.rsplit("/", 1)[-1]
        if kind == "postgres":
            assert name.startswith("wk_drill_orders_db_") and not pg_databases(name)
        elif kind == "mariadb":
            assert name.startswith("wk_drill_orders_db_") and not my_databases(name)


def _pg_policy(db: str) -> dict[str, Any]:
    return {"type": "postgres", "url": PG_ADMIN, "databases": [db]}


def test_postgres_drill_compares_with_backup_time_counts(
    pg_db: str, restic: Restic, repo: RepositoryAccess, sessions: sessionmaker[Session]
) -> None:
    source = _pg_policy(pg_db)
    _, inventory = asyncio.run(for_policy(policy(source)).back_up(restic, repo, TAGS, None))
    with sessions() as db:
        db.add(
            BackupRun(
                policy="orders-db",
                repository="local",
                kind="backup",
                status="succeeded",
                started_at=utcnow(),
                details={"inventory": inventory},
            )
        )
        db.commit()
    # The source changes after the backup: the drill must still match the backup.
    pg_exec(
        pg_db,
        "INSERT INTO customers VALUES (41, 'late'), (42, 'later')",
        "DELETE FROM orders WHERE id <= 10",
    )
    pol = policy(
        source,
        drill={
            "assertions": [
                "SELECT count(*) = 40 FROM customers",
                "SELECT sum(total) > 0 FROM orders",
            ]
        },
    )
    result = asyncio.run(run_drill(restic, repo, pol, sessions=sessions, trigger="test"))
    assert result.ok, result.reasons
    counts = {c.what: c.detail for c in result.checks}
    assert counts[f"{pg_db}: rows in public.customers"] == "40 restored, 40 at backup time"
    assert counts[f"{pg_db}: rows in public.orders"] == "300 restored, 300 at backup time"
    assert len([c for c in result.checks if "assertion" in c.what]) == 2
    assert result.rto_s is not None and result.rto_s > 0
    assert result.rpo_s is not None and result.rpo_s >= 0
    _assert_dropped(result.scratch)
    with sessions() as db:
        row = db.scalars(select(BackupRun).where(BackupRun.kind == "drill")).one()
        assert row.status == "succeeded" and row.trigger == "test"
        assert row.rto_s == result.rto_s and row.rpo_s is not None
        assert row.bytes_total > 0 and row.snapshot_id
        assert row.details["passed"] is True and row.details["checks"]


def test_failing_assertion_fails_the_drill_and_drops_the_scratch_database(
    pg_db: str, restic: Restic, repo: RepositoryAccess
) -> None:
    source = _pg_policy(pg_db)
    inventory = _back_up(restic, repo, source)
    pol = policy(
        source,
        drill={"assertions": ["SELECT count(*) > 1000 FROM orders", "SELECT * FROM missing_table"]},
    )
    result = asyncio.run(run_drill(restic, repo, pol, inventory=inventory))
    assert not result.ok
    assert any("SELECT count(*) > 1000 FROM orders: returned False" in r for r in result.reasons)
    assert any("missing_table" in r and "does not exist" in r for r in result.reasons)
    _assert_dropped(result.scratch)


def test_counts_that_differ_fail_the_drill(
    pg_db: str, restic: Restic, repo: RepositoryAccess
) -> None:
    inventory = _back_up(restic, repo, _pg_policy(pg_db))
    inventory["parts"][0]["tables"]["public.orders"] = 301  # as if rows were lost
    result = asyncio.run(run_drill(restic, repo, policy(_pg_policy(pg_db)), inventory=inventory))
    assert not result.ok
    assert result.reasons == (f"{pg_db}: rows in public.orders: 300 restored, 301 at backup time",)


def test_corrupted_repository_fails_the_drill(
    pg_db: str, restic: Restic, repo: RepositoryAccess, sessions: sessionmaker[Session]
) -> None:
    source = _pg_policy(pg_db)
    inventory = _back_up(restic, repo, source)
    assert corrupt_packs(Path(repo.url)) > 0
    result = asyncio.run(
        run_drill(restic, repo, policy(source), inventory=inventory, sessions=sessions)
    )
    assert not result.ok
    assert any("dump of" in r and "failed" in r for r in result.reasons), result.reasons
    assert result.rto_s is None
    _assert_dropped(result.scratch)
    with sessions() as db:
        row = db.scalars(select(BackupRun).where(BackupRun.kind == "drill")).one()
        assert row.status == "failed" and "failed" in row.error


def test_drill_without_a_recorded_backup_says_so(
    restic: Restic, repo: RepositoryAccess, sessions: sessionmaker[Session]
) -> None:
    failed = BACKUP_RUNS.labels("orders-db", "drill", "failed")._value.get()
    result = asyncio.run(run_drill(restic, repo, policy(_pg_policy("app")), sessions=sessions))
    assert not result.ok
    assert "no successful backup of orders-db into local" in result.reasons[0]
    assert BACKUP_RUNS.labels("orders-db", "drill", "failed")._value.get() == failed + 1


def test_mariadb_drill(my_db: str, restic: Restic, repo: RepositoryAccess) -> None:
    source = {"type": "mariadb", "url": MY_ADMIN, "databases": [my_db]}
    inventory = _back_up(restic, repo, source)
    my_exec(my_db, "DELETE FROM items WHERE id > 100")
    good = policy(source, drill={"assertions": ["SELECT count(*) = 120 FROM items"]})
    result = asyncio.run(run_drill(restic, repo, good, inventory=inventory))
    assert result.ok, result.reasons
    assert {c.detail for c in result.checks if "rows in items" in c.what} == {
        "120 restored, 120 at backup time"
    }
    bad = policy(source, drill={"assertions": ["SELECT count(*) = 100 FROM items"]})
    result = asyncio.run(run_drill(restic, repo, bad, inventory=inventory))
    assert not result.ok and "returned 0" in result.reasons[0]
    _assert_dropped(result.scratch)


def test_files_and_sqlite_drills(tmp_path: Path, restic: Restic, repo: RepositoryAccess) -> None:
    root = tmp_path / "site"
    root.mkdir()
    for i in range(8):
        (root / f"f{i}.txt").write_text(f"content {i}" * 50)
    files = {"type": "files", "paths": [str(root)]}
    inventory = _back_up(restic, repo, files, drill={"sample_files": 5})
    (root / "f1.txt").write_text("changed after the backup")
    passed = BACKUP_RUNS.labels("orders-db", "drill", "succeeded")._value.get()
    result = asyncio.run(
        run_drill(restic, repo, policy(files), inventory=inventory, scratch_dir=tmp_path)
    )
    assert result.ok, result.reasons
    assert BACKUP_RUNS.labels("orders-db", "drill", "succeeded")._value.get() == passed + 1
    assert result.checks[0].detail == "5 of 5 sampled files match"
    assert not list(tmp_path.glob("wk-drill-*"))

    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(12)])
    conn.commit()
    conn.close()
    lite = {"type": "sqlite", "path": str(db)}
    inventory = _back_up(restic, repo, lite)
    pol = policy(lite, drill={"assertions": ["SELECT count(*) = 12 FROM t"]})
    result = asyncio.run(run_drill(restic, repo, pol, inventory=inventory, scratch_dir=tmp_path))
    assert result.ok, result.reasons
    assert [c.what for c in result.checks] == [
        "app.db: integrity_check",
        "app.db: rows in t",
        "app.db: assertion SELECT count(*) = 12 FROM t",
    ]


def test_watchkeeper_store_drill(tmp_path: Path, restic: Restic, repo: RepositoryAccess) -> None:
    from watchkeeper.settings import load_settings
    from watchkeeper.store.engine import make_engine
    from watchkeeper.store.migrate import upgrade

    settings = load_settings(env={}, home=tmp_path / "home")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    (settings.home / "notes.txt").write_text("kept with the store")
    pol = policy({"type": "watchkeeper"})
    _, inventory = asyncio.run(for_policy(pol, settings).back_up(restic, repo, TAGS, None))
    result = asyncio.run(
        run_drill(restic, repo, pol, inventory=inventory, settings=settings, scratch_dir=tmp_path)
    )
    assert result.ok, result.reasons
    whats = [c.what for c in result.checks]
    assert whats[0] == "watchkeeper.db: integrity_check" and whats[-1] == "files: sampled checksums"


def test_scratch_database_refused_says_why(
    pg_db: str, restic: Restic, repo: RepositoryAccess
) -> None:
    """A user without CREATEDB gets a drill failure that names the fix, not a crash."""
    role = f"wk_nocreate_{pg_db[-10:]}"
    pg_exec("postgres", f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        source = _pg_policy(pg_db)
        inventory = _back_up(restic, repo, source)
        scratch = f"postgresql://{role}@127.0.0.1:5432/postgres"
        pol = policy(source, drill={"scratch_url": scratch})
        result = asyncio.run(run_drill(restic, repo, pol, inventory=inventory))
        assert not result.ok
        assert "cannot create the scratch database" in result.reasons[0], result.reasons
        assert "CREATEDB" in result.reasons[0]
        assert not any("internal error" in r for r in result.reasons)
    finally:
        pg_exec("postgres", f'DROP ROLE IF EXISTS "{role}"')
