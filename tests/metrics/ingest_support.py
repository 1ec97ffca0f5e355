"""Shared by the ingest tests: API tokens for the push receivers, reading series back."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from tests.conftest import remember_secret
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.tokens import create_service_account, create_token
from watchkeeper.metrics.labels import Labels, Matcher
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import User

FAR_PAST, FAR_FUTURE = 0, 2**62


def api_token(ctx: AppContext, role: str = "operator", account: str = "pusher") -> str:
    """Return a new API token of ``role`` for a service account (made on first use)."""
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.username == account))
        if user is None:
            create_service_account(db, Actor("test"), account, "admin")
            user = db.scalar(select(User).where(User.username == account))
        assert user is not None
        name = f"ingest-{role}-{secrets.token_hex(3)}"
        token = create_token(db, Actor("test"), user, name, role).token
        db.commit()
    return remember_secret(token)


def stored(ctx: AppContext, **equal: str) -> dict[Labels, list[tuple[int, float]]]:
    """Return every stored series whose labels equal ``equal``, with all its samples."""
    matchers = [Matcher(name, "=", value) for name, value in equal.items()]
    return {
        s.labels: list(zip(s.ts.tolist(), s.values.tolist(), strict=True))
        for s in ctx.metrics.select(matchers, FAR_PAST, FAR_FUTURE)
    }
