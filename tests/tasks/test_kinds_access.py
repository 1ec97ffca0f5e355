"""The access review: stale accounts and tokens pre-marked, revocations applied at once (a
revoked token gets 401 on its very next call, a revoked account is disabled), the last admin
kept, non-admins refused, the review page and API, and the ``access_review`` task kind
whose completion applies the decisions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import form_token, make_user, remember_secret
from tests.helpers import LiveServer
from tests.tasks.support import apply_tasks, instances
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.tokens import create_service_account, create_token
from watchkeeper.auth.users import create_user
from watchkeeper.exceptions import ConflictError, ValidationFailed
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import ApiToken, AuditEntry, User
from watchkeeper.tasks import completion
from watchkeeper.tasks.kinds_access import apply_decisions, review_entries
from watchkeeper.tasks.schedule import make_due

SignIn = Callable[..., httpx.Client]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADMIN = Actor("boss")
PASSWORD = "correct horse battery staple"


def _people(db: Session) -> dict[str, str]:
    """boss (admin, signed in yesterday), old (signed in 200 days ago), never (never signed
    in, made a year ago), ci (a service account) with a fresh and a stale token; return the
    tokens' plaintexts by name."""
    remember_secret(PASSWORD)
    for name, role in (("boss", "admin"), ("old", "operator"), ("never", "viewer")):
        create_user(db, name, PASSWORD, role)
    create_service_account(db, ADMIN, "ci", "operator")
    db.flush()
    users = {u.username: u for u in db.scalars(select(User))}
    made = NOW - timedelta(days=365)
    for user in users.values():
        user.created_at = made
    users["boss"].last_login_at = NOW - timedelta(days=1)
    users["old"].last_login_at = NOW - timedelta(days=200)
    plain = {}
    for name in ("deploy", "forgotten"):
        new = create_token(db, ADMIN, users["ci"], name, "operator")
        plain[name] = remember_secret(new.token)
    db.flush()
    tokens = {t.name: t for t in db.scalars(select(ApiToken))}
    for token in tokens.values():
        token.created_at = made
    tokens["deploy"].last_used_at = NOW - timedelta(days=2)
    db.commit()
    return plain


def test_stale_accounts_and_tokens_are_pre_marked(db: Session) -> None:
    _people(db)
    entries = {e.key: e for e in review_entries(db, NOW)}
    token_ids = {t.name: t.id for t in db.scalars(select(ApiToken))}
    stale = {k for k, e in entries.items() if e.stale}
    assert stale == {"user:old", "user:never", f"token:{token_ids['forgotten']}"}
    assert entries["user:ci"].kind == "service"  # used through its deploy token 2 days ago
    assert entries["user:ci"].last_used == NOW - timedelta(days=2)
    assert entries["user:boss"].mfa is False
    assert entries[f"token:{token_ids['deploy']}"].owner == "ci"
    item = entries["user:never"].work_item(NOW)
    assert item.suggested == "revoke"
    assert item.detail == "role viewer, no MFA, never signed in, made 2025-03-01, stale"
    # 300 days: only the one never signed in for a year is stale
    longer = review_entries(db, NOW, timedelta(days=300))
    assert [e.key for e in longer if e.stale] == [
        "user:never",
        f"token:{token_ids['forgotten']}",
    ]


