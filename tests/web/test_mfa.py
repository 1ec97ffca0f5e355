"""Two-factor sign-in against the live server: password then second factor, throttling of
wrong codes, enrolment when the plan requires MFA, and the Security page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.auth.softkey import SoftKey
from tests.conftest import ADMIN_PASSWORD, login, make_user, remember_secret
from tests.helpers import LiveServer
from watchkeeper.auth import recovery, throttle, totp
from watchkeeper.auth.sessions import COOKIE_NAME
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry, LoginFailure, User, WebSession, utcnow

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = re.compile(r"data-totp-secret>([A-Z2-7 ]+)</code>")
CODES = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def _user_id(ctx: AppContext, username: str) -> int:
    with ctx.sessions() as db:
        user_id = db.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        return user_id


def _with_totp(ctx: AppContext, username: str, role: str = "viewer") -> str:
    """A user with a confirmed authenticator app (confirmed with the previous step's code,
    so that the current and next codes are still unused); return its secret."""
    make_user(ctx, username, role)
    user_id = _user_id(ctx, username)
    with ctx.sessions() as db:
        secret = remember_secret(totp.pending_secret(db, ctx.secret_box, user_id))
        assert totp.confirm(db, ctx.secret_box, user_id, totp.code_at(secret, totp.time_step() - 1))
        db.commit()
    return secret


def _next_code(secret: str) -> str:
    """The code of the next time step: accepted (±1 step) and newer than any used so far."""
    return totp.code_at(secret, totp.time_step() + 1)


def _wrong_code(secret: str) -> str:
    now = totp.time_step()
    valid = {totp.code_at(secret, s) for s in range(now - 2, now + 3)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in valid)


_OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _password(base_url: str, username: str, next: str = "/") -> tuple[httpx.Client, str]:
    """Sign in with the password only; return the client (closed after the test) and where
    it was sent."""
    client = httpx.Client(base_url=base_url, timeout=10)
    _OPEN.append(client)
    token = _csrf(client.get("/login").text)
    resp = client.post(
        "/login",
        data={"username": username, "password": ADMIN_PASSWORD, "csrf_token": token, "next": next},
    )
    assert resp.status_code == 303, resp.text
    remember_secret(client.cookies.get(COOKIE_NAME))
    return client, resp.headers["location"]


def _submit_code(client: httpx.Client, code: str, method: str = "totp", next: str = "/") -> Any:
    token = _csrf(client.get(f"/login/mfa?next={next}").text)
    return client.post(
        "/login/mfa", data={"code": code, "method": method, "csrf_token": token, "next": next}
    )


def _audit(ctx: AppContext, actor: str) -> list[tuple[str, dict[str, Any] | None]]:
    with ctx.sessions() as db:
        rows = db.execute(
            select(AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.actor == actor)
            .order_by(AuditEntry.id)
        ).all()
    return [(a, d) for a, d in rows]


def _failures(ctx: AppContext, username: str) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).where(LoginFailure.username == username)) or 0


def test_password_then_totp_ends_in_a_full_session_under_a_new_cookie(
    ctx: AppContext, server: LiveServer
) -> None:
    make_user(ctx, "kim", "viewer")
    # Set the app up from the Security page, as a user would.
    with closing(login(server.url, "kim")) as kim:
        page = kim.get("/account/security/totp")
        assert page.status_code == 200 and '<svg role="img"' in page.text
        assert 'action="/account/security/totp"' in page.text
        found = SECRET.search(page.text)
        assert found
        secret = remember_secret(found.group(1).replace(" ", ""))
        codes_page = kim.post(
            "/account/security/totp", data={"code": totp.code_at(secret, totp.time_step())}
        )
        assert codes_page.status_code == 200, codes_page.text
        assert len(CODES.findall(codes_page.text)) == 10  # first factor: recovery codes shown
        assert "Authenticator app turned on" in kim.get("/account/security?done=totp-on").text
        assert kim.post("/logout").status_code == 303

    client, location = _password(server.url, "kim", next="/checks")
    assert location == "/login/mfa?next=/checks"
    pending = client.cookies[COOKIE_NAME]
    # Half signed in is not signed in.
    assert client.get("/").headers["location"].startswith("/login")
    assert client.get("/api/v1/me").status_code == 401
    page = client.get(location)
    assert page.status_code == 200 and "Code from your authenticator app" in page.text

    resp = _submit_code(client, _next_code(secret), next="/checks")
    assert resp.status_code == 303 and resp.headers["location"] == "/checks"
    full = client.cookies[COOKIE_NAME]
    assert full and full != pending
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me").json()["username"] == "kim"
    with httpx.Client(base_url=server.url, cookies={COOKIE_NAME: pending}) as old:
        assert old.get("/").status_code == 303  # the pending session is gone
    # Visiting the challenge again once signed in just moves on.
    assert client.get("/login/mfa?next=/checks").headers["location"] == "/checks"
    with ctx.sessions() as db:
        stages = db.scalars(select(WebSession.stage)).all()
    assert sorted(stages) == ["full"]
    actions = _audit(ctx, "kim")
    assert ("login.password_ok", {"next": "mfa"}) in actions
    assert actions[-1] == ("login", {"mfa": "totp"})


def test_wrong_codes_are_throttled_and_the_right_password_does_not_reset_the_count(
    ctx: AppContext, server: LiveServer
) -> None:
    secret = _with_totp(ctx, "kim")
    client, _ = _password(server.url, "kim")
    for _ in range(throttle.DELAY_AFTER):
        resp = _submit_code(client, _wrong_code(secret))
        assert resp.status_code == 401 and "That code is not right" in resp.text
    # Now even the right code is not checked until the delay has passed.
    resp = _submit_code(client, _next_code(secret))
    assert resp.status_code == 429, resp.text
    wait = int(resp.headers["Retry-After"])
    assert 1 <= wait <= 2 and "Too many failed attempts" in resp.text
    assert _failures(ctx, "kim") == throttle.DELAY_AFTER

    # The right password again does not wipe the count of wrong codes.
    time.sleep(wait + 0.1)
    client, location = _password(server.url, "kim")
    assert location.startswith("/login/mfa")
    assert _submit_code(client, _wrong_code(secret)).status_code == 401
    resp = _submit_code(client, _next_code(secret))
    assert resp.status_code == 429
    time.sleep(int(resp.headers["Retry-After"]) + 0.1)
    resp = _submit_code(client, _next_code(secret))
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    assert _failures(ctx, "kim") == 0  # a complete sign-in forgets the failures
    actions = [a for a, _ in _audit(ctx, "kim")]
    assert actions.count("login.mfa_failed") == throttle.DELAY_AFTER + 1
    assert "login.throttled" in actions and actions[-1] == "login"


def test_repeated_wrong_codes_lock_the_account(ctx: AppContext, server: LiveServer) -> None:
    secret = _with_totp(ctx, "kim")
    # Nine earlier failures (a few minutes back, so that the delay after them has passed).
    with ctx.sessions() as db:
        for _ in range(throttle.LOCK_AFTER - 1):
            db.add(
                LoginFailure(
                    username="kim", client_addr="127.0.0.1", at=utcnow() - timedelta(minutes=2)
                )
            )
        db.commit()
    client, location = _password(server.url, "kim")
    assert location.startswith("/login/mfa")
    assert _submit_code(client, _wrong_code(secret)).status_code == 401
    resp = _submit_code(client, _next_code(secret))
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 10 * 60
    # The password form is locked too.
    token = _csrf(client.get("/login").text)
    resp = client.post(
        "/login", data={"username": "kim", "password": ADMIN_PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 429
    actions = _audit(ctx, "kim")
    assert ("user.locked", {"for_minutes": 15}) in actions
    assert any(a == "login.throttled" and d and d.get("locked") for a, d in actions)


def test_a_recovery_code_signs_in_once(ctx: AppContext, server: LiveServer) -> None:
    _with_totp(ctx, "kim")
    with ctx.sessions() as db:
        codes = [remember_secret(c) for c in recovery.generate(db, _user_id(ctx, "kim"))]
        db.commit()
    client, _ = _password(server.url, "kim")
    resp = _submit_code(client, codes[0].upper(), method="recovery", next="/checks")
    assert resp.status_code == 303 and resp.headers["location"] == "/checks"
    assert _audit(ctx, "kim")[-1] == ("login", {"mfa": "recovery", "recovery_codes_left": 9})

    client, _ = _password(server.url, "kim")
    resp = _submit_code(client, codes[0], method="recovery")
    assert resp.status_code == 401 and "already used" in resp.text


def test_required_mfa_sends_a_user_without_a_factor_to_enrolment(
    ctx: AppContext, server: LiveServer
) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text("access:\n  require_mfa: [admin]\n"))
        db.commit()
    make_user(ctx, "ada", "admin")
    client, location = _password(server.url, "ada", next="/access")
    assert location == "/login/enrol?next=/access"
    # Not into the application until a second factor is set up.
    assert client.get("/access").headers["location"].startswith("/login")
    assert client.get("/api/v1/users").status_code == 401
    assert client.get("/login/mfa").headers["location"].startswith("/login?")

    page = client.get(location)
    assert page.status_code == 200 and "Your role (<strong>admin</strong>)" in page.text
    assert '<svg role="img"' in page.text and "Add security key" in page.text
    assert 'action="/login/enrol/totp"' in page.text
    found = SECRET.search(page.text)
    assert found
    secret = remember_secret(found.group(1).replace(" ", ""))
    token = _csrf(page.text)
    resp = client.post(
        "/login/enrol/totp", data={"code": "123", "csrf_token": token, "next": "/access"}
    )
    assert resp.status_code == 422 and "That code is not right" in resp.text
    resp = client.post(
        "/login/enrol/totp",
        data={
            "code": totp.code_at(secret, totp.time_step()),
            "csrf_token": token,
            "next": "/access",
        },
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/login/enrol?next=/access"
    assert client.get("/access").status_code == 303  # still not in
    page = client.get(resp.headers["location"])
    assert "Show my recovery codes" in page.text
    codes_page = client.post("/login/enrol/recovery", data={"csrf_token": token, "next": "/access"})
    assert len(CODES.findall(codes_page.text)) == 10
    pending = client.cookies[COOKIE_NAME]
    resp = client.post("/login/enrol/done", data={"csrf_token": token, "next": "/access"})
    assert resp.status_code == 303 and resp.headers["location"] == "/access"
    assert client.cookies[COOKIE_NAME] != pending
    assert client.get("/access").status_code == 200

    # The only factor of a role that requires one cannot be turned off.
    token = _csrf(client.get("/account/security").text)
    resp = client.post("/account/security/totp/disable", data={"csrf_token": token})
    assert resp.status_code == 409 and "requires two-factor sign-in" in resp.text
    with ctx.sessions() as db:
        assert totp.is_enabled(db, _user_id(ctx, "ada"))
    actions = [a for a, _ in _audit(ctx, "ada")]
    assert actions[-3:] == ["mfa.totp.enabled", "mfa.recovery.regenerated", "login"]
    assert _audit(ctx, "ada")[-1] == ("login", {"mfa": "totp", "enrolled": True})


def test_security_page_turns_the_app_off_and_replaces_recovery_codes(
    ctx: AppContext, server: LiveServer
) -> None:
    _with_totp(ctx, "kim")
    client, _ = _password(server.url, "kim")
    secret_user = _user_id(ctx, "kim")
    with ctx.sessions() as db:
        cred = totp.get_credential(db, secret_user)
        assert cred is not None
        secret = ctx.secret_box.open(cred.secret_enc)
    assert _submit_code(client, _next_code(secret)).status_code == 303
    page = client.get("/account/security")
    assert page.status_code == 200 and "No recovery codes" in page.text
    token = _csrf(page.text)
    first = CODES.findall(
        client.post("/account/security/recovery", data={"csrf_token": token}).text
    )
    second = CODES.findall(
        client.post("/account/security/recovery", data={"csrf_token": token}).text
    )
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    for code in first + second:
        remember_secret(code)
    assert "10 of 10 left" in client.get("/account/security").text
    resp = client.post("/account/security/totp/disable", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["location"] == "/account/security?done=totp-off"
    page = client.get(resp.headers["location"])
    assert "Authenticator app turned off" in page.text
    with ctx.sessions() as db:
        assert recovery.remaining(db, secret_user) == 0  # no factor, no recovery codes
    actions = [a for a, _ in _audit(ctx, "kim")]
    assert actions[-4:] == [
        "mfa.recovery.regenerated",
        "mfa.recovery.regenerated",
        "mfa.totp.disabled",
        "mfa.recovery.removed",
    ]
    # Without a second factor, the password alone signs in again.
    _, location = _password(server.url, "kim")
    assert location == "/"


def test_security_key_added_on_the_security_page_then_used_to_sign_in(
    ctx: AppContext, server: LiveServer
) -> None:
    make_user(ctx, "kim", "viewer")
    key = SoftKey(server.url)  # the origin is the URL the "browser" opened
    with closing(login(server.url, "kim")) as kim:
        assert (
            kim.post("/account/security/webauthn/options", headers={"X-CSRF-Token": ""}).status_code
            == 403
        )
        options = kim.post("/account/security/webauthn/options")
        assert options.status_code == 200
        assert options.json()["rp"] == {"id": "127.0.0.1", "name": "Watchkeeper"}
        resp = kim.post(
            "/account/security/webauthn/verify",
            json={"credential": key.register(options.text), "name": "Desk key"},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"redirect": "/account/security?done=key-added"}
        page = kim.get("/account/security?done=key-added").text
        assert "Security key added" in page and 'value="Desk key"' in page
        key_id = int(re.findall(r"/account/security/keys/(\d+)/rename", page)[0])
        resp = kim.post(f"/account/security/keys/{key_id}/rename", data={"name": "Blue key"})
        assert resp.headers["location"] == "/account/security?done=key-renamed"
        assert kim.post("/logout").status_code == 303

    client, location = _password(server.url, "kim", next="/checks")
    page = client.get(location)
    assert "Use security key" in page.text and "authenticator app" not in page.text
    csrf = _csrf(page.text)
    options = client.post("/login/mfa/webauthn/options", headers={"X-CSRF-Token": csrf})
    assert options.status_code == 200
    # A wrong answer counts as a failed attempt.
    bad = key.sign(options.text, "127.0.0.1")
    bad["response"]["signature"] = bad["response"]["signature"][::-1]
    resp = client.post(
        "/login/mfa/webauthn/verify", json={"credential": bad}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status_code == 400 and "not accepted" in resp.json()["detail"]
    assert _failures(ctx, "kim") == 1

    options = client.post("/login/mfa/webauthn/options", headers={"X-CSRF-Token": csrf})
    pending = client.cookies[COOKIE_NAME]
    resp = client.post(
        "/login/mfa/webauthn/verify",
        json={"credential": key.sign(options.text, "127.0.0.1"), "next": "/checks"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status_code == 200 and resp.json() == {"redirect": "/checks"}
    assert client.cookies[COOKIE_NAME] != pending
    assert client.get("/checks").status_code == 200
    assert _audit(ctx, "kim")[-1] == ("login", {"mfa": "webauthn", "key": "Blue key"})
    assert _failures(ctx, "kim") == 0

    # Removing the only key (the role does not require MFA) is allowed, and audited.
    token = _csrf(client.get("/account/security").text)
    resp = client.post(f"/account/security/keys/{key_id}/remove", data={"csrf_token": token})
    assert resp.headers["location"] == "/account/security?done=key-removed"
    actions = [a for a, _ in _audit(ctx, "kim")]
    assert {"mfa.key.added", "mfa.key.renamed", "mfa.key.removed"} <= set(actions)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login/mfa", {"code": "123456", "method": "totp"}),
        ("/login/cancel", {}),
    ],
)
def test_second_factor_forms_without_the_csrf_token_are_refused(
    ctx: AppContext, server: LiveServer, path: str, data: dict[str, str]
) -> None:
    _with_totp(ctx, "kim")
    client, _ = _password(server.url, "kim")
    resp = client.post(path, data=data)
    assert resp.status_code == 403
    assert _failures(ctx, "kim") == 0  # refused before the code was looked at
