"""Server-side sessions: lookup, timeouts, and the housekeeping job that purges them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from tests.conftest import make_user
from watchkeeper.auth.sessions import IDLE_TIMEOUT, resolve_session, start_session
from watchkeeper.runtime.context import AppContext
from watchkeeper.runtime.scheduler import Scheduler
from watchkeeper.runtime.server import register_housekeeping
from watchkeeper.store.tables import ScheduledJob, User, WebSession, utcnow


def _session_count(ctx: AppContext) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(WebSession)) or 0


def test_session_resolves_until_idle_timeout(ctx: AppContext) -> None:
    make_user(ctx, "ana", "viewer")
    with ctx.sessions() as db:
        user = db.scalar(select(User))
        assert user is not None
        token = start_session(db, user)
        db.commit()
        info = resolve_session(db, token)
        assert info is not None and info.username == "ana" and len(info.csrf_token) == 64
        row = db.scalar(select(WebSession))
        assert row is not None and row.id != token  # only a digest is stored
        row.last_seen_at = utcnow() - IDLE_TIMEOUT - timedelta(seconds=1)
        db.commit()
        assert resolve_session(db, token) is None
        assert resolve_session(db, "not-a-token") is None


def test_housekeeping_job_purges_expired_sessions(ctx: AppContext) -> None:
    make_user(ctx, "ben", "viewer")
    with ctx.sessions() as db:
        user = db.scalar(select(User))
        assert user is not None
        start_session(db, user)
        start_session(db, user)
        db.flush()
        stale = db.scalars(select(WebSession)).first()
        assert stale is not None
        stale.expires_at = utcnow() - timedelta(minutes=1)
        db.commit()
    now = [utcnow()]
    scheduler = Scheduler(ctx.sessions, clock=lambda: now[0])
    register_housekeeping(scheduler, ctx)
    asyncio.run(scheduler.run_once())  # seeds the first runs, an hour ahead
    assert _session_count(ctx) == 2
    now[0] += timedelta(hours=2)
    asyncio.run(scheduler.run_once())
    with ctx.sessions() as db:
        job = db.get(ScheduledJob, "housekeeping.purge_sessions")
        assert job is not None and (job.run_count, job.last_status) == (1, "ok")
    assert _session_count(ctx) == 1
