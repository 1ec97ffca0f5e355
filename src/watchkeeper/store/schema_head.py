"""Whether the store is at this Watchkeeper's schema, without loading Alembic.

Every command that reads the store checks its schema revision first. Asking Alembic means
importing it and reading every migration script (about 0.2 s of a command's start-up);
the answer is known when the package is built. :data:`HEAD_REVISION` names the newest
migration (a test checks it against Alembic's own answer) and :func:`at_head` reads the
store's ``alembic_version`` with one query; anything else goes to
:mod:`watchkeeper.store.migrate`, which explains.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

HEAD_REVISION = "0019"
"""The newest migration's revision id (``store/migrations/versions``)."""


def at_head(engine: Engine) -> bool:
    """True when the store's recorded revision is :data:`HEAD_REVISION`; False otherwise,
    also when the store cannot say (unreachable, never migrated)."""
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except SQLAlchemyError:
        return False
    return [row[0] for row in found] == [HEAD_REVISION]
