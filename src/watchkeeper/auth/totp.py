"""Authenticator apps (TOTP, RFC 6238): enrolment, verification, QR codes.

* 30 s time step, 6 digits, HMAC-SHA1 (what every authenticator app speaks);
* a code is accepted for the current step and one step either side (clock drift);
* each code is accepted once only: the accepted step is stored and steps at or before it
  are refused, so a code seen over someone's shoulder cannot be replayed;
* the secret has 160 bits (RFC 4226's recommendation) and is stored sealed by the secrets
  service, never in plain text.

Enrolment creates an unconfirmed credential; it becomes a second factor once the user has
typed a code from the app (:func:`confirm`).
"""

from __future__ import annotations

import hmac
import re
import time

import pyotp
import segno
from sqlalchemy import update
from sqlalchemy.orm import Session

from watchkeeper.auth.secrets import SecretBox
from watchkeeper.store.tables import TotpCredential

ISSUER = "Watchkeeper"
STEP = 30
DIGITS = 6
DRIFT_STEPS = 1
SECRET_CHARS = 32  # base32: 5 bits each, 160 bits
_CODE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    return pyotp.random_base32(SECRET_CHARS)


def time_step(now: float | None = None) -> int:
    """Return the RFC 6238 time step (counter) for ``now`` (Unix seconds)."""
    return int((time.time() if now is None else now) // STEP)


def code_at(secret: str, step: int) -> str:
    """Return the code an authenticator app shows during ``step``."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).generate_otp(step)


def normalise_code(code: str) -> str:
    """Drop the spaces and dashes people type or paste (``123 456``)."""
    return re.sub(r"[\s-]", "", code)


def get_credential(db: Session, user_id: int) -> TotpCredential | None:
    return db.get(TotpCredential, user_id)


def is_enabled(db: Session, user_id: int) -> bool:
    cred = get_credential(db, user_id)
    return bool(cred and cred.confirmed)


def pending_secret(db: Session, box: SecretBox, user_id: int) -> str:
    """Return the secret of the user's unconfirmed credential, creating one if needed.

    Showing the set-up page twice shows the same secret, so a scanned QR code stays good.
    Raise ValueError when the user already has a confirmed authenticator app.
    """
    cred = get_credential(db, user_id)
    if cred is not None and cred.confirmed:
        raise ValueError("an authenticator app is already set up")
    if cred is not None:
        return box.open(cred.secret_enc)
    secret = new_secret()
    db.add(TotpCredential(user_id=user_id, secret_enc=box.seal(secret), confirmed=False))
    db.flush()
    return secret


def provisioning_uri(secret: str, username: str) -> str:
    """Return the ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """Return the QR code of ``uri`` as an inline ``<svg>`` element (no scripts, no styles:
    the page's Content-Security-Policy allows it as is)."""
    qr = segno.make(uri, error="m")
    svg: str = qr.svg_inline(
        scale=1,
        border=4,
        omitsize=True,
        svgclass="qr",
        title="QR code for your authenticator app",
        dark="#000",
        light="#fff",
    )
    return svg.replace("<svg ", '<svg role="img" ', 1)


def grouped(secret: str) -> str:
    """Return the secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _check(db: Session, box: SecretBox, cred: TotpCredential, code: str, now: float | None) -> bool:
    code = normalise_code(code)
    if not _CODE.match(code):
        return False
    secret = box.open(cred.secret_enc)
    current = time_step(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step <= cred.last_step:
            continue  # already used (or older than a used one): no replays
        if hmac.compare_digest(code_at(secret, step), code):
            # Conditional update: of two requests racing with the same code, one wins.
            result = db.execute(
                update(TotpCredential)
                .where(TotpCredential.user_id == cred.user_id, TotpCredential.last_step < step)
                .values(last_step=step)
                .execution_options(synchronize_session=False)
            )
            db.refresh(cred)
            return bool(result.rowcount)  # type: ignore[attr-defined]
    return False


def verify(db: Session, box: SecretBox, user_id: int, code: str, now: float | None = None) -> bool:
    """Return True if ``code`` is a valid, unused code of the user's confirmed app."""
    cred = get_credential(db, user_id)
    if cred is None or not cred.confirmed:
        return False
    return _check(db, box, cred, code, now)


def confirm(db: Session, box: SecretBox, user_id: int, code: str, now: float | None = None) -> bool:
    """Confirm a pending enrolment with the first code from the app; return True if done."""
    cred = get_credential(db, user_id)
    if cred is None or cred.confirmed:
        return False
    if not _check(db, box, cred, code, now):
        return False
    cred.confirmed = True
    db.flush()
    return True


def disable(db: Session, user_id: int) -> bool:
    """Remove the user's authenticator app (confirmed or pending); return True if one was."""
    cred = get_credential(db, user_id)
    if cred is None:
        return False
    db.delete(cred)
    db.flush()
    return True
