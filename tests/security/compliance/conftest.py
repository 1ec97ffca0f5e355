"""One store per module (SQLite, and PostgreSQL when configured) emptied before each test:
the compliance tests read and write rows only, and migrating a fresh PostgreSQL database
for each of them would cost seconds apiece."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.conftest import PG_ENV
from watchkeeper.auth.audit import GENESIS
from watchkeeper.store.engine import make_engine, normalise_url, session_factory
from watchkeeper.store.migrate import upgrade
from watchkeeper.store.tables import AuditHead, Base


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated store for the module's tests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('compliance') / 'store.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"wk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_url(base)).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def module_engine(module_url: str) -> Iterator[Engine]:
    engine = make_engine(module_url)
    yield engine
    engine.dispose()


def empty(engine: Engine) -> None:
    """Delete every row, and restart the audit trail's chain."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "audit_head":
                conn.execute(table.delete())
        conn.execute(update(AuditHead).values(last_id=0, last_hash=GENESIS))


@pytest.fixture
def db(module_engine: Engine) -> Iterator[Session]:
    """A session on the module's store, emptied first."""
    empty(module_engine)
    with session_factory(module_engine)() as session:
        yield session
