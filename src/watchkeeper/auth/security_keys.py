"""Security keys and passkeys (WebAuthn), with the ``webauthn`` package.

Both ceremonies (registering a key, signing in with one) take two requests: the options
(with a fresh random challenge), then the browser's answer. The pending challenge is kept
in the caller's own server-side session (``WebSession.challenge``) and can be answered once,
within ``CHALLENGE_TTL``.

The relying party is the host people open Watchkeeper at: ``WATCHKEEPER_PUBLIC_URL`` when
set, else the URL of the request. Keys registered under one host name do not work under
another, so set the public URL when Watchkeeper sits behind a proxy.

``webauthn`` (with pyOpenSSL, ≈12 MB resident) is imported by the ceremonies themselves:
a server where nobody registers or uses a key never loads it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from watchkeeper.exceptions import WatchkeeperError

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from watchkeeper.store.tables import User, WebAuthnCredential, WebSession, utcnow

RP_NAME = "Watchkeeper"
CHALLENGE_TTL = 300  # seconds
TIMEOUT_MS = 120_000
MAX_NAME = 100
TRANSPORTS = frozenset({"ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"})
"""WebAuthn's authenticator transports (``webauthn``'s ``AuthenticatorTransport``)."""


class SecurityKeyError(WatchkeeperError):
    """A WebAuthn answer was refused; the message says why, in words for the user."""


@dataclass(frozen=True)
class RelyingParty:
    """Who the keys are registered with: ``rp_id`` (a host name) and the page origin."""

    rp_id: str
    origin: str


def relying_party(request_url: str, public_url: str | None = None) -> RelyingParty:
    """Return the relying party for a request to ``request_url`` (``public_url`` wins)."""
    parts = urlsplit(public_url or request_url)
    host = parts.hostname or "localhost"
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port and parts.port != default_port:
        netloc += f":{parts.port}"
    return RelyingParty(host, f"{parts.scheme}://{netloc}")


def _user_handle(user_id: int) -> bytes:
    # Opaque and stable; authenticators store it with discoverable credentials.
    return hashlib.sha256(f"watchkeeper-user:{user_id}".encode()).digest()


def list_keys(db: Session, user_id: int) -> list[WebAuthnCredential]:
    return list(
        db.scalars(
            select(WebAuthnCredential)
            .where(WebAuthnCredential.user_id == user_id)
            .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
        )
    )


def _to_base64url(raw: bytes) -> str:
    """Unpadded base64url, as WebAuthn spells binary values."""
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _from_base64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def count_keys(db: Session, user_id: int) -> int:
    return db.scalar(select(func.count()).where(WebAuthnCredential.user_id == user_id)) or 0


def _descriptors(keys: list[WebAuthnCredential]) -> list[PublicKeyCredentialDescriptor]:
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    return [
        PublicKeyCredentialDescriptor(
            id=_from_base64url(k.credential_id),
            transports=[
                AuthenticatorTransport(t) for t in k.transports.split(",") if t in TRANSPORTS
            ]
            or None,
        )
        for k in keys
    ]


def _remember(db: Session, session_id: str, ceremony: str, challenge: bytes) -> None:
    row = db.get(WebSession, session_id)
    if row is None:
        raise SecurityKeyError("your session has ended; sign in again")
    row.challenge = json.dumps(
        {
            "ceremony": ceremony,
            "challenge": _to_base64url(challenge),
            "expires": int(time.time()) + CHALLENGE_TTL,
        }
    )
    db.flush()


def _take_challenge(db: Session, session_id: str, ceremony: str) -> bytes:
    """Return the pending challenge of ``ceremony`` and forget it (it answers once)."""
    row = db.get(WebSession, session_id)
    if row is None or not row.challenge:
        raise SecurityKeyError("no security key request is pending; try again")
    stored = row.challenge
    try:
        pending = json.loads(stored)
    except ValueError:
        pending = {}
    # Conditional update: of two answers racing for one challenge, one wins.
    taken = db.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.challenge == stored)
        .values(challenge=None)
        .execution_options(synchronize_session=False)
    )
    db.refresh(row)
    if not taken.rowcount:  # type: ignore[attr-defined]
        raise SecurityKeyError("no security key request is pending; try again")
    if pending.get("ceremony") != ceremony or int(pending.get("expires", 0)) < time.time():
        raise SecurityKeyError("the security key request expired; try again")
    return _from_base64url(str(pending["challenge"]))


def registration_options(db: Session, session_id: str, user: User, rp: RelyingParty) -> str:
    """Return the JSON options for ``navigator.credentials.create()`` and remember the
    challenge in the session ``session_id``."""
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=RP_NAME,
        user_name=user.username,
        user_id=_user_handle(user.id),
        user_display_name=user.display_name or user.username,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(list_keys(db, user.id)),
    )
    _remember(db, session_id, "register", options.challenge)
    return options_to_json(options)


def clean_name(name: str, fallback: str = "Security key") -> str:
    return " ".join(name.split())[:MAX_NAME] or fallback


def verify_registration(
    db: Session,
    session_id: str,
    user_id: int,
    credential: dict[str, Any],
    rp: RelyingParty,
    name: str = "",
) -> WebAuthnCredential:
    """Check the browser's answer to the registration options; store and return the key."""
    from webauthn import verify_registration_response
    from webauthn.helpers.exceptions import WebAuthnException

    challenge = _take_challenge(db, session_id, "register")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise SecurityKeyError(f"the security key's answer was not accepted ({exc})") from None
    credential_id = _to_base64url(verified.credential_id)
    if db.scalar(
        select(WebAuthnCredential.id).where(WebAuthnCredential.credential_id == credential_id)
    ):
        raise SecurityKeyError("this security key is already registered")
    response = credential.get("response")
    transports = response.get("transports") if isinstance(response, dict) else None
    key = WebAuthnCredential(
        user_id=user_id,
        credential_id=credential_id,
        public_key=_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=",".join(
            t for t in (transports if isinstance(transports, list) else []) if t in TRANSPORTS
        )[:200],
        name=clean_name(name, f"Security key {count_keys(db, user_id) + 1}"),
    )
    db.add(key)
    db.flush()
    return key


