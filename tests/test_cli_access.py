"""`watchkeeper user unlock`, `user set-role` and `token create`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import make_user, remember_secret
from watchkeeper.auth import throttle
from watchkeeper.auth.sessions import start_session
from watchkeeper.auth.tokens import resolve_token, token_digest
from watchkeeper.cli import app
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import ApiToken, AuditEntry, User, WebSession

runner = CliRunner()
TOKEN = re.compile(r"^wk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHKEEPER_") and name != "WATCHKEEPER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def env(ctx: AppContext, tmp_path: Path, database_url: str) -> dict[str, str]:
    """A migrated store (SQLite and, when configured, PostgreSQL) with user ana (viewer)."""
    make_user(ctx, "ana", "viewer")
    return {
        "WATCHKEEPER_HOME": str(tmp_path / "cli-home"),
        "WATCHKEEPER_DATABASE_URL": database_url,
        "COLUMNS": "1000",
    }


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result


def one_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_user_unlock_lifts_a_lock(env: dict[str, str], ctx: AppContext) -> None:
    with ctx.sessions() as db:
        for _ in range(throttle.LOCK_AFTER):
            throttle.record_failure(db, "ana", "192.0.2.7")
        db.commit()
        assert throttle.is_locked(db, "ana")
    result = run(env, "user", "unlock", "ana")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"unlocked ana ({throttle.LOCK_AFTER} failed attempt(s) forgotten)\n"
    with ctx.sessions() as db:
        assert not throttle.is_locked(db, "ana")
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "user.unlocked"))
        assert entry is not None and entry.actor.startswith("cli:")
    assert one_error(run(env, "user", "unlock", "nobody")) == 'error: no user "nobody"'


def test_user_set_role_changes_the_role_and_ends_sessions(
    env: dict[str, str], ctx: AppContext
) -> None:
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.username == "ana"))
        assert user is not None
        start_session(db, user)
        db.commit()
    result = run(env, "user", "set-role", "ana", "operator")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ana is now operator (1 session(s) ended)\n"
    with ctx.sessions() as db:
        assert db.scalars(select(WebSession)).all() == []
        user = db.scalar(select(User).where(User.username == "ana"))
        assert user is not None and user.role == "operator"
    assert one_error(run(env, "user", "set-role", "ana", "root")).startswith(
        'error: role "root" is not a role'
    )
    assert one_error(run(env, "user", "set-role", "nobody", "admin")) == 'error: no user "nobody"'


def test_token_create_prints_the_token_once(env: dict[str, str], ctx: AppContext) -> None:
    result = run(
        env,
        "token",
        "create",
        "--user",
        "ana",
        "--name",
        "ci",
        "--role",
        "viewer",
        "--expires",
        "30d",
    )
    assert result.exit_code == 0, result.output
    token = remember_secret(result.stdout.strip())
    assert TOKEN.match(token) and result.stdout.count("wk_") == 1
    assert token not in result.stderr and "shown only now" in result.stderr
    with ctx.sessions() as db:
        row = db.scalar(select(ApiToken))
        assert row is not None and row.token_hash == token_digest(token)
        assert row.expires_at is not None and row.name == "ci"
        info = resolve_token(db, token)
        assert info is not None and info.username == "ana" and info.role == "viewer"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "admin"], "error: role may not exceed the owner's role (viewer)"),
        (["--expires", "soon"], 'error: --expires "soon" is not a duration (use 30d, 12h)'),
        (["--expires", "0s"], "error: expires must be in the future"),
    ],
)
def test_token_create_refusals_are_one_line(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = run(env, "token", "create", "--user", "ana", "--name", "ci", *args)
    assert one_error(result) == message
    assert "wk_" not in result.output


def test_token_create_for_an_unknown_user(env: dict[str, str]) -> None:
    result = run(env, "token", "create", "--user", "ghost", "--name", "ci")
    assert one_error(result) == 'error: no user "ghost"'


def test_user_create_is_audited(tmp_path: Path) -> None:
    from watchkeeper.store.engine import make_engine, session_factory

    remember_secret("a passphrase that is long enough")
    env = {
        "WATCHKEEPER_HOME": str(tmp_path),
        "COLUMNS": "1000",
        "WATCHKEEPER_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.db'}",
    }
    secret = tmp_path / "pw"
    secret.write_text("a passphrase that is long enough\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["user", "create", "kim", "--role", "operator", "--password-file", str(secret)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    engine = make_engine(env["WATCHKEEPER_DATABASE_URL"])
    try:
        with session_factory(engine)() as db:
            entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "user.create"))
            assert entry is not None and (entry.actor, entry.target) == ("cli", "user/kim")
    finally:
        engine.dispose()


def test_secrets_reseal_after_a_key_rotation(tmp_path: Path) -> None:
    from watchkeeper.auth.secrets import SecretBox
    from watchkeeper.auth.users import create_user
    from watchkeeper.store.engine import make_engine, session_factory
    from watchkeeper.store.migrate import upgrade
    from watchkeeper.store.tables import TotpCredential

    old, new = "the-old-secret-key-" * 3, "the-new-secret-key-" * 3
    for key in (old, new):
        remember_secret(key)
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as db:
        user = create_user(db, "lee", "a passphrase that is long enough", "viewer")
        db.add(TotpCredential(user_id=user.id, secret_enc=SecretBox(old).seal("JBSWY3DPEHPK")))
        db.commit()
    env = {
        "WATCHKEEPER_HOME": str(tmp_path),
        "WATCHKEEPER_DATABASE_URL": url,
        "COLUMNS": "1000",
        "WATCHKEEPER_SECRET_KEY": new,
    }
    refused = CliRunner().invoke(app, ["secrets", "reseal"], env=env)
    assert refused.exit_code == 1 and "unknown key" in refused.stderr
    env["WATCHKEEPER_SECRET_KEY_PREVIOUS"] = old
    done = CliRunner().invoke(app, ["secrets", "reseal"], env=env)
    assert done.exit_code == 0, done.output
    assert "re-sealed 1 of 1" in done.stdout
    again = CliRunner().invoke(app, ["secrets", "reseal"], env=env)
    assert "re-sealed 0 of 1" in again.stdout
    with session_factory(engine)() as db:
        sealed = db.scalar(select(TotpCredential.secret_enc))
        assert sealed is not None and SecretBox(new).open(sealed) == "JBSWY3DPEHPK"
    engine.dispose()
