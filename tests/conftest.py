"""Shared fixtures: a store on SQLite and (when configured) PostgreSQL, and live servers."""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import LOG_GUARD, LiveServer, SecretLogGuard, current_test
from watchkeeper.auth.sessions import COOKIE_NAME
from watchkeeper.auth.users import create_user
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.settings import load_settings
from watchkeeper.store.engine import make_engine, normalise_url, session_factory
from watchkeeper.store.migrate import upgrade

# Rich reads COLUMNS when a console is made, often at import: wide from the start, so that
# CLI output is not wrapped whichever test (or xdist worker) imports a CLI module first.
os.environ.setdefault("COLUMNS", "1000")

PG_ENV = "WATCHKEEPER_TEST_DATABASE_URL"
ADMIN_PASSWORD = "correct horse battery staple"


def _admin_engine(base: str) -> Engine:
    return create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root, uvicorn and alembic loggers back as they were after the test
    (``configure_logging`` replaces handlers and levels). For every test: a CLI command run
    through CliRunner configures logging, and its redacting handler left on the root logger
    would change what later tests in the same worker capture."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "httpx", "httpcore")
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


class StoreTemplates:
    """One migrated store per test worker, copied for every test that wants a migrated store
    (a copy costs milliseconds; running the migrations costs a second on PostgreSQL). Made on
    first use; the PostgreSQL template is dropped at the end of the session, and the per-test
    databases are dropped on a background thread so a test does not wait for the checkpoint
    DROP DATABASE forces."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sqlite: Path | None = None
        self._pg: dict[str, str] = {}  # base URL -> template database name
        self._dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-test-db")
        self._drops: list[Future[None]] = []

    def sqlite_copy(self, dest: Path) -> None:
        if self._sqlite is None:
            template = self.folder / "template.db"
            eng = make_engine(f"sqlite:///{template}")
            upgrade(eng)
            eng.dispose()
            self._sqlite = template
        shutil.copyfile(self._sqlite, dest)

    def pg_template(self, base: str) -> str:
        if base not in self._pg:
            name = f"wk_template_{uuid.uuid4().hex[:12]}"
            _create_database(base, name)
            eng = make_engine(_with_database(base, name))
            upgrade(eng)
            eng.dispose()  # a template must have no sessions open
            self._pg[base] = name
        return self._pg[base]

    def drop_later(self, base: str, name: str) -> None:
        self._drops.append(self._dropper.submit(_drop_database, base, name))

    def close(self) -> None:
        for drop in self._drops:
            drop.result()
        self._dropper.shutdown()
        for base, name in self._pg.items():
            _drop_database(base, name)


def _with_database(base: str, name: str) -> str:
    return make_url(normalise_url(base)).set(database=name).render_as_string(hide_password=False)


def _create_database(base: str, name: str, template: str | None = None) -> None:
    admin = _admin_engine(base)
    try:
        with admin.connect() as conn:
            copy = f' TEMPLATE "{template}" STRATEGY WAL_LOG' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
            # A throw-away database: a commit need not wait for its WAL to reach the disk.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        admin.dispose()


def _drop_database(base: str, name: str) -> None:
    admin = _admin_engine(base)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreTemplates]:
    templates = StoreTemplates(tmp_path_factory.mktemp("store-template"))
    yield templates
    templates.close()


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Browser tests (marked ``browser``, or using the ``chromium`` fixture) run on SQLite
    only: a page reads the store through the same code as the API, whose tests run on both
    stores, and a browser test is among the slowest there are."""
    browser = "chromium" in metafunc.fixturenames or metafunc.definition.get_closest_marker(
        "browser"
    )
    if browser and "database_url" in metafunc.fixturenames:
        direct = {
            name
            for mark in metafunc.definition.iter_markers("parametrize")
            for name in ([mark.args[0]] if isinstance(mark.args[0], str) else mark.args[0])
        }
        if "database_url" not in direct:
            metafunc.definition.add_marker(
                pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
            )


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, store_templates: StoreTemplates
) -> Iterator[str]:
    """A URL to a store: SQLite always, PostgreSQL when WATCHKEEPER_TEST_DATABASE_URL is set
    (a throw-away database per test, dropped afterwards). Migrated to the newest revision when
    the test uses the ``engine`` fixture (or one built on it, such as ``ctx``), else empty."""
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        if migrated:
            store_templates.sqlite_copy(path)
        yield f"sqlite:///{path}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    template = store_templates.pg_template(base) if migrated else None
    name = f"wk_test_{uuid.uuid4().hex[:12]}"
    _create_database(base, name, template)
    try:
        yield _with_database(base, name)
    finally:
        store_templates.drop_later(base, name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test's store, migrated by ``database_url`` (a copy of the template)."""
    eng = make_engine(database_url)
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
    context.close()


@pytest.fixture
def server(ctx: AppContext) -> Iterator[LiveServer]:
    """A real uvicorn serving the app on a free loopback port."""
    with LiveServer(create_app(ctx)) as live:
        yield live


def make_user(ctx: AppContext, username: str, role: str, password: str = ADMIN_PASSWORD) -> None:
    remember_secret(password)
    with ctx.sessions() as session:
        create_user(session, username, password, role)
        session.commit()


def login(base_url: str, username: str, password: str = ADMIN_PASSWORD) -> httpx.Client:
    """Return a client signed in through the real login form, with the CSRF header set."""
    remember_secret(password)
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
    remember_secret(client.cookies.get(COOKIE_NAME))
    session = client.get("/api/v1/session").json()
    client.headers["X-CSRF-Token"] = session["csrf_token"]
    return client


@pytest.fixture
def sign_in(ctx: AppContext, server: LiveServer) -> Iterator[Callable[..., httpx.Client]]:
    """Return a function that makes a user (when given a role) and signs them in through
    the login form; the clients are closed at the end."""
    clients: list[httpx.Client] = []

    def sign(
        username: str, role: str | None = None, password: str = ADMIN_PASSWORD
    ) -> httpx.Client:
        if role:
            make_user(ctx, username, role)
        clients.append(login(server.url, username, password))
        return clients[-1]

    yield sign
    for client in clients:
        client.close()


def form_token(client: httpx.Client, path: str) -> str:
    """Return the CSRF token of the form on the page at ``path``."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


@pytest.fixture
def admin(ctx: AppContext, server: LiveServer) -> Iterator[httpx.Client]:
    make_user(ctx, "admin", "admin")
    client = login(server.url, "admin")
    try:
        yield client
    finally:
        client.close()


# --- The "no secret in any log line" guard -------------------------------------------------
# Every log record of the whole run (DEBUG and up, message and traceback, as logged: before any
# redacting filter) and every line a `watchkeeper up` subprocess prints (tests.helpers.UpProcess)
# is kept. At the end of the session the run fails if any of it holds a secret that a test or
# fixture made and passed to remember_secret(): passwords, API tokens, TOTP secrets, sessions.

SecretT = TypeVar("SecretT", str, str | None)


def remember_secret(value: SecretT) -> SecretT:
    """Have the guard look for ``value`` in every log line of the run; return it unchanged.
    Call it for every secret a test or fixture creates (values under 8 characters are
    ignored: they would match ordinary text)."""
    LOG_GUARD.remember(value)
    return value


remember_secret(ADMIN_PASSWORD)
# Left at WARNING: sqlalchemy would log every statement and its parameters; httpcore is the tests'
# own HTTP client, whose wire trace prints every response header verbatim (Set-Cookie included).
QUIET_LOGGERS = ("sqlalchemy", "httpcore")


class _KeepEveryRecord(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)  # the message, and the traceback when there is one
        except Exception:  # a broken format string: keep its parts
            line = f"{record.msg!r} % {record.args!r}"
        LOG_GUARD.note(current_test() or "(between tests)", line)


_keeper = _KeepEveryRecord()


def _attach(root: logging.Logger) -> None:
    if _keeper not in root.handlers:
        root.handlers.insert(0, _keeper)  # first, so it sees records before any redaction


@pytest.fixture(scope="session", autouse=True)
def secret_log_guard() -> Iterator[SecretLogGuard]:
    """Keep every log record of the run (checked in pytest_sessionfinish below)."""
    root = logging.getLogger()
    saved = root.level, {n: logging.getLogger(n).level for n in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)
    root.setLevel(logging.DEBUG)
    _attach(root)
    yield LOG_GUARD
    root.removeHandler(_keeper)
    root.setLevel(saved[0])
    for name, level in saved[1].items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(autouse=True)
def _secret_log_guard_attached(secret_log_guard: SecretLogGuard) -> None:
    """Put the guard's handler back should something have replaced the root's handlers."""
    _attach(logging.getLogger())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a remembered secret is in any kept line (shown masked)."""
    leaks = LOG_GUARD.leaks()
    if not leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(leaks)} log line(s) hold a secret (shown as <secret>):"]
    lines += [f"{where}: {text}" for where, text in leaks[:50]]
    if len(leaks) > 50:
        lines.append(f"... and {len(leaks) - 50} more")
    if reporter is not None:
        reporter.write("\n")
        reporter.write_sep("=", "SECRETS IN LOG LINES", red=True, bold=True)
        for line in lines:
            reporter.write_line(line, red=True)
    else:
        print("\n".join(lines))
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
