"""Fixtures of the error-tracking tests: a live server whose ingest uses a fixed clock, and
API clients signed in with tokens (no password hashing: fast)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import remember_secret
from tests.errors.support import FIXED_CLOCK
from tests.helpers import LiveServer
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.tokens import create_service_account, create_token
from watchkeeper.errors.ingest import ErrorIngest
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import User

TokenClient = Callable[[str], httpx.Client]


@pytest.fixture
def errors_server(ctx: AppContext) -> Iterator[LiveServer]:
    """The app on loopback; its ingest's rate windows use a clock that does not move."""
    app = create_app(ctx)
    app.state.error_ingest = ErrorIngest(ctx.sessions, clock=lambda: FIXED_CLOCK)
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def client(errors_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client with no credentials (what an SDK is)."""
    with httpx.Client(base_url=errors_server.url, timeout=10) as http:
        yield http


@pytest.fixture
def api_as(ctx: AppContext, errors_server: LiveServer) -> Iterator[TokenClient]:
    """Return a function giving an API client with a token of the given role."""
    clients: list[httpx.Client] = []

    def make(role: str) -> httpx.Client:
        actor = Actor("test")
        with ctx.sessions() as db:
            create_service_account(db, actor, f"robot-{role}", role)
            robot = db.scalar(select(User).where(User.username == f"robot-{role}"))
            assert robot is not None
            token = remember_secret(create_token(db, actor, robot, "errors", role).token)
            db.commit()
        headers = {"Authorization": f"Bearer {token}"}
        clients.append(httpx.Client(base_url=errors_server.url, headers=headers, timeout=10))
        return clients[-1]

    yield make
    for made in clients:
        made.close()
