"""Create engines for SQLite (WAL, busy timeout) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.exceptions import ConfigError, StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver for PostgreSQL; raise ConfigError if unusable."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f'database URL "{_mask(url)}" is not a valid URL') from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigError(f'database "{backend}" is not supported (use sqlite or postgresql)')
    return parsed.render_as_string(hide_password=False)


def _mask(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable>"


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # Per-connection settings; WAL mode is stored in the file and set once in make_engine.
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """Return an engine for ``url``; for SQLite, create the directory and use WAL mode."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                # The store holds password hashes and sessions: owner-only by default.
                Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the data directory for {parsed.database}: {exc.strerror}"
                ) from None
        # The pool matches the request thread pool (40) so that busy moments reuse
        # connections instead of opening and closing overflow ones.
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=20,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open SQLite store {parsed.database}: {getattr(exc, 'orig', exc)}"
            ) from None
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args={"connect_timeout": 5},
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def display_url(url: str) -> str:
    """Return ``url`` with any password masked, for logs and the UI."""
    return _mask(url)
