"""The account page (every user) and the Access page (admins), through their HTML forms."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
from sqlalchemy import select

from tests.conftest import ADMIN_PASSWORD, login, make_user, remember_secret
from tests.helpers import LiveServer
from watchkeeper.auth import throttle
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import ApiToken, AuditEntry, LoginFailure, User

NEW_PASSWORD = remember_secret("a brand new and rather long passphrase")
TOKEN = re.compile(r"wk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def post_form(client: httpx.Client, path: str, **fields: str) -> httpx.Response:
    """Send a form as a browser would: the CSRF token in a hidden field, not a header."""
    token = csrf_of(client.get("/account"))
    header = client.headers.pop("X-CSRF-Token", None)
    try:
        return client.post(path, data={"csrf_token": token, **fields})
    finally:
        if header is not None:
            client.headers["X-CSRF-Token"] = header


def text_of(resp: httpx.Response) -> str:
    """The page's text without tags, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", resp.text)))


# -- /account ---------------------------------------------------------------------------------


def test_the_account_page_shows_profile_sessions_and_tokens(
    sign_in: Callable[..., httpx.Client],
) -> None:
    ana = sign_in("ana", "responder")
    sign_in("ana")
    page = ana.get("/account")
    assert page.status_code == 200
    text = text_of(page)
    assert "Your account" in text and "Signed in as ana with the responder role" in text
    assert "this session" in text and text.count("127.0.0.1") == 2
    assert "Sign out everywhere else" in text and "You have no API tokens." in text
    # Token roles offered stop at the user's own role.
    assert '<option value="responder"' in page.text and '<option value="admin"' not in page.text
    assert 'href="/account"' in page.text  # the user name in the top bar links here


def test_a_token_made_on_the_account_page_is_shown_once(
    sign_in: Callable[..., httpx.Client], ctx: AppContext, server: LiveServer
) -> None:
    ana = sign_in("ana", "operator")
    made = post_form(ana, "/account/tokens", name="ci-deploy", role="operator", expires="30d")
    assert made.status_code == 200
    tokens = TOKEN.findall(made.text)
    assert len(set(tokens)) == 1, made.text
    token = remember_secret(tokens[0])
    assert "shown only this once" in text_of(made) and "Copy" in made.text
    assert made.headers["cache-control"] == "no-store"
    again = ana.get("/account")
    assert token not in again.text and token[:11] in again.text and "ci-deploy" in again.text
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/api/v1/me").json()["username"] == "ana"
    assert "never" not in text_of(again).split("ci-deploy", 1)[1].split("Revoke", 1)[0][:40]

    with ctx.sessions() as db:
        row = db.scalar(select(ApiToken))
        assert row is not None and row.expires_at is not None
    revoked = post_form(ana, f"/account/tokens/{row.id}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/account?done=revoked"
    assert "Token revoked" in ana.get("/account?done=revoked").text
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/api/v1/me").status_code == 401


def test_a_refused_token_form_names_the_problem(sign_in: Callable[..., httpx.Client]) -> None:
    vera = sign_in("vera", "viewer")
    resp = post_form(vera, "/account/tokens", name="", role="admin", expires="")
    assert resp.status_code == 422
    text = text_of(resp)
    assert "Name must not be empty" in text
    assert "Role may not exceed the owner's role (viewer)" in text
    assert not TOKEN.search(resp.text)
    resp = post_form(vera, "/account/tokens", name="x", role="viewer", expires="soon")
    assert resp.status_code == 422 and 'Expires "soon" is not a duration' in text_of(resp)


def test_account_forms_need_the_csrf_token(sign_in: Callable[..., httpx.Client]) -> None:
    ana = sign_in("ana", "viewer")
    ana.headers.pop("X-CSRF-Token")
    for path in ("/account/tokens", "/account/password", "/account/sessions/end-others"):
        assert ana.post(path, data={"name": "x"}).status_code == 403
        assert ana.post(path, data={"name": "x", "csrf_token": "forged"}).status_code == 403


def test_changing_the_password_on_the_account_page(
    sign_in: Callable[..., httpx.Client], server: LiveServer
) -> None:
    ana, elsewhere = sign_in("ana", "viewer"), sign_in("ana")
    short = post_form(
        ana,
        "/account/password",
        current_password=ADMIN_PASSWORD,
        new_password="too short",
        repeat_password="too short",
    )
    assert short.status_code == 422
    assert "New password must be at least 15 characters" in text_of(short)
    wrong = post_form(
        ana,
        "/account/password",
        current_password="nope",
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert "Current password is not your current password" in text_of(wrong)
    differ = post_form(
        ana,
        "/account/password",
        current_password=ADMIN_PASSWORD,
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD + "!",
    )
    assert differ.status_code == 422 and "differ" in differ.text
    ok = post_form(
        ana,
        "/account/password",
        current_password=ADMIN_PASSWORD,
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account?done=password"
    assert ana.get("/api/v1/session").status_code == 200
    assert elsewhere.get("/api/v1/session").status_code == 401
    again = login(server.url, "ana", NEW_PASSWORD)
    try:
        assert again.get("/api/v1/me").json()["username"] == "ana"
    finally:
        again.close()


def test_sign_out_everywhere_else_and_profile_on_the_account_page(
    sign_in: Callable[..., httpx.Client], ctx: AppContext
) -> None:
    ana, phone = sign_in("ana", "viewer"), sign_in("ana")
    resp = post_form(ana, "/account/sessions/end-others")
    assert resp.status_code == 303
    assert ana.get("/api/v1/session").status_code == 200
    assert phone.get("/api/v1/session").status_code == 401
    saved = post_form(ana, "/account/profile", display_name="Ana Lima", email="ana@example.com")
    assert saved.status_code == 303
    assert "Profile saved." in ana.get("/account?done=profile").text
    bad = post_form(ana, "/account/profile", display_name="Ana", email="nope")
    assert bad.status_code == 422 and "E-mail must be an e-mail address" in text_of(bad)
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.username == "ana"))
        assert user is not None and user.email == "ana@example.com"


# -- /access ----------------------------------------------------------------------------------


def test_the_access_page_is_for_admins(sign_in: Callable[..., httpx.Client]) -> None:
    olga = sign_in("olga", "operator")
    resp = olga.get("/access", headers={"Accept": "text/html"})
    assert resp.status_code == 403
    assert olga.post("/access/users/olga/role", data={"role": "admin"}).status_code == 403


def test_admin_manages_users_on_the_access_page(
    admin: httpx.Client, ctx: AppContext, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    created = post_form(
        admin,
        "/access/users",
        username="ana",
        password=NEW_PASSWORD,
        role="responder",
        display_name="Ana Lima",
        email="",
    )
    assert created.status_code == 303, created.text
    page = admin.get("/access")
    assert "Ana Lima" in page.text and 'aria-label="Role of ana"' in page.text
    refused = post_form(admin, "/access/users", username="bob", password="short", role="viewer")
    assert refused.status_code == 422 and "Password must be at least 15" in text_of(refused)

    ana = login(server.url, "ana", NEW_PASSWORD)
    try:
        assert post_form(admin, "/access/users/ana/role", role="operator").status_code == 303
        assert ana.get("/api/v1/session").status_code == 401  # role changed: signed out
    finally:
        ana.close()
    assert post_form(admin, "/access/users/ana/disable").status_code == 303
    assert "disabled" in admin.get("/access").text
    assert post_form(admin, "/access/users/ana/enable").status_code == 303
    last = post_form(admin, "/access/users/admin/role", role="viewer")
    assert last.status_code == 422 and "last enabled admin" in last.text

    bob = sign_in("bob", "viewer")
    assert post_form(admin, "/access/users/bob/sign-out").status_code == 303
    assert bob.get("/api/v1/session").status_code == 401


def test_a_locked_user_is_shown_and_unlocked_on_the_access_page(
    admin: httpx.Client, ctx: AppContext
) -> None:
    make_user(ctx, "ana", "viewer")
    with ctx.sessions() as db:
        for _ in range(throttle.LOCK_AFTER):
            throttle.record_failure(db, "ana", "192.0.2.1")
        db.commit()
    page = admin.get("/access")
    assert ">locked<" in page.text and "/access/users/ana/unlock" in page.text
    assert post_form(admin, "/access/users/ana/unlock").status_code == 303
    assert ">locked<" not in admin.get("/access").text
    with ctx.sessions() as db:
        assert db.scalars(select(LoginFailure)).all() == []
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "user.unlocked"))
        assert entry is not None and entry.actor == "admin"


