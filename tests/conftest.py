"""Shared fixtures: a store on SQLite and (when configured) PostgreSQL, and live servers."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import LiveServer
from watchkeeper.auth.users import create_user
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine, normalise_url, session_factory
from watchkeeper.store.migrate import upgrade

PG_ENV = "WATCHKEEPER_TEST_DATABASE_URL"
ADMIN_PASSWORD = "correct horse battery staple"


def _admin_engine(base: str) -> Engine:
    return create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root, uvicorn and alembic loggers back as they were after the test
    (``configure_logging`` replaces handlers and levels)."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic")
    saved = {
        n: (
            list(logging.getLogger(n).handlers),
            logging.getLogger(n).level,
            logging.getLogger(n).propagate,
        )
        for n in names
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty store: SQLite always, PostgreSQL when WATCHKEEPER_TEST_DATABASE_URL
    is set (a throw-away database per test, dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"wk_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(base)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(base)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture
def ctx(database_url: str, tmp_path: Path, engine: Engine) -> Iterator[AppContext]:
    """An application context on a migrated store, with no plan file."""
    settings = load_settings(env={}, home=tmp_path / "home", database_url=database_url)
    context = AppContext.create(settings, env={})
    yield context
    context.engine.dispose()


@pytest.fixture
def server(ctx: AppContext) -> Iterator[LiveServer]:
    """A real uvicorn serving the app on a free loopback port."""
    with LiveServer(create_app(ctx)) as live:
        yield live


def make_user(ctx: AppContext, username: str, role: str, password: str = ADMIN_PASSWORD) -> None:
    with ctx.sessions() as session:
        create_user(session, username, password, role)
        session.commit()


def login(base_url: str, username: str, password: str = ADMIN_PASSWORD) -> httpx.Client:
    """Return a client signed in through the real login form, with the CSRF header set."""
    client = httpx.Client(base_url=base_url, timeout=10)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    resp = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": token.group(1),
            "next": "/",
        },
    )
    assert resp.status_code == 303, resp.text
    session = client.get("/api/v1/session").json()
    client.headers["X-CSRF-Token"] = session["csrf_token"]
    return client


@pytest.fixture
def admin(ctx: AppContext, server: LiveServer) -> Iterator[httpx.Client]:
    make_user(ctx, "admin", "admin")
    client = login(server.url, "admin")
    try:
        yield client
    finally:
        client.close()
