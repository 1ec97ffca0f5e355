"""Fixtures for the sources and drills tests: seeded PostgreSQL and MariaDB databases on
the machine's servers (unique names, always dropped), a restic repository in a temp dir."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from tests.conftest import remember_secret
from watchkeeper.backups.config import Policy
from watchkeeper.backups.engine import RepositoryAccess
from watchkeeper.backups.restic import Restic

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MY_ADMIN = "mysql://root@127.0.0.1:3306/"
REPO_PASSWORD = remember_secret("drill-repo-password-secret")


def pg_url(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


def pg_exec(database: str, *statements: str) -> list[Any]:
    """Run ``statements`` (autocommit) on ``database``; return the last one's first row."""
    row: Any = None
    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        for statement in statements:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            row = cur.fetchone() if cur.description else None
    return list(row) if row else []


def pg_databases(prefix: str) -> list[str]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)
        ).fetchall()
    return [r[0] for r in rows]


def my_exec(database: str | None, *statements: str) -> list[Any]:
    conn = pymysql.connect(
        host="127.0.0.1", port=3306, user="root", database=database, autocommit=True
    )
    row: Any = None
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                row = cur.fetchone() if cur.description else None
    finally:
        conn.close()
    return list(row) if row else []


def my_databases(prefix: str) -> list[str]:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return [r[0] for r in cur.fetchall() if r[0].startswith(prefix)]
    finally:
        conn.close()


@pytest.fixture
def pg_db() -> Iterator[str]:
    """A seeded PostgreSQL database: orders (300 rows), customers (40), notes (empty)."""
    name = f"wk_src_{uuid.uuid4().hex[:10]}"
    pg_exec("postgres", f'CREATE DATABASE "{name}"')
    try:
        pg_exec(
            name,
            "CREATE TABLE customers (id int PRIMARY KEY, name text)",
            "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 40) g",
            "CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers, "
            "total numeric, note text)",
            "INSERT INTO orders SELECT g, 1 + g % 40, g * 1.5, repeat('x', 200) "
            "FROM generate_series(1, 300) g",
            "CREATE SCHEMA audit",
            "CREATE TABLE audit.notes (id serial PRIMARY KEY, body text)",
        )
        yield name
    finally:
        pg_exec("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def my_db() -> Iterator[str]:
    """A seeded MariaDB database: items (120 rows), tags (7)."""
    name = f"wk_src_{uuid.uuid4().hex[:10]}"
    my_exec(None, f"CREATE DATABASE `{name}`")
    try:
        my_exec(
            name,
            "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(50), body TEXT)",
            "INSERT INTO items SELECT seq, CONCAT('item', seq), REPEAT('y', 100) FROM seq_1_to_120",
            "CREATE TABLE tags (id INT PRIMARY KEY, name VARCHAR(20))",
            "INSERT INTO tags SELECT seq, CONCAT('t', seq) FROM seq_1_to_7",
        )
        yield name
    finally:
        my_exec(None, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def restic(tmp_path: Path) -> Restic:
    return Restic(cache_dir=tmp_path / "restic-cache", grace=2.0)


@pytest.fixture(scope="session")
def repo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised repository, copied for each test (``restic init`` derives a key
    with scrypt: seconds each time)."""
    path = tmp_path_factory.mktemp("restic-template") / "repo"
    access = RepositoryAccess(name="local", url=str(path), password=REPO_PASSWORD)
    asyncio.run(Restic(cache_dir=path.parent / "cache").init(access))
    return path


@pytest.fixture
def repo(tmp_path: Path, repo_template: Path) -> RepositoryAccess:
    """An initialised local restic repository of the test's own."""
    shutil.copytree(repo_template, tmp_path / "repo")
    return RepositoryAccess(name="local", url=str(tmp_path / "repo"), password=REPO_PASSWORD)


def policy(source: dict[str, Any], **fields: Any) -> Policy:
    return Policy.model_validate(
        {"name": "orders-db", "source": source, "repositories": ["local"], **fields}
    )


def corrupt_packs(repo_path: Path) -> int:
    """Overwrite bytes inside every pack file of the repository; return how many."""
    count = 0
    for pack in (repo_path / "data").rglob("*"):
        if pack.is_file():
            pack.chmod(0o600)
            with pack.open("r+b") as fh:
                fh.seek(min(40, max(0, pack.stat().st_size - 64)))
                fh.write(b"\xde\xad\xbe\xef" * 16)
            count += 1
    return count