def test_service_accounts_and_their_tokens_on_the_access_page(
    admin: httpx.Client, server: LiveServer
) -> None:
    made = post_form(
        admin, "/access/service-accounts", username="ci-bot", role="operator", display_name="CI"
    )
    assert made.status_code == 303
    page = admin.get("/access")
    assert "ci-bot" in page.text and "No tokens yet." in page.text
    created = post_form(
        admin, "/access/service-accounts/ci-bot/tokens", name="deploy", role="operator", expires=""
    )
    assert created.status_code == 200
    [token] = set(TOKEN.findall(created.text))
    remember_secret(token)
    assert "for ci-bot created" in text_of(created)
    assert token not in admin.get("/access").text
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as bot:
        assert bot.get("/api/v1/me").json()["kind"] == "service"
    too_high = post_form(admin, "/access/service-accounts/ci-bot/tokens", name="x", role="admin")
    assert too_high.status_code == 422 and "may not exceed" in text_of(too_high)
    token_id = admin.get("/api/v1/service-accounts/ci-bot/tokens").json()[0]["id"]
    revoked = post_form(admin, f"/access/service-accounts/ci-bot/tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as bot:
        assert bot.get("/api/v1/me").status_code == 401


def test_teams_on_the_access_page(admin: httpx.Client, ctx: AppContext) -> None:
    make_user(ctx, "ana", "viewer")
    assert (
        post_form(admin, "/access/teams", name="platform", description="Infra").status_code == 303
    )
    dup = post_form(admin, "/access/teams", name="platform")
    assert dup.status_code == 422 and "already exists" in dup.text
    assert post_form(admin, "/access/teams/platform/members", username="ana").status_code == 303
    page = admin.get("/access")
    assert (
        'id="team-platform"' in page.text
        and "/access/teams/platform/members/ana/remove" in page.text
    )
    assert post_form(admin, "/access/teams/platform/members/ana/remove").status_code == 303
    assert "No members yet." in admin.get("/access").text
    assert post_form(admin, "/access/teams/platform/delete").status_code == 303
    assert "No teams." in admin.get("/access").text
