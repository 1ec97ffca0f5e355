"""Alembic environment: runs on the connection handed over by ``watchkeeper.store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from watchkeeper.store.engine import make_engine
from watchkeeper.store.tables import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic revision --autogenerate` from a developer's shell
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///dev.db")
    with engine.connect() as conn:
        _run(conn)
