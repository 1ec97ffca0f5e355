"""Migrations run from an empty store to head on SQLite and PostgreSQL, and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from watchkeeper.exceptions import StoreError
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import (
    check_not_newer,
    current_revision,
    head_revision,
    is_current,
    upgrade,
)
from watchkeeper.store.schema_head import HEAD_REVISION, at_head
from watchkeeper.store.tables import Base

TABLES = {
    "meta",
    "users",
    "sessions",
    "objects",
    "plan_applies",
    "scheduled_jobs",
    "login_failures",
    "totp_credentials",
    "recovery_codes",
    "webauthn_credentials",
    "api_tokens",
    "teams",
    "team_members",
    "audit_log",
    "audit_head",
    "check_status",
    "check_results",
    "check_rollups",
    "check_events",
    "heartbeats",
    "heartbeat_pings",
    "metric_series",
    "metric_samples",
    "metric_chunks",
    "metric_rollups",
    "hosts",
}


def test_upgrade_from_empty_reaches_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        before, after = upgrade(engine)
        assert (before, after) == (None, head_revision())
        assert is_current(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        assert upgrade(engine) == (head_revision(), head_revision())
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    """Every table and column the models declare exists after migrating (no drift)."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert {c.name for c in table.columns} == columns, table.name
    finally:
        engine.dispose()


def test_downgrade_to_empty_and_up_again(database_url: str) -> None:
    from alembic import command

    from watchkeeper.store.migrate import _config

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert is_current(engine)
    finally:
        engine.dispose()


def test_sqlite_store_uses_wal_and_a_busy_timeout(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_unreachable_store_is_a_store_error() -> None:
    import pytest

    from watchkeeper.exceptions import StoreError

    engine = make_engine("postgresql://nobody:hunter2@127.0.0.1:1/none")
    try:
        with pytest.raises(StoreError) as err:
            current_revision(engine)
        assert "hunter2" not in str(err.value)
    finally:
        engine.dispose()


def test_a_store_migrated_by_a_newer_watchkeeper_is_refused_with_a_clear_message(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'newer.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="schema revision 9999, made by a newer Watchkeeper"):
        check_not_newer(engine)
    with pytest.raises(StoreError, match="made by a newer Watchkeeper"):
        upgrade(engine)
    engine.dispose()


def test_the_recorded_head_is_alembics_head(database_url: str) -> None:
    """``schema_head`` answers the CLI's schema check without Alembic: its head must be the
    newest migration (update HEAD_REVISION in store/schema_head.py with each migration)."""
    assert HEAD_REVISION == head_revision()
    engine = make_engine(database_url)
    try:
        assert not at_head(engine)  # never migrated: no alembic_version table
        upgrade(engine)
        assert at_head(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert not at_head(engine)
    finally:
        engine.dispose()
    unreachable = make_engine("postgresql://nobody@127.0.0.1:1/none")
    try:
        assert not at_head(unreachable)
    finally:
        unreachable.dispose()