def authentication_options(db: Session, session_id: str, user_id: int, rp: RelyingParty) -> str:
    """Return the JSON options for ``navigator.credentials.get()`` for the user's keys and
    remember the challenge; raise SecurityKeyError when the user has no key."""
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement

    keys = list_keys(db, user_id)
    if not keys:
        raise SecurityKeyError("you have no security key registered")
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(keys),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _remember(db, session_id, "authenticate", options.challenge)
    return options_to_json(options)


def verify_authentication(
    db: Session,
    session_id: str,
    user_id: int,
    credential: dict[str, Any],
    rp: RelyingParty,
) -> WebAuthnCredential:
    """Check the browser's answer to the authentication options; return the key used
    (its signature counter and last use updated)."""
    from webauthn import verify_authentication_response
    from webauthn.helpers.exceptions import WebAuthnException

    challenge = _take_challenge(db, session_id, "authenticate")
    raw_id = credential.get("id") or credential.get("rawId")
    key = db.scalar(
        select(WebAuthnCredential).where(
            WebAuthnCredential.user_id == user_id,
            WebAuthnCredential.credential_id == str(raw_id or ""),
        )
    )
    if key is None:
        raise SecurityKeyError("this security key is not registered to your account")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=_from_base64url(key.public_key),
            credential_current_sign_count=key.sign_count,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise SecurityKeyError(f"the security key's answer was not accepted ({exc})") from None
    key.sign_count = verified.new_sign_count
    key.last_used_at = utcnow()
    db.flush()
    return key


def get_key(db: Session, user_id: int, key_id: int) -> WebAuthnCredential | None:
    key = db.get(WebAuthnCredential, key_id)
    return key if key is not None and key.user_id == user_id else None


def rename(db: Session, user_id: int, key_id: int, name: str) -> WebAuthnCredential | None:
    key = get_key(db, user_id, key_id)
    if key is not None:
        key.name = clean_name(name, key.name)
        db.flush()
    return key


def remove(db: Session, user_id: int, key_id: int) -> WebAuthnCredential | None:
    key = get_key(db, user_id, key_id)
    if key is not None:
        db.delete(key)
        db.flush()
    return key
