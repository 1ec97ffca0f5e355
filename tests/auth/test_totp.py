"""TOTP (RFC 6238): enrolment, the ±1 step window, single use, the secret sealed at rest."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, text

from tests.conftest import make_user, remember_secret
from watchkeeper.auth import totp
from watchkeeper.auth.mfa import has_second_factor
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import TotpCredential, User

T0 = 1_800_000_000.0  # a fixed moment, so that steps are known


def _user_id(ctx: AppContext, username: str) -> int:
    with ctx.sessions() as db:
        user_id = db.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        return user_id


def _enrolled(ctx: AppContext, username: str = "tia") -> tuple[int, str]:
    """A user with an authenticator app confirmed at ``T0``; return (user id, secret)."""
    make_user(ctx, username, "viewer")
    user_id = _user_id(ctx, username)
    with ctx.sessions() as db:
        secret = remember_secret(totp.pending_secret(db, ctx.secret_box, user_id))
        code = totp.code_at(secret, totp.time_step(T0))
        assert totp.confirm(db, ctx.secret_box, user_id, code, now=T0)
        db.commit()
    return user_id, secret


def test_a_code_is_accepted_once_then_refused(ctx: AppContext) -> None:
    user_id, secret = _enrolled(ctx)
    later = T0 + 10 * totp.STEP
    code = totp.code_at(secret, totp.time_step(later))
    with ctx.sessions() as db:
        assert totp.verify(db, ctx.secret_box, user_id, code, now=later)
        db.commit()
    with ctx.sessions() as db:
        assert not totp.verify(db, ctx.secret_box, user_id, code, now=later)
        # The code typed to confirm the enrolment was used up too.
        first = totp.code_at(secret, totp.time_step(T0))
        assert not totp.verify(db, ctx.secret_box, user_id, first, now=T0)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_codes_one_step_either_side_are_accepted_two_steps_away_are_not(
    ctx: AppContext, offset: int, accepted: bool
) -> None:
    user_id, secret = _enrolled(ctx)
    now = T0 + 10 * totp.STEP + 7
    code = totp.code_at(secret, totp.time_step(now) + offset)
    with ctx.sessions() as db:
        assert totp.verify(db, ctx.secret_box, user_id, code, now=now) is accepted


def test_a_code_older_than_the_last_accepted_one_is_refused(ctx: AppContext) -> None:
    user_id, secret = _enrolled(ctx)
    now = T0 + 10 * totp.STEP
    step = totp.time_step(now)
    with ctx.sessions() as db:
        assert totp.verify(db, ctx.secret_box, user_id, totp.code_at(secret, step + 1), now=now)
        assert not totp.verify(db, ctx.secret_box, user_id, totp.code_at(secret, step), now=now)
        db.commit()
        cred = db.get(TotpCredential, user_id)
        assert cred is not None and cred.last_step == step + 1


def test_secret_has_160_bits_and_is_sealed_at_rest(ctx: AppContext) -> None:
    make_user(ctx, "sam", "viewer")
    user_id = _user_id(ctx, "sam")
    with ctx.sessions() as db:
        secret = remember_secret(totp.pending_secret(db, ctx.secret_box, user_id))
        db.commit()
    assert len(base64.b32decode(secret)) * 8 >= 160
    with ctx.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM totp_credentials")).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert secret not in stored and secret.lower() not in stored
    assert str(row["secret_enc"]).startswith("wk1:")
    assert ctx.secret_box.open(row["secret_enc"]) == secret


def test_enrolment_counts_only_once_confirmed(ctx: AppContext) -> None:
    make_user(ctx, "una", "viewer")
    user_id = _user_id(ctx, "una")
    with ctx.sessions() as db:
        secret = remember_secret(totp.pending_secret(db, ctx.secret_box, user_id))
        db.commit()
        # Showing the set-up page again shows the same secret.
        assert totp.pending_secret(db, ctx.secret_box, user_id) == secret
        assert not has_second_factor(db, user_id)
        code = totp.code_at(secret, totp.time_step())
        assert not totp.verify(db, ctx.secret_box, user_id, code)  # not confirmed yet
        assert not totp.confirm(db, ctx.secret_box, user_id, "000000x")
        assert totp.confirm(db, ctx.secret_box, user_id, code[:3] + " " + code[3:])
        db.commit()
        assert has_second_factor(db, user_id) and totp.is_enabled(db, user_id)
        with pytest.raises(ValueError):
            totp.pending_secret(db, ctx.secret_box, user_id)
        assert totp.disable(db, user_id)
        db.commit()
        assert not has_second_factor(db, user_id)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12345a"])
def test_malformed_codes_are_refused(ctx: AppContext, code: str) -> None:
    user_id, _ = _enrolled(ctx)
    with ctx.sessions() as db:
        assert not totp.verify(db, ctx.secret_box, user_id, code, now=T0 + 300)


def test_provisioning_uri_and_qr_code() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "ana@example.com")
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parts.path == "/Watchkeeper:ana%40example.com"
    assert query["secret"] == [secret] and query["issuer"] == ["Watchkeeper"]
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg ") and 'class="qr"' in svg and "<path" in svg
    # Allowed by the Content-Security-Policy as it is: no scripts, no inline styles.
    assert "<script" not in svg and "style=" not in svg
    assert totp.grouped("ABCDEFGHIJ") == "ABCD EFGH IJ"
