"""Backup sources against the machine's PostgreSQL and MariaDB, with a real restic."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.backups.dbs import MY_ADMIN, PG_ADMIN, pg_exec, policy
from tests.conftest import remember_secret
from watchkeeper.backups.engine import RepositoryAccess
from watchkeeper.backups.restic import Restic
from watchkeeper.backups.sources import SourceError, for_policy
from watchkeeper.backups.sources.pgconn import PgTarget, list_databases
from watchkeeper.backups.sources.sampling import excluded
from watchkeeper.backups.sources.watchkeeper import CACHE_SIGNATURE
from watchkeeper.settings import load_settings

TAGS = ["watchkeeper", "policy=orders-db"]


def test_postgres_dump_per_database_with_exact_counts(
    pg_db: str, restic: Restic, repo: RepositoryAccess
) -> None:
    source = for_policy(policy({"type": "postgres", "url": PG_ADMIN, "databases": [pg_db]}))
    results, inventory = asyncio.run(source.back_up(restic, repo, TAGS, None))
    assert len(results) == 1
    (part,) = inventory["parts"]
    assert part["kind"] == "postgres" and part["database"] == pg_db
    assert part["file"] == f"{pg_db}.pgdump"
    assert part["snapshot"] == results[0].snapshot_id
    assert part["tables"] == {"public.orders": 300, "public.customers": 40, "audit.notes": 0}
    snaps = asyncio.run(restic.snapshots(repo, ["policy=orders-db"]))
    assert [s.paths for s in snaps] == [(f"/{pg_db}.pgdump",)]


def test_postgres_database_list_leaves_out_templates_and_scratch(pg_db: str) -> None:
    pg_exec("postgres", 'CREATE DATABASE "wk_drill_leftover_test"')
    try:
        names = asyncio.run(list_databases(PgTarget.parse(PG_ADMIN)))
    finally:
        pg_exec("postgres", 'DROP DATABASE "wk_drill_leftover_test"')
    assert pg_db in names and "postgres" in names
    assert not [n for n in names if n.startswith(("template", "wk_drill_"))]


def test_postgres_password_stays_out_of_errors(pg_db: str) -> None:
    secret = remember_secret("wrong-pg-password-4711")
    url = f"postgresql://wk_nobody:{secret}@127.0.0.1:5432/{pg_db}"
    target = PgTarget.parse(url)
    assert secret not in target.conninfo()
    assert target.env() == {"PGPASSWORD": secret}
    with pytest.raises(SourceError) as err:
        asyncio.run(list_databases(target))
    assert secret not in str(err.value)
    assert "127.0.0.1:5432" in str(err.value)


def test_mariadb_dump_with_counts(my_db: str, restic: Restic, repo: RepositoryAccess) -> None:
    source = for_policy(policy({"type": "mariadb", "url": MY_ADMIN, "databases": [my_db]}))
    results, inventory = asyncio.run(source.back_up(restic, repo, TAGS, None))
    (part,) = inventory["parts"]
    assert part["file"] == f"{my_db}.sql" and part["snapshot"] == results[0].snapshot_id
    assert part["tables"] == {"items": 120, "tags": 7}
    assert results[0].bytes_total > 120 * 100


def test_sqlite_copy_and_counts(tmp_path: Path, restic: Restic, repo: RepositoryAccess) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE a (x)")
    conn.executemany("INSERT INTO a VALUES (?)", [(i,) for i in range(25)])
    conn.execute("CREATE TABLE b (y)")
    conn.commit()  # the connection stays open: a live database
    try:
        source = for_policy(policy({"type": "sqlite", "path": str(path)}))
        results, inventory = asyncio.run(source.back_up(restic, repo, TAGS, None))
    finally:
        conn.close()
    (part,) = inventory["parts"]
    assert part["file"] == "app.db" and part["tables"] == {"a": 25, "b": 0}
    snaps = asyncio.run(restic.snapshots(repo))
    assert snaps[0].paths == ("/app.db",)


def test_sqlite_missing_file_is_a_clear_error(
    tmp_path: Path, restic: Restic, repo: RepositoryAccess
) -> None:
    source = for_policy(policy({"type": "sqlite", "path": str(tmp_path / "gone.db")}))
    with pytest.raises(SourceError, match="gone.db does not exist"):
        asyncio.run(source.back_up(restic, repo, TAGS, None))
    assert not (tmp_path / "gone.db").exists()


def test_files_sample_respects_exclude_and_include(
    tmp_path: Path, restic: Restic, repo: RepositoryAccess
) -> None:
    root = tmp_path / "site"
    (root / "cache").mkdir(parents=True)
    for i in range(6):
        (root / f"page{i}.html").write_text(f"page {i}")
        (root / f"draft{i}.tmp").write_text("draft")
        (root / "cache" / f"c{i}.html").write_text("cached")
    src = {"type": "files", "paths": [str(root)], "exclude": ["*.tmp", "cache"]}
    source = for_policy(policy(src, drill={"sample_files": 4}))
    _, inventory = asyncio.run(source.back_up(restic, repo, TAGS, None))
    files = inventory["parts"][0]["files"]
    assert len(files) == 4
    assert all(p.startswith(str(root)) and p.endswith(".html") for p in files)
    assert not [p for p in files if "/cache/" in p]

    only = {"type": "files", "paths": [str(root)], "include": ["page1.*", "page2.*"]}
    results, inventory = asyncio.run(for_policy(policy(only)).back_up(restic, repo, TAGS, None))
    assert results[0].files == 2
    assert sorted(Path(p).name for p in inventory["parts"][0]["files"]) == [
        "page1.html",
        "page2.html",
    ]


def test_exclude_patterns_follow_restic() -> None:
    assert excluded("/srv/a/cache/x.html", ["cache"])
    assert excluded("/srv/a/x.tmp", ["*.tmp"])
    assert excluded("/home/wk/logs/chunk1", ["/home/wk/logs"])
    assert not excluded("/home/wk/logs2/x", ["/home/wk/logs"])
    assert not excluded("/srv/a/x.html", ["*.tmp", "cache"])


def test_watchkeeper_source_copies_the_store_and_home_without_logs(
    tmp_path: Path, restic: Restic, repo: RepositoryAccess
) -> None:
    from watchkeeper.store.engine import make_engine
    from watchkeeper.store.migrate import upgrade

    home = tmp_path / "home"
    settings = load_settings(env={}, home=home)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    (home / "logs").mkdir()
    (home / "logs" / "chunk.zst").write_bytes(b"logs" * 100)
    (home / "secret_key").write_text("k" * 40)
    source = for_policy(policy({"type": "watchkeeper"}), settings)
    results, inventory = asyncio.run(source.back_up(restic, repo, TAGS, None))
    store, files = inventory["parts"]
    assert store["kind"] == "sqlite" and store["file"] == "watchkeeper.db"
    assert files["kind"] == "files"
    assert str(home / "secret_key") in files["files"]
    assert not [p for p in files["files"] if "/logs/" in p or p.endswith(".db")]
    assert len(results) == 2


def test_watchkeeper_source_leaves_out_caches(
    tmp_path: Path, restic: Restic, repo: RepositoryAccess
) -> None:
    home = tmp_path / "home"
    settings = load_settings(env={}, home=home, database_url=f"sqlite:///{tmp_path / 'wk.db'}")
    sqlite3.connect(tmp_path / "wk.db").close()
    kept = [home / "secret_key", home / "plugins" / "mine.py", home / "agent-spool" / "1.json"]
    dropped = [
        home / "cache" / "restic" / "abc" / "data" / "00" / "pack",
        home / "tmp" / "upload.part",
        home / "plugins" / "__pycache__" / "mine.cpython-311.pyc",
        home / "thumbnails" / "a.png",
    ]
    for path in kept + dropped:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 64)
    (home / "thumbnails" / "CACHEDIR.TAG").write_bytes(CACHE_SIGNATURE + b"\n")
    (home / "plugins" / "CACHEDIR.TAG").write_text("not a real tag: kept\n")
    source = for_policy(policy({"type": "watchkeeper"}), settings)

    results, inventory = asyncio.run(source.back_up(restic, repo, TAGS, None))

    listed = subprocess.run(
        ["restic", "ls", "--json", results[-1].snapshot_id],
        env={**os.environ, "RESTIC_REPOSITORY": repo.url, "RESTIC_PASSWORD": repo.password},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    paths = {json.loads(line).get("path") for line in listed[1:]}
    assert {str(p) for p in kept} <= paths
    assert not {str(p) for p in dropped} & paths
    assert not [p for p in paths if p and p.startswith((str(home / "cache"), str(home / "tmp")))]
    files = inventory["parts"][1]["files"]
    assert not [p for p in files if "cache" in p or "__pycache__" in p or "thumbnails" in p]


def test_watchkeeper_source_needs_settings() -> None:
    with pytest.raises(SourceError, match="settings"):
        for_policy(policy({"type": "watchkeeper"}))


def test_dump_url_is_postgres_urls_only() -> None:
    with pytest.raises(SourceError, match="not a PostgreSQL connection string"):
        PgTarget.parse("postgresql://a@b:notaport/x?bogus=1")