def test_revoking_disables_the_account_and_keeps_the_last_admin(db: Session) -> None:
    _people(db)
    applied = apply_decisions(
        db, {"user:old": "revoke", "user:boss": "revoke", "user:never": "confirm"}, ADMIN
    )
    db.commit()
    assert applied == [
        'user boss: kept ("boss" is the last enabled admin; make someone else admin first)',
        "disabled user old",
        "confirmed 1 account(s) and token(s)",
    ]
    disabled = {u.username for u in db.scalars(select(User).where(User.disabled))}
    assert disabled == {"old"}
    actions = [a for (a,) in db.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions[-2:] == ["user.update", "access.review"]
    assert "user:old" not in {e.key for e in review_entries(db, NOW)}


def test_bad_decisions_and_non_admins_are_refused(db: Session) -> None:
    _people(db)
    with pytest.raises(ValidationFailed) as bad:
        apply_decisions(db, {"user:old": "delete", "host:x": "confirm"}, ADMIN)
    assert bad.value.errors == [
        ("decisions.user:old", '"delete" is not one of confirm, revoke'),
        ("decisions.host:x", "use user:<name> or token:<id>"),
    ]
    with pytest.raises(ConflictError, match="needs the admin role; old acts as operator"):
        apply_decisions(db, {"user:never": "revoke"}, Actor("old"))
    # An admin's API token scoped to responder does not carry the admin's power.
    with pytest.raises(ConflictError, match="needs the admin role; .* acts as responder"):
        apply_decisions(db, {"user:never": "revoke"}, ADMIN, role="responder")
    assert apply_decisions(db, {"user:never": "confirm"}, Actor("old")) == [
        "confirmed 1 account(s) and token(s)"
    ]


def test_a_revoked_token_fails_at_once(ctx: AppContext, server: LiveServer) -> None:
    with ctx.sessions() as db:
        plain = _people(db)
        forgotten = db.scalar(select(ApiToken.id).where(ApiToken.name == "forgotten"))
    make_user(ctx, "admin", "admin")
    from tests.conftest import login

    admin = login(server.url, "admin")
    machine = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {plain['forgotten']}"}
    )
    try:
        listed = admin.get("/api/v1/access-review").json()
        assert listed["stale_days"] == 90
        assert {i["key"]: i["stale"] for i in listed["items"]}[f"token:{forgotten}"] is True
        assert machine.get("/api/v1/me").status_code == 200
        resp = admin.post(
            "/api/v1/access-review", json={"decisions": {f"token:{forgotten}": "revoke"}}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["applied"] == [
            f"revoked token forgotten (wk_{plain['forgotten'][3:11]}) of ci"
        ]
        assert machine.get("/api/v1/me").status_code == 401
        # the other token of the same account keeps working
        deploy = httpx.get(
            server.url + "/api/v1/me", headers={"Authorization": f"Bearer {plain['deploy']}"}
        )
        assert deploy.status_code == 200
        bad = admin.post("/api/v1/access-review", json={"decisions": {"user:x": "drop"}})
        assert bad.status_code == 422
    finally:
        machine.close()
        admin.close()


def test_the_api_and_page_need_an_admin(sign_in: SignIn, server: LiveServer) -> None:
    client = sign_in("rita", "operator")
    assert client.get("/api/v1/access-review").status_code == 403
    assert client.post("/api/v1/access-review", json={"decisions": {}}).status_code == 403
    assert httpx.get(server.url + "/api/v1/access-review").status_code == 401
    page = client.get("/access-review")
    assert page.status_code == 403


def test_the_page_revokes_the_selected_rows(ctx: AppContext, sign_in: SignIn) -> None:
    with ctx.sessions() as db:
        _people(db)
    client = sign_in("admin", "admin")
    page = client.get("/access-review")
    assert page.status_code == 200
    assert 'value="user:old" aria-label="Select user old" checked' in page.text
    token = form_token(client, "/access-review")
    resp = client.post(
        "/access-review",
        data={"csrf_token": token, "days": "90", "action": "revoke", "select": ["user:old"]},
    )
    assert resp.status_code == 200
    assert "disabled user old" in resp.text
    empty = client.post("/access-review", data={"csrf_token": token, "action": "confirm"})
    assert empty.status_code == 422
    assert "select at least one row first" in empty.text


TASK_PLAN = """
tasks:
  tasks:
    - name: access-review
      title: Quarterly access review
      kind: access_review
      options: {stale_after: 90d}
      rrule: FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1MO;BYHOUR=9
      due: 14d
      owner: boss
"""


def test_the_task_kind_applies_the_decisions(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        plain = _people(db)
        apply_tasks(db, TASK_PLAN, added=datetime(2026, 1, 1, tzinfo=UTC))
    with ctx.sessions() as db:
        make_due(db, datetime(2026, 4, 6, 8, tzinfo=UTC))
        db.commit()
        (row,) = instances(db, "access-review")
        suggested = {w["key"]: w["suggested"] for w in row.worklist}
        forgotten = db.scalar(select(ApiToken.id).where(ApiToken.name == "forgotten"))
        assert suggested["user:never"] == "revoke"
        assert suggested["user:boss"] == ""
        # a responder cannot revoke: the completion is refused, nothing changes
        make_user(ctx, "rita", "responder")
        keep = {"user:never": "confirm", "user:old": "confirm"}
        with pytest.raises(ConflictError):
            completion.complete(
                db, ctx.settings.home, row.id, completion.Completion(), Actor("rita"), NOW
            )
        db.rollback()
        done = completion.complete(
            db,
            ctx.settings.home,
            row.id,
            completion.Completion(decisions=keep),
            Actor("boss"),
            datetime(2026, 4, 7, tzinfo=UTC),
        )
        db.commit()
        assert done.applied == [
            f"revoked token forgotten (wk_{plain['forgotten'][3:11]}) of ci",
            "confirmed 5 account(s) and token(s)",
        ]
        assert done.decisions[f"token:{forgotten}"] == "revoke"
        assert db.get(ApiToken, forgotten).revoked_at is not None  # type: ignore[union-attr]
