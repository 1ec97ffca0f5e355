"""Security keys (WebAuthn): registration and sign-in checked by the real ``webauthn``
library against a software authenticator; challenges answer once; counters only go up."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.auth.softkey import SoftKey
from tests.conftest import make_user
from watchkeeper.auth import security_keys
from watchkeeper.auth.mfa import has_second_factor
from watchkeeper.auth.security_keys import RelyingParty, SecurityKeyError, relying_party
from watchkeeper.auth.sessions import session_id_of, start_session
from watchkeeper.runtime.context import AppContext
from watchkeeper.store.tables import User, WebAuthnCredential

RP = RelyingParty("localhost", "http://localhost:8080")


@pytest.fixture
def signed_in(ctx: AppContext) -> tuple[User, str]:
    """A user and the stored id of one of their sessions."""
    make_user(ctx, "kai", "operator")
    with ctx.sessions() as db:
        user = db.scalar(select(User).where(User.username == "kai"))
        assert user is not None
        token = start_session(db, user)
        db.commit()
        return user, session_id_of(token)


def _register(db: Session, user: User, session_id: str, key: SoftKey) -> WebAuthnCredential:
    options = security_keys.registration_options(db, session_id, user, RP)
    return security_keys.verify_registration(
        db, session_id, user.id, key.register(options), RP, "  My   YubiKey "
    )


@pytest.mark.parametrize(
    ("url", "public", "rp_id", "origin"),
    [
        ("http://localhost:8080/login/mfa", None, "localhost", "http://localhost:8080"),
        ("https://wk.example.com/x", None, "wk.example.com", "https://wk.example.com"),
        ("https://wk.example.com:443/", None, "wk.example.com", "https://wk.example.com"),
        (
            "http://127.0.0.1:8080/",
            "https://ops.example.org/",
            "ops.example.org",
            "https://ops.example.org",
        ),
    ],
)
def test_relying_party_is_the_host_people_open(
    url: str, public: str | None, rp_id: str, origin: str
) -> None:
    assert relying_party(url, public) == RelyingParty(rp_id, origin)


def test_key_registers_then_signs_in_and_its_counter_is_kept(
    ctx: AppContext, signed_in: tuple[User, str]
) -> None:
    user, session_id = signed_in
    key = SoftKey(RP.origin)
    with ctx.sessions() as db:
        user = db.merge(user)
        stored = _register(db, user, session_id, key)
        db.commit()
        assert stored.name == "My YubiKey" and stored.transports == "usb"
        assert has_second_factor(db, user.id)

        options = security_keys.authentication_options(db, session_id, user.id, RP)
        allowed = json.loads(options)["allowCredentials"]
        assert [c["id"] for c in allowed] == [stored.credential_id]
        used = security_keys.verify_authentication(
            db, session_id, user.id, key.sign(options, RP.rp_id), RP
        )
        db.commit()
        assert used.id == stored.id and used.sign_count == 1 and used.last_used_at is not None

        # An authenticator whose counter went backwards (a clone) is refused.
        key.counter = 0
        options = security_keys.authentication_options(db, session_id, user.id, RP)
        with pytest.raises(SecurityKeyError, match="sign count"):
            security_keys.verify_authentication(
                db, session_id, user.id, key.sign(options, RP.rp_id), RP
            )


def test_a_challenge_answers_once(ctx: AppContext, signed_in: tuple[User, str]) -> None:
    user, session_id = signed_in
    key = SoftKey(RP.origin)
    with ctx.sessions() as db:
        user = db.merge(user)
        _register(db, user, session_id, key)
        options = security_keys.authentication_options(db, session_id, user.id, RP)
        answer = key.sign(options, RP.rp_id)
        security_keys.verify_authentication(db, session_id, user.id, answer, RP)
        with pytest.raises(SecurityKeyError, match="no security key request"):
            security_keys.verify_authentication(db, session_id, user.id, answer, RP)
        # Replayed against a fresh challenge, the old answer does not fit.
        security_keys.authentication_options(db, session_id, user.id, RP)
        with pytest.raises(SecurityKeyError, match="challenge"):
            security_keys.verify_authentication(db, session_id, user.id, answer, RP)


def test_answers_for_another_site_or_ceremony_are_refused(
    ctx: AppContext, signed_in: tuple[User, str]
) -> None:
    user, session_id = signed_in
    with ctx.sessions() as db:
        user = db.merge(user)
        phished = SoftKey("http://localhost.evil.example")
        options = security_keys.registration_options(db, session_id, user, RP)
        with pytest.raises(SecurityKeyError, match="origin"):
            security_keys.verify_registration(
                db, session_id, user.id, phished.register(options), RP
            )
        key = SoftKey(RP.origin)
        _register(db, user, session_id, key)
        # Registration options cannot be answered by a sign-in, nor the other way round.
        options = security_keys.registration_options(db, session_id, user, RP)
        with pytest.raises(SecurityKeyError, match="expired"):
            security_keys.verify_authentication(
                db, session_id, user.id, key.sign(options, RP.rp_id), RP
            )
        assert security_keys.count_keys(db, user.id) == 1


def test_the_same_key_cannot_be_registered_twice_and_others_keys_are_refused(
    ctx: AppContext, signed_in: tuple[User, str]
) -> None:
    user, session_id = signed_in
    key = SoftKey(RP.origin)
    with ctx.sessions() as db:
        user = db.merge(user)
        _register(db, user, session_id, key)
        options = security_keys.registration_options(db, session_id, user, RP)
        excluded = json.loads(options)["excludeCredentials"]
        assert len(excluded) == 1
        with pytest.raises(SecurityKeyError, match="already registered"):
            security_keys.verify_registration(db, session_id, user.id, key.register(options), RP)
        db.commit()
    make_user(ctx, "lea", "viewer")
    with ctx.sessions() as db:
        lea = db.scalar(select(User).where(User.username == "lea"))
        assert lea is not None
        lea_session = session_id_of(start_session(db, lea))
        db.flush()
        with pytest.raises(SecurityKeyError, match="no security key"):
            security_keys.authentication_options(db, lea_session, lea.id, RP)
        _register(db, lea, lea_session, SoftKey(RP.origin))
        options = security_keys.authentication_options(db, lea_session, lea.id, RP)
        with pytest.raises(SecurityKeyError, match="not registered to your account"):
            security_keys.verify_authentication(
                db, lea_session, lea.id, key.sign(options, RP.rp_id), RP
            )


def test_keys_are_renamed_and_removed_by_their_owner_only(
    ctx: AppContext, signed_in: tuple[User, str]
) -> None:
    user, session_id = signed_in
    with ctx.sessions() as db:
        user = db.merge(user)
        stored = _register(db, user, session_id, SoftKey(RP.origin))
        assert security_keys.rename(db, user.id + 1, stored.id, "x") is None
        renamed = security_keys.rename(db, user.id, stored.id, " Desk key ")
        assert renamed is not None and renamed.name == "Desk key"
        assert security_keys.remove(db, user.id + 1, stored.id) is None
        assert security_keys.remove(db, user.id, stored.id) is not None
        assert security_keys.list_keys(db, user.id) == []


def test_webauthn_spellings_kept_here_match_the_library() -> None:
    """The module spells transports and base64url itself (so that ``webauthn`` loads only
    for a ceremony): the same values as the library's."""
    from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
    from webauthn.helpers.structs import AuthenticatorTransport

    assert {t.value for t in AuthenticatorTransport} == security_keys.TRANSPORTS
    for raw in (b"", b"\x00", b"\xfb\xff", b"abc", bytes(range(64))):
        text = security_keys._to_base64url(raw)
        assert text == bytes_to_base64url(raw)
        assert security_keys._from_base64url(text) == base64url_to_bytes(text) == raw
