"""User administration, the signed-in user's password and sessions, and teams (API)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import ADMIN_PASSWORD, make_user, remember_secret
from tests.helpers import LiveServer
from watchkeeper.auth import throttle
from watchkeeper.auth.passwords import verify_password
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import AuditEntry, LoginFailure, TotpCredential, User, WebSession

NEW_PASSWORD = remember_secret("a brand new and rather long passphrase")


def signed_in(client: httpx.Client) -> bool:
    resp = client.get("/api/v1/session")
    assert resp.status_code in (200, 401), resp.text
    return resp.status_code == 200


def audit_entries(ctx: AppContext, action: str) -> list[AuditEntry]:
    with ctx.sessions() as db:
        return list(
            db.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def form_login(base_url: str, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        return client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf.group(1)},
        )


def problem_fields(resp: httpx.Response) -> dict[str, str]:
    assert resp.headers["content-type"] == "application/problem+json", resp.text
    return {e["field"]: e["message"] for e in resp.json().get("errors", [])}


# -- user administration --------------------------------------------------------------------


def test_a_role_change_ends_the_users_sessions(
    admin: httpx.Client, ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    first, second = sign_in("ana", "viewer"), sign_in("ana")
    resp = admin.patch("/api/v1/users/ana", json={"role": "operator"})
    assert resp.status_code == 200 and resp.json()["role"] == "operator"
    assert not signed_in(first) and not signed_in(second)
    assert signed_in(admin)
    again = sign_in("ana")
    assert again.get("/api/v1/session").json()["role"] == "operator"
    [entry] = audit_entries(ctx, "user.update")
    assert entry.actor == "admin" and entry.target == "user/ana" and entry.client_addr
    assert entry.detail == {
        "changes": {"role": {"before": "viewer", "after": "operator"}},
        "sessions_ended": 2,
    }


def test_profile_fields_change_without_ending_sessions(
    admin: httpx.Client, ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    ana = sign_in("ana", "viewer")
    resp = admin.patch(
        "/api/v1/users/ana", json={"display_name": "Ana Lima", "email": "ana@example.com"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["display_name"] == "Ana Lima" and resp.json()["email"] == "ana@example.com"
    assert signed_in(ana)
    assert admin.patch("/api/v1/users/ana", json={"email": None}).json()["email"] is None
    # No change, no audit entry.
    assert admin.patch("/api/v1/users/ana", json={"display_name": "Ana Lima"}).status_code == 200
    assert len(audit_entries(ctx, "user.update")) == 2


def test_disabling_ends_sessions_and_refuses_sign_in(
    admin: httpx.Client, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    ana = sign_in("ana", "viewer")
    assert admin.patch("/api/v1/users/ana", json={"disabled": True}).json()["disabled"] is True
    assert not signed_in(ana)
    assert form_login(server.url, "ana", ADMIN_PASSWORD).status_code == 401
    assert admin.patch("/api/v1/users/ana", json={"disabled": False}).status_code == 200
    assert form_login(server.url, "ana", ADMIN_PASSWORD).status_code == 303


def test_user_changes_are_validated_by_field(admin: httpx.Client) -> None:
    make = admin.post(
        "/api/v1/users", json={"username": "ana", "password": NEW_PASSWORD, "role": "viewer"}
    )
    assert make.status_code == 201 and make.json()["kind"] == "human"
    resp = admin.patch(
        "/api/v1/users/ana", json={"role": "root", "email": "not-an-address", "display_name": ""}
    )
    assert resp.status_code == 422
    assert set(problem_fields(resp)) == {"role", "email"}
    resp = admin.patch("/api/v1/users/ana", json={"password": "x"})
    assert resp.status_code == 422 and "body.password" in problem_fields(resp)
    resp = admin.patch("/api/v1/users/ana", json={"disabled": None})
    assert problem_fields(resp) == {"disabled": "must be true or false"}
    assert admin.patch("/api/v1/users/nobody", json={"role": "viewer"}).status_code == 404


def test_the_last_admin_cannot_demote_or_disable_themselves(
    admin: httpx.Client, ctx: AppContext
) -> None:
    for change in ({"role": "operator"}, {"disabled": True}):
        resp = admin.patch("/api/v1/users/admin", json=change)
        assert resp.status_code == 409 and "last enabled admin" in resp.json()["detail"]
    assert signed_in(admin)
    make_user(ctx, "second", "admin")
    assert admin.patch("/api/v1/users/admin", json={"role": "operator"}).status_code == 200
    assert not signed_in(admin)  # privileges changed: signed out


def test_creating_a_user_through_the_api_is_audited(admin: httpx.Client, ctx: AppContext) -> None:
    resp = admin.post(
        "/api/v1/users",
        json={"username": "bea", "password": NEW_PASSWORD, "role": "responder"},
    )
    assert resp.status_code == 201, resp.text
    [entry] = [e for e in audit_entries(ctx, "user.create") if e.target == "user/bea"]
    assert entry.actor == "admin" and entry.detail["changes"]["role"]["after"] == "responder"
    assert NEW_PASSWORD not in str(entry.detail)


def test_an_admin_signs_a_user_out_everywhere(
    admin: httpx.Client, ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    clients = [sign_in("ana", "viewer"), sign_in("ana")]
    resp = admin.delete("/api/v1/users/ana/sessions")
    assert resp.status_code == 200 and resp.json() == {"sessions_ended": 2}
    assert not any(signed_in(c) for c in clients)
    [entry] = audit_entries(ctx, "user.sessions_ended")
    assert entry.target == "user/ana" and entry.detail["sessions_ended"] == 2


def test_unlock_after_ten_failed_sign_ins(
    admin: httpx.Client, ctx: AppContext, server: LiveServer
) -> None:
    make_user(ctx, "ana", "viewer")
    for attempt in range(throttle.LOCK_AFTER):
        resp = form_login(server.url, "ana", f"wrong guess number {attempt}")
        assert resp.status_code == 401, (attempt, resp.status_code)
        # Step past the progressive delay instead of sleeping through it: move the recorded
        # failures back in time (all stay inside the counting window).
        with ctx.sessions() as db:
            for failure in db.scalars(select(LoginFailure).where(LoginFailure.username == "ana")):
                failure.at -= timedelta(seconds=31)
            db.commit()
    locked = form_login(server.url, "ana", ADMIN_PASSWORD)
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    with ctx.sessions() as db:
        assert throttle.is_locked(db, "ana")
    assert audit_entries(ctx, "user.locked")
    assert ">locked<" in admin.get("/access").text

    resp = admin.post("/api/v1/users/ana/unlock")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"username": "ana", "failures_forgotten": throttle.LOCK_AFTER}
    with ctx.sessions() as db:
        assert not throttle.is_locked(db, "ana")
    assert form_login(server.url, "ana", ADMIN_PASSWORD).status_code == 303
    [entry] = audit_entries(ctx, "user.unlocked")
    assert entry.actor == "admin" and entry.target == "user/ana"
    assert entry.detail == {"was_locked": True, "failures_forgotten": throttle.LOCK_AFTER}
    assert admin.post("/api/v1/users/nobody/unlock").status_code == 404


def test_only_admins_administer_users(sign_in: Callable[..., httpx.Client]) -> None:
    olga = sign_in("olga", "operator")
    sign_in("ana", "viewer")
    assert olga.patch("/api/v1/users/ana", json={"role": "admin"}).status_code == 403
    assert olga.patch("/api/v1/users/olga", json={"role": "admin"}).status_code == 403
    assert olga.post("/api/v1/users/ana/unlock").status_code == 403
    assert olga.delete("/api/v1/users/ana/sessions").status_code == 403


# -- the signed-in user's sessions and password -------------------------------------------


def test_sign_out_everywhere_else_keeps_the_current_session(
    ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    here, phone, laptop = sign_in("ana", "viewer"), sign_in("ana"), sign_in("ana")
    other = sign_in("bob", "viewer")
    resp = here.delete("/api/v1/me/sessions")
    assert resp.status_code == 200 and resp.json() == {"sessions_ended": 2}
    assert signed_in(here) and not signed_in(phone) and not signed_in(laptop)
    assert signed_in(other)
    [entry] = audit_entries(ctx, "user.sessions_ended")
    assert entry.actor == "ana" and entry.detail == {"sessions_ended": 2, "kept_current": True}


def test_sign_out_everywhere_needs_the_csrf_token(sign_in: Callable[..., httpx.Client]) -> None:
    ana = sign_in("ana", "viewer")
    token = ana.headers.pop("X-CSRF-Token")
    assert ana.delete("/api/v1/me/sessions").status_code == 403
    ana.headers["X-CSRF-Token"] = token


def test_changing_the_password_ends_the_other_sessions(
    ctx: AppContext, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    here, elsewhere = sign_in("ana", "viewer"), sign_in("ana")
    resp = here.post(
        "/api/v1/me/password",
        json={"current_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"sessions_ended": 1}
    assert signed_in(here) and not signed_in(elsewhere)
    assert form_login(server.url, "ana", ADMIN_PASSWORD).status_code == 401
    assert form_login(server.url, "ana", NEW_PASSWORD).status_code == 303
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.username == "ana"))
        assert user is not None and user.password_changed_at is not None
        assert verify_password(user.password_hash, NEW_PASSWORD)
    [entry] = audit_entries(ctx, "user.password_changed")
    assert entry.actor == "ana" and entry.detail == {"other_sessions_ended": 1}
    for e in audit_entries(ctx, "user.password_changed"):
        assert NEW_PASSWORD not in str(e.detail) and ADMIN_PASSWORD not in str(e.detail)


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("short one", "at least 15 characters"),
        ("ana-is-my-very-long-password", "must not contain the user name"),
        ("Password12345678", "most common passwords"),
        ("abcabcabcabcabcabc", "repeated"),
    ],
)
def test_a_new_password_is_refused_with_the_reason(
    sign_in: Callable[..., httpx.Client], new: str, reason: str
) -> None:
    ana, other = sign_in("ana", "viewer"), sign_in("ana")
    resp = ana.post(
        "/api/v1/me/password", json={"current_password": ADMIN_PASSWORD, "new_password": new}
    )
    assert resp.status_code == 422
    fields = problem_fields(resp)
    assert list(fields) == ["new_password"] and reason in fields["new_password"]
    assert signed_in(other)  # nothing changed


def test_a_wrong_current_password_is_refused_and_counted(
    ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    ana = sign_in("ana", "viewer")
    resp = ana.post(
        "/api/v1/me/password", json={"current_password": "not it", "new_password": NEW_PASSWORD}
    )
    assert resp.status_code == 422
    assert problem_fields(resp) == {"current_password": "is not your current password"}
    with ctx.sessions() as db:
        failures = db.scalars(select(LoginFailure).where(LoginFailure.username == "ana")).all()
        assert len(failures) == 1
    assert audit_entries(ctx, "user.password_change_failed")


def test_eight_characters_suffice_with_a_second_factor(
    ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    ana = sign_in("ana", "viewer")
    body = {"current_password": ADMIN_PASSWORD, "new_password": "k7#Qz!m2"}
    resp = ana.post("/api/v1/me/password", json=body)
    assert resp.status_code == 422 and "8 once you have two-factor" in resp.text
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.username == "ana"))
        assert user is not None
        db.add(TotpCredential(user_id=user.id, secret_enc="x", confirmed=True))
        db.commit()
    assert ana.post("/api/v1/me/password", json=body).status_code == 200


def test_a_token_call_changing_the_password_ends_every_browser_session(
    ctx: AppContext, server: LiveServer, sign_in: Callable[..., httpx.Client]
) -> None:
    ana = sign_in("ana", "viewer")
    token = remember_secret(ana.post("/api/v1/tokens", json={"name": "script"}).json()["token"])
    resp = httpx.post(
        f"{server.url}/api/v1/me/password",
        json={"current_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200 and resp.json() == {"sessions_ended": 1}
    assert not signed_in(ana)
    with ctx.sessions() as db:
        assert db.scalars(select(WebSession)).all() == []


# -- teams --------------------------------------------------------------------------------------


def test_teams_and_members(
    admin: httpx.Client, ctx: AppContext, sign_in: Callable[..., httpx.Client]
) -> None:
    viewer = sign_in("vera", "viewer")
    make_user(ctx, "olga", "operator")
    made = admin.post("/api/v1/teams", json={"name": "platform", "description": "Infra"})
    assert made.status_code == 201, made.text
    assert made.json()["members"] == []
    assert admin.post("/api/v1/teams", json={"name": "platform"}).status_code == 409
    for who in ("olga", "vera", "olga"):  # adding twice changes nothing
        assert (
            admin.post("/api/v1/teams/platform/members", json={"username": who}).status_code == 200
        )
    team: dict[str, Any] = viewer.get("/api/v1/teams/platform").json()
    assert team["members"] == ["olga", "vera"] and team["description"] == "Infra"
    assert [t["name"] for t in viewer.get("/api/v1/teams").json()] == ["platform"]
    assert viewer.post("/api/v1/teams", json={"name": "mine"}).status_code == 403
    assert viewer.delete("/api/v1/teams/platform/members/vera").status_code == 403

    renamed = admin.patch("/api/v1/teams/platform", json={"name": "infra", "description": ""})
    assert renamed.status_code == 200 and renamed.json()["name"] == "infra"
    assert admin.get("/api/v1/teams/platform").status_code == 404
    removed = admin.delete("/api/v1/teams/infra/members/vera")
    assert removed.status_code == 200 and removed.json()["members"] == ["olga"]
    assert admin.delete("/api/v1/teams/infra/members/vera").status_code == 404
    assert admin.delete("/api/v1/teams/infra").status_code == 204
    assert admin.get("/api/v1/teams").json() == []
    with ctx.sessions() as db:
        assert db.get(User, 1) is not None  # members keep their accounts
    actions = [e.action for e in audit_entries(ctx, "team.create")]
    assert actions == ["team.create"]
    with ctx.sessions() as db:
        trail = list(
            db.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.startswith("team."))
                .order_by(AuditEntry.id)
            )
        )
    assert trail == [
        "team.create",
        "team.member_add",
        "team.member_add",
        "team.update",
        "team.member_remove",
        "team.delete",
    ]
    [update_entry] = audit_entries(ctx, "team.update")
    assert update_entry.detail["changes"]["name"] == {"before": "platform", "after": "infra"}


def test_team_input_is_validated_by_field(admin: httpx.Client) -> None:
    resp = admin.post("/api/v1/teams", json={"name": "no spaces allowed", "description": "x" * 501})
    assert resp.status_code == 422
    assert set(problem_fields(resp)) == {"name", "description"}
    assert admin.post("/api/v1/teams", json={"name": "ops"}).status_code == 201
    resp = admin.post("/api/v1/teams/ops/members", json={"username": "ghost"})
    assert resp.status_code == 422 and problem_fields(resp) == {"username": 'no user "ghost"'}
    assert admin.post("/api/v1/teams/none/members", json={"username": "admin"}).status_code == 404
    assert admin.post("/api/v1/teams", json={"name": "dev"}).status_code == 201
    assert admin.patch("/api/v1/teams/dev", json={"name": "ops"}).status_code == 409
