"""Guessing passwords through the real sign-in form hits the throttle, then the lock."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import ADMIN_PASSWORD, make_user
from tests.helpers import LiveServer
from watchkeeper.auth import throttle
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry


def attempt(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": token.group(1),
            "next": "/",
        },
    )


def error_text(resp: httpx.Response) -> str:
    found = re.search(r'<div class="alert error" role="alert">(.*?)</div>', resp.text, re.S)
    assert found, resp.text
    return found.group(1).strip()


def test_quick_guesses_are_delayed(ctx: AppContext, server: LiveServer) -> None:
    make_user(ctx, "dana", "viewer")
    with httpx.Client(base_url=server.url) as client:
        for _ in range(throttle.DELAY_AFTER):
            assert attempt(client, "dana", "not the password at all").status_code == 401
        resp = attempt(client, "dana", ADMIN_PASSWORD)  # even the right one must wait
        assert resp.status_code == 429
        assert int(resp.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in error_text(resp)


def test_brute_force_loop_locks_the_account_until_unlocked(
    ctx: AppContext, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttle, "MAX_DELAY", timedelta(0))  # reach the lock without waiting
    make_user(ctx, "erin", "viewer")
    statuses = []
    with httpx.Client(base_url=server.url) as client:
        for i in range(throttle.LOCK_AFTER + 5):
            statuses.append(attempt(client, "erin", f"guess number {i:04d} wrong").status_code)
        assert statuses[: throttle.LOCK_AFTER] == [401] * throttle.LOCK_AFTER
        assert set(statuses[throttle.LOCK_AFTER :]) == {429}
        locked = attempt(client, "erin", ADMIN_PASSWORD)
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 60
        with ctx.sessions() as db:
            actions = [
                a
                for (a,) in db.execute(
                    select(AuditEntry.action).where(AuditEntry.target == "user/erin")
                )
            ]
            assert actions.count("login.failed") == throttle.LOCK_AFTER
            assert actions.count("user.locked") == 1
            throttle.clear(db, "erin")
            db.commit()
        assert attempt(client, "erin", ADMIN_PASSWORD).status_code == 303


def test_unknown_users_get_the_same_answers(
    ctx: AppContext, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttle, "MAX_DELAY", timedelta(0))
    make_user(ctx, "fay", "viewer")
    with httpx.Client(base_url=server.url) as client:
        for i in range(throttle.LOCK_AFTER + 1):
            known = attempt(client, "fay", f"wrong guess {i:04d} here")
            unknown = attempt(client, "nobody-by-that-name", f"wrong guess {i:04d} here")
            assert known.status_code == unknown.status_code
            assert error_text(known) == error_text(unknown)
            assert ("retry-after" in known.headers) == ("retry-after" in unknown.headers)
