"""The audit trail as a log stream: failed sign-ins and lockouts become lines of
``{source="watchkeeper", stream="audit"}``, each row copied once, secrets never."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import timedelta

import httpx

from tests.conftest import make_user
from tests.helpers import LiveServer
from tests.logs.push_support import EVERYTHING
from watchkeeper.auth import audit
from watchkeeper.auth.throttle import LOCK_AFTER
from watchkeeper.logs.audit_stream import CHECKPOINT, AuditStream
from watchkeeper.logs.model import LogLine
from watchkeeper.runtime.app import create_app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import LoginFailure, utcnow

WRONG = "not-the-password-42"


def audit_lines(ctx: AppContext, query: str = '{stream="audit"}') -> list[LogLine]:
    ctx.logs.drain()
    return list(reversed(ctx.logs.search(query, *EVERYTHING, limit=1000)))


def eventually(found: Callable[[], list[LogLine]], what: str) -> list[LogLine]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = found()
        if lines:
            return lines
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def fail_sign_in(url: str, username: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        resp = client.post(
            "/login",
            data={"username": username, "password": WRONG, "csrf_token": csrf.group(1)},
        )
    assert resp.status_code == 401


def test_failed_sign_in_and_lockout_appear_in_the_audit_stream(ctx: AppContext) -> None:
    make_user(ctx, "bob", "viewer")
    with ctx.sessions() as db:  # bob failed before, long enough ago not to be slowed down
        earlier = utcnow() - timedelta(minutes=2)
        db.add_all(
            LoginFailure(at=earlier, username="bob", client_addr="127.0.0.1")
            for _ in range(LOCK_AFTER - 1)
        )
        db.commit()
    service = AuditStream(ctx.sessions, ctx.logs, interval=0.05)
    with LiveServer(create_app(ctx, services=[service])) as live:
        fail_sign_in(live.url, "bob")  # the tenth failure: denied, and bob is locked out
        (failed,) = eventually(
            lambda: audit_lines(ctx, '{stream="audit"} | action="login.failed"'), "login.failed"
        )
        assert dict(failed.labels) == {"level": "warn", "source": "watchkeeper", "stream": "audit"}
        assert failed.message == "failed sign-in as bob from 127.0.0.1"
        assert failed.fields["actor"] == "bob" and failed.fields["target"] == "user/bob"
        # the same (tenth) failure locked the name
        (locked,) = eventually(
            lambda: audit_lines(ctx, '{stream="audit", level="warn"} |= "locked out"'), "lockout"
        )
    assert locked.fields["action"] == "user.locked"
    assert locked.fields["for_minutes"] == "15"
    assert locked.message == "bob is locked out after repeated failed sign-ins from 127.0.0.1"
    everything = audit_lines(ctx)
    assert not any(WRONG in ln.message or WRONG in str(ln.fields) for ln in everything)
    ids = [int(ln.fields["audit_id"]) for ln in everything]
    assert ids == sorted(set(ids))  # each row once, in order


def test_rows_are_copied_once_across_restarts(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        audit.record(
            db,
            audit.Actor("alice", "10.0.0.7"),
            "token.create",
            "user/alice/token/3",
            {"name": "ci", "scopes": ["read"], "token": "wk_secret_value_123"},
        )
        db.commit()
    assert asyncio.run(AuditStream(ctx.sessions, ctx.logs).copy_new()) == 1
    (line,) = audit_lines(ctx)
    assert line.message == 'API token "ci" of alice created by alice from 10.0.0.7'
    assert line.fields["scopes"] == '["read"]' and "wk_secret_value_123" not in str(line.fields)
    assert (ctx.logs.store.root / CHECKPOINT).exists()
    # a restart reads the checkpoint; without it, the newest copied line
    assert asyncio.run(AuditStream(ctx.sessions, ctx.logs).copy_new()) == 0
    (ctx.logs.store.root / CHECKPOINT).unlink()
    assert asyncio.run(AuditStream(ctx.sessions, ctx.logs).copy_new()) == 0
    with ctx.sessions() as db:
        audit.record(db, audit.Actor("alice"), "logout", "user/alice")
        db.commit()
    assert asyncio.run(AuditStream(ctx.sessions, ctx.logs, batch=1).copy_new()) == 1
    assert [ln.message for ln in audit_lines(ctx)] == [
        'API token "ci" of alice created by alice from 10.0.0.7',
        "alice signed out",
    ]
