"""An admin can remove the second factors of a user who lost device and recovery codes."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.conftest import login, make_user
from tests.helpers import LiveServer
from watchkeeper.auth import recovery, totp
from watchkeeper.auth.mfa import has_second_factor
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry, User


def enrol_totp(ctx: AppContext, username: str) -> int:
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None
        secret = totp.pending_secret(db, ctx.secret_box, user.id)
        assert totp.confirm(db, ctx.secret_box, user.id, totp.code_at(secret, totp.time_step()))
        recovery.generate(db, user.id)
        db.commit()
        return user.id


def test_admin_resets_mfa_and_it_is_audited(ctx: AppContext, admin: httpx.Client) -> None:
    make_user(ctx, "ivy", "operator")
    user_id = enrol_totp(ctx, "ivy")
    resp = admin.post("/api/v1/users/ivy/mfa/reset")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"totp": 1, "security_keys": 0, "recovery_codes": 10, "sessions_ended": 0}
    with ctx.sessions() as db:
        assert not has_second_factor(db, user_id)
        assert recovery.remaining(db, user_id) == 0
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "mfa.reset"))
        assert entry is not None and entry.actor == "admin" and entry.target == "user/ivy"


def test_only_admins_may_reset_mfa(ctx: AppContext, server: LiveServer) -> None:
    make_user(ctx, "jack", "operator")
    client = login(server.url, "jack")
    try:
        assert client.post("/api/v1/users/jack/mfa/reset").status_code == 403
    finally:
        client.close()


def test_unknown_user_is_404(admin: httpx.Client) -> None:
    assert admin.post("/api/v1/users/nobody/mfa/reset").status_code == 404
