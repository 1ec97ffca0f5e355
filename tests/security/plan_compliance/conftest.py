"""One store per module (SQLite, and PostgreSQL when configured) emptied before each test:
the section tests only read and write rows, and migrating a fresh PostgreSQL database for
each of them would cost seconds apiece."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.conftest import PG_ENV
from watchkeeper.store.engine import make_engine, normalise_url, session_factory
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import Base

KEPT = {"audit_head", "audit_log"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('plan') / 'store.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"wk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(
        make_url(normalise_url(base)).set(database=name).render_as_string(hide_password=False)
    )
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db(module_engine: Engine) -> Iterator[Session]:
    """A session on the module's store, emptied first (but the audit trail, whose head row
    the migrations seed: appends need it)."""
    with module_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEPT:
                conn.execute(table.delete())
    with session_factory(module_engine)() as session:
        yield session
