"""Plan secrets are sealed at rest: the `objects` table holds no password, token or
credential in clear, and everything that reads the store still sees the values."""

from __future__ import annotations

import json
import textwrap

from sqlalchemy import text

from watchkeeper.backups.views import load_section
from watchkeeper.plan import sealing
from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.catalog import create_object, get_object
from watchkeeper.plan.loader import load_plan_text
from watchkeeper.plan.stored import stored_section
from watchkeeper.runtime.context import AppContext

REPO_PASSWORD = "sealed-repo-password-1234"
BEARER = "sealed-bearer-token-5678"
DB_URL = "postgresql://watch:sealed-db-pw-9012@db.example:5432/app"

PLAN = textwrap.dedent(
    f"""
    checks:
      - name: api
        type: http
        url: https://api.example/health
        bearer_token: {BEARER}
    backups:
      repositories:
        - name: local
          url: /srv/restic
          password: {REPO_PASSWORD}
          env: {{AWS_SECRET_ACCESS_KEY: sealed-aws-3456}}
      policies:
        - name: db
          source: {{type: postgres, url: "{DB_URL}"}}
          repositories: [local]
    """
)


def _raw(ctx: AppContext) -> str:
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT spec FROM objects")).all()
    return " ".join(str(r[0]) for r in rows)


def test_applied_secrets_are_sealed_in_the_table_and_open_when_read(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN, env={}))
        db.commit()
    raw = _raw(ctx)
    for secret in (REPO_PASSWORD, BEARER, "sealed-db-pw-9012", "sealed-aws-3456"):
        assert secret not in raw
    assert raw.count("wk1:") == 4
    assert "https://api.example/health" in raw  # only secrets are sealed

    with ctx.sessions() as db:
        section = load_section(db)
        assert section.repositories[0].password == REPO_PASSWORD
        assert section.repositories[0].env == {"AWS_SECRET_ACCESS_KEY": "sealed-aws-3456"}
        assert section.policies[0].source.url == DB_URL  # type: ignore[union-attr]
        assert stored_section(db, "backups")["repositories"][0]["password"] == REPO_PASSWORD

    # applying the same plan again changes nothing (the stored values compare as plain)
    with ctx.sessions() as db:
        diff = apply_plan(db, load_plan_text(PLAN, env={}))
        db.commit()
    assert diff.changes == []


def test_objects_made_in_the_ui_are_sealed_too(ctx: AppContext) -> None:
    spec = {
        "name": "ui-check",
        "type": "http",
        "url": "https://ui.example/",
        "bearer_token": BEARER,
    }
    with ctx.sessions() as db:
        made = create_object(db, "checks", spec, "ada")
        db.commit()
    assert made.spec["bearer_token"] == BEARER
    assert BEARER not in _raw(ctx)
    with ctx.sessions() as db:
        assert get_object(db, "checks", "ui-check").spec["bearer_token"] == BEARER


def test_a_value_no_key_opens_stays_sealed(ctx: AppContext) -> None:
    from watchkeeper.auth.secrets import SecretBox

    foreign = SecretBox("another server's key").seal("x")
    assert sealing.open_all({"a": [foreign]}) == {"a": [foreign]}
    assert sealing.open_all({"a": ctx.secret_box.seal("y")}) == {"a": "y"}


def test_secrets_stored_in_clear_by_an_earlier_version_are_sealed_at_the_next_apply(
    ctx: AppContext,
) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN, env={}))
        db.commit()
    # as an earlier version stored it: the same spec, in clear (so the plan sees no change)
    with ctx.sessions() as db:
        clear = json.dumps(get_object(db, "backups.repositories", "local").spec)
    with ctx.engine.begin() as conn:
        conn.execute(
            text("UPDATE objects SET spec = :spec WHERE kind = 'backups.repositories'"),
            {"spec": clear},
        )
    assert REPO_PASSWORD in _raw(ctx)
    with ctx.sessions() as db:
        assert apply_plan(db, load_plan_text(PLAN, env={})).changes == []
        db.commit()
    assert REPO_PASSWORD not in _raw(ctx)
    with ctx.sessions() as db:
        assert load_section(db).repositories[0].password == REPO_PASSWORD


def test_applying_an_unchanged_plan_writes_nothing(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN, env={}))
        db.commit()
    before = _raw(ctx)
    stamps_sql = text("SELECT name, updated_at FROM objects ORDER BY id")
    with ctx.engine.connect() as conn:
        stamps = conn.execute(stamps_sql).all()
    with ctx.sessions() as db:
        apply_plan(db, load_plan_text(PLAN, env={}))
        db.commit()
    assert _raw(ctx) == before  # not sealed again (a new nonce each time would differ)
    with ctx.engine.connect() as conn:
        assert conn.execute(stamps_sql).all() == stamps
