"""API tokens and service accounts, against the real server and store."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import ADMIN_PASSWORD, make_user, remember_secret
from tests.helpers import LiveServer
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.tokens import (
    LAST_USED_EVERY,
    create_token,
    lower_role,
    resolve_token,
)
from watchkeeper.exceptions import ValidationFailed
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import ApiToken, AuditEntry, User, utcnow

CHECK = {"name": "web", "type": "http", "url": "http://127.0.0.1:9/health"}
TOKEN = re.compile(r"^wk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_token(client: httpx.Client, role: str = "viewer", **extra: str) -> dict[str, str]:
    resp = client.post("/api/v1/tokens", json={"name": f"t-{role}", "role": role, **extra})
    assert resp.status_code == 201, resp.text
    body: dict[str, str] = resp.json()
    remember_secret(body["token"])
    return body


def _row(ctx: AppContext, token_id: int) -> ApiToken:
    with ctx.sessions() as db:
        row = db.get(ApiToken, token_id)
        assert row is not None
        return row


def test_a_token_is_shown_once_and_stored_only_as_its_hash(
    admin: httpx.Client, ctx: AppContext
) -> None:
    made = make_token(admin, "operator", expires_in="30d")
    token = made["token"]
    assert TOKEN.match(token)
    secret = token.split("_", 2)[2]
    assert len(secret) * 6 >= 256  # base64url characters carry 6 bits each
    assert made["prefix"] == token[:11] and made["state"] == "active"
    assert made["expires_at"] is not None and made["role"] == "operator"
    listed = admin.get("/api/v1/tokens").json()
    assert [t["id"] for t in listed] == [made["id"]]
    assert "token" not in listed[0] and secret not in admin.get("/api/v1/tokens").text
    assert secret not in admin.get("/account").text
    row = _row(ctx, int(made["id"]))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[3:11]
    for column in ApiToken.__table__.columns:
        assert secret not in str(getattr(row, column.key))
    with ctx.sessions() as db:
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "token.create"))
        assert entry is not None and entry.actor == "admin"
        assert secret not in str(entry.detail) and entry.detail["role"] == "operator"


def test_a_bearer_token_calls_the_api_without_csrf(admin: httpx.Client, server: LiveServer) -> None:
    token = make_token(admin, "operator")["token"]
    with httpx.Client(base_url=server.url, headers=bearer(token)) as api:
        assert api.get("/api/v1/me").json()["username"] == "admin"
        resp = api.post("/api/v1/objects/checks", json=CHECK)  # no cookie, no X-CSRF-Token
        assert resp.status_code == 201, resp.text
        assert api.delete("/api/v1/objects/checks/web").status_code == 204


def test_a_token_acts_with_its_role_not_its_owners(admin: httpx.Client, server: LiveServer) -> None:
    token = make_token(admin, "viewer")["token"]
    with httpx.Client(base_url=server.url, headers=bearer(token)) as api:
        assert api.get("/api/v1/status").status_code == 200
        refused = api.post("/api/v1/objects/checks", json=CHECK)
        assert refused.status_code == 403 and "operator" in refused.json()["detail"]
        assert api.get("/api/v1/users").status_code == 403
        # A token cannot mint a token above its own role.
        escalate = api.post("/api/v1/tokens", json={"name": "up", "role": "admin"})
        assert escalate.status_code == 422
        assert escalate.json()["errors"][0]["field"] == "role"
        assert (
            api.post("/api/v1/tokens", json={"name": "same", "role": "viewer"}).status_code == 201
        )


def test_a_token_scope_cannot_exceed_the_owner_role(sign_in: Callable[..., httpx.Client]) -> None:
    client = sign_in("olga", "operator")
    resp = client.post("/api/v1/tokens", json={"name": "too-much", "role": "admin"})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["errors"] == [
        {"field": "role", "message": "may not exceed the owner's role (operator)"}
    ]
    bad = client.post("/api/v1/tokens", json={"name": "", "role": "god", "expires_in": "soon"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.expires_in"}
    bad = client.post("/api/v1/tokens", json={"name": " ", "role": "god"})
    assert {e["field"] for e in bad.json()["errors"]} == {"name", "role"}
    assert make_token(client, "operator")["role"] == "operator"


def test_demoting_the_owner_demotes_their_tokens(
    admin: httpx.Client, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    token = make_token(sign_in("olga", "operator"), "operator")["token"]
    with httpx.Client(base_url=server.url, headers=bearer(token)) as api:
        assert api.post("/api/v1/objects/checks", json=CHECK).status_code == 201
        assert admin.patch("/api/v1/users/olga", json={"role": "viewer"}).status_code == 200
        assert api.get("/api/v1/me").status_code == 200
        assert api.put("/api/v1/objects/checks/web", json=CHECK).status_code == 403
        assert admin.patch("/api/v1/users/olga", json={"disabled": True}).status_code == 200
        assert api.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("how", ["expired", "revoked", "malformed", "unknown", "owner-disabled"])
def test_a_token_that_is_not_valid_is_401_with_a_bearer_challenge(
    admin: httpx.Client, ctx: AppContext, server: LiveServer, how: str
) -> None:
    made = make_token(admin, "viewer")
    token = made["token"]
    if how == "expired":
        with ctx.sessions() as db:
            row = db.get(ApiToken, made["id"])
            assert row is not None
            row.expires_at = utcnow() - timedelta(seconds=1)
            db.commit()
    elif how == "revoked":
        revoked = admin.delete(f"/api/v1/tokens/{made['id']}")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    elif how == "malformed":
        token = token[:-1]
    elif how == "unknown":
        token = token[:12] + ("A" if token[12] != "A" else "B") + token[13:]
    else:
        make_user(ctx, "second-admin", "admin")
        assert admin.patch("/api/v1/users/admin", json={"disabled": True}).status_code == 200
    resp = httpx.get(f"{server.url}/api/v1/status", headers=bearer(token))
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert "not valid" in resp.json()["detail"]


def test_a_bearer_token_does_not_sign_in_to_pages(admin: httpx.Client, server: LiveServer) -> None:
    token = make_token(admin, "admin")["token"]
    resp = httpx.get(f"{server.url}/access", headers=bearer(token))
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


def test_last_used_at_is_recorded_at_most_once_a_minute(
    admin: httpx.Client, ctx: AppContext, server: LiveServer
) -> None:
    made = make_token(admin, "viewer")
    assert made["last_used_at"] is None
    headers = bearer(made["token"])
    assert httpx.get(f"{server.url}/api/v1/me", headers=headers).status_code == 200
    first = _row(ctx, int(made["id"])).last_used_at
    assert first is not None and utcnow() - first < timedelta(seconds=30)
    assert httpx.get(f"{server.url}/api/v1/me", headers=headers).status_code == 200
    assert _row(ctx, int(made["id"])).last_used_at == first  # within the minute: no write
    with ctx.sessions() as db:
        row = db.get(ApiToken, made["id"])
        assert row is not None
        row.last_used_at = utcnow() - LAST_USED_EVERY - timedelta(seconds=1)
        db.commit()
    assert httpx.get(f"{server.url}/api/v1/me", headers=headers).status_code == 200
    later = _row(ctx, int(made["id"])).last_used_at
    assert later is not None and later > first - timedelta(seconds=1)
    assert admin.get("/api/v1/tokens").json()[0]["last_used_at"] is not None


def test_revoking_is_for_the_owner_only(
    admin: httpx.Client, ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    made = make_token(admin, "viewer")
    vera = sign_in("vera", "viewer")
    assert vera.delete(f"/api/v1/tokens/{made['id']}").status_code == 404
    assert vera.get("/api/v1/tokens").json() == []
    assert admin.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
    assert admin.get("/api/v1/tokens").json() == []
    listed = admin.get("/api/v1/tokens", params={"include_revoked": "true"}).json()
    assert listed[0]["state"] == "revoked" and listed[0]["revoked_at"]
    with ctx.sessions() as db:
        actions = list(
            db.scalars(select(AuditEntry.action).where(AuditEntry.target.like("%/token/%")))
        )
        assert actions == ["token.create", "token.revoke"]


def test_lower_role_and_resolve_token_edge_cases(ctx: AppContext) -> None:
    assert lower_role("admin", "viewer") == "viewer"
    assert lower_role("responder", "operator") == "responder"
    assert lower_role("bogus", "admin") == "bogus"
    make_user(ctx, "rita", "responder")
    with ctx.sessions() as db:
        rita = db.scalar(select(User).where(User.username == "rita"))
        assert rita is not None
        with pytest.raises(ValidationFailed) as err:
            create_token(db, Actor("t"), rita, "x", "viewer", expires_in=timedelta(0))
        assert err.value.errors == [("expires", "must be in the future")]
        new = create_token(db, Actor("t"), rita, "x", "responder")
        remember_secret(new.token)
        db.commit()
        info = resolve_token(db, new.token)
        assert info is not None and info.via_token and info.role == "responder"
        assert info.csrf_token == "" and info.username == "rita"
        assert resolve_token(db, "") is None
        assert resolve_token(db, "wk_" + "0" * 8 + "_" + "A" * 43) is None


# -- service accounts -----------------------------------------------------------------------


def test_an_admin_makes_a_service_account_that_works_with_tokens_only(
    admin: httpx.Client, ctx: AppContext, server: LiveServer
) -> None:
    made = admin.post(
        "/api/v1/service-accounts",
        json={"username": "ci-bot", "role": "operator", "display_name": "Deploys"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "service" and made.json()["role"] == "operator"
    assert [u["username"] for u in admin.get("/api/v1/service-accounts").json()] == ["ci-bot"]
    kinds = {u["username"]: u["kind"] for u in admin.get("/api/v1/users").json()}
    assert kinds == {"admin": "human", "ci-bot": "service"}
    with ctx.sessions() as db:
        row = db.scalar(select(User).where(User.username == "ci-bot"))
        assert row is not None and row.password_hash is None

    too_high = admin.post(
        "/api/v1/service-accounts/ci-bot/tokens", json={"name": "x", "role": "admin"}
    )
    assert too_high.status_code == 422
    token = admin.post(
        "/api/v1/service-accounts/ci-bot/tokens", json={"name": "deploy", "role": "operator"}
    )
    assert token.status_code == 201 and token.json()["owner"] == "ci-bot"
    remember_secret(token.json()["token"])
    with httpx.Client(base_url=server.url, headers=bearer(token.json()["token"])) as bot:
        assert bot.get("/api/v1/me").json()["kind"] == "service"
        assert bot.post("/api/v1/objects/checks", json=CHECK).status_code == 201
        assert bot.get("/api/v1/users").status_code == 403
    listed = admin.get("/api/v1/service-accounts/ci-bot/tokens").json()
    assert [t["name"] for t in listed] == ["deploy"] and "token" not in listed[0]
    revoked = admin.delete(f"/api/v1/service-accounts/ci-bot/tokens/{listed[0]['id']}")
    assert revoked.status_code == 200
    assert (
        httpx.get(f"{server.url}/api/v1/me", headers=bearer(token.json()["token"])).status_code
        == 401
    )
    # Not a service account: 404, and a person's tokens are not reachable this way.
    assert admin.get("/api/v1/service-accounts/admin/tokens").status_code == 404
    assert admin.post("/api/v1/service-accounts", json={"username": "ci-bot"}).status_code == 409
    bad = admin.post("/api/v1/service-accounts", json={"username": "-x", "role": "root"})
    assert {e["field"] for e in bad.json()["errors"]} == {"username", "role"}


def test_only_admins_manage_service_accounts(sign_in: Callable[..., httpx.Client]) -> None:
    client = sign_in("olga", "operator")
    assert client.get("/api/v1/service-accounts").status_code == 403
    assert client.post("/api/v1/service-accounts", json={"username": "bot"}).status_code == 403


def test_a_service_account_cannot_use_the_login_form(
    admin: httpx.Client, ctx: AppContext, server: LiveServer
) -> None:
    assert admin.post("/api/v1/service-accounts", json={"username": "robot"}).status_code == 201
    # Even with a password hash planted in the store, the sign-in form refuses it.
    from watchkeeper.auth.passwords import hash_password

    with ctx.sessions() as db:
        row = db.scalar(select(User).where(User.username == "robot"))
        assert row is not None
        row.password_hash = hash_password(ADMIN_PASSWORD)
        db.commit()
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        resp = client.post(
            "/login",
            data={"username": "robot", "password": ADMIN_PASSWORD, "csrf_token": csrf.group(1)},
        )
    assert resp.status_code == 401 and "Wrong user name or password." in resp.text
    assert "wk_session" not in resp.cookies


def test_a_token_in_a_log_line_is_masked() -> None:
    from watchkeeper.logging_setup import MASK, redact

    token = "wk_0123abcd_" + "x" * 43
    assert redact(f"calling with {token} failed") == f"calling with wk_0123abcd_{MASK} failed"
