"""Signatures of issued compliance reports: Ed25519, by a signing key each installation
makes once and keeps in its store — the private key sealed by the secrets service (the
``meta`` row ``compliance_signing_key``, re-sealed by ``watchkeeper secrets reseal`` like
every other secret), the public key in clear next to it (``compliance_public_key``).

A digest alone proves nothing: whoever edits a report recomputes its SHA-256. The signature
does: only the holder of the private key can make one, and anyone with the public key
checks it, offline, without access to the store (``watchkeeper compliance verify FILE
--public-key KEY``). The installation publishes its public key (``watchkeeper compliance
public-key``, ``GET /api/v1/compliance/public-key``); each report prints it too, but an
auditor compares it with the published one: a forger would print their own.

The key is replaced by ``watchkeeper compliance rotate-key`` (a key believed exposed, or a
yearly rotation): the old public key is kept as *retired* (``compliance_retired_public_keys``)
so that the store still checks the reports it signed, and the rotation is in the audit trail
with both keys. Auditors are given the new public key; they keep the old one for old reports.

Two messages are signed, each naming the report and a digest: ``html`` (the SHA-256 of the
report's canonical HTML) and ``pdf`` (the SHA-256 of the PDF's bytes before its
signature line).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watchkeeper.auth import audit
from watchkeeper.auth.audit import Actor
from watchkeeper.auth.secrets import SecretBox, SecretError
from watchkeeper.exceptions import ValidationFailed, WatchkeeperError
from watchkeeper.store.tables import Meta

PRIVATE_KEY_META = "compliance_signing_key"
PUBLIC_KEY_META = "compliance_public_key"
RETIRED_KEYS_META = "compliance_retired_public_keys"  # space-separated hex, oldest first
ALGORITHM = "Ed25519"
_HEX = frozenset("0123456789abcdef")


class SigningKeyError(WatchkeeperError):
    """The installation's report signing key cannot be used (sealed with a key this server
    no longer has, or the stored pair does not match)."""


def public_text(key: Ed25519PublicKey) -> str:
    """The form a public key is published in: its 32 raw bytes in hex (64 digits)."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The public key written as :func:`public_text` does (spaces and an ``ed25519:``
    prefix are allowed); raise ValidationFailed naming ``public_key`` otherwise."""
    clean = "".join(text.split()).lower().removeprefix("ed25519:")
    if len(clean) != 64 or not set(clean) <= _HEX:
        raise ValidationFailed(
            "the public key is not an Ed25519 public key: give the 64 hex digits "
            "`watchkeeper compliance public-key` prints",
            [("public_key", "must be 64 hex digits")],
        )
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(clean))


def installation_public_key(db: Session) -> Ed25519PublicKey | None:
    """This installation's public key; None when it has not made its signing key yet.
    Raise SigningKeyError when the stored one is damaged."""
    row = db.get(Meta, PUBLIC_KEY_META)
    if row is None:
        return None
    try:
        return parse_public_key(row.value)
    except ValidationFailed:
        raise SigningKeyError(
            f"the stored report public key ({PUBLIC_KEY_META}) is damaged"
        ) from None


def signing_key(db: Session, box: SecretBox, actor: Actor) -> Ed25519PrivateKey:
    """This installation's private signing key, opened with ``box``; made (and audited as
    done by ``actor``) the first time. Raise SigningKeyError when the stored key cannot be
    opened or does not match the stored public key. Caller commits."""
    row = db.get(Meta, PRIVATE_KEY_META)
    if row is None:
        key = Ed25519PrivateKey.generate()
        public = public_text(key.public_key())
        try:
            with db.begin_nested():  # a savepoint: another process may make it first
                db.add(Meta(key=PRIVATE_KEY_META, value=box.seal(key.private_bytes_raw().hex())))
                db.add(Meta(key=PUBLIC_KEY_META, value=public))
        except IntegrityError:
            row = db.get(Meta, PRIVATE_KEY_META)
            if row is None:
                raise SigningKeyError(
                    f"the store has a report public key ({PUBLIC_KEY_META}) without its "
                    "signing key; restore the store's meta table from a backup"
                ) from None
        else:
            audit.record(
                db,
                actor,
                "compliance.signing_key_create",
                "compliance-signing-key",
                {"algorithm": ALGORITHM, "public_key": public},
            )
            return key
    try:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(box.open(row.value)))
    except SecretError as exc:
        raise SigningKeyError(f"the report signing key cannot be opened: {exc}") from None
    except ValueError:
        raise SigningKeyError("the stored report signing key is damaged") from None
    stored = installation_public_key(db)
    if stored is None or public_text(stored) != public_text(key.public_key()):
        raise SigningKeyError(
            f"the stored report public key ({PUBLIC_KEY_META}) does not belong to the signing "
            "key; restore the store's meta table from a backup"
        )
    return key


def retired_public_keys(db: Session) -> list[str]:
    """The public keys (hex) this installation signed with before its last rotations."""
    row = db.get(Meta, RETIRED_KEYS_META)
    return row.value.split() if row is not None else []


def rotate(db: Session, box: SecretBox, actor: Actor) -> tuple[str, str]:
    """Replace the signing key by a new one; keep the old public key as retired; audit it.
    Return (old public key, new public key). Raise SigningKeyError when the current key is
    unusable (rotate only a key that opens: restore the meta table otherwise). Caller
    commits."""
    old = public_text(signing_key(db, box, actor).public_key())
    key = Ed25519PrivateKey.generate()
    new = public_text(key.public_key())
    private = db.get(Meta, PRIVATE_KEY_META)
    public = db.get(Meta, PUBLIC_KEY_META)
    assert private is not None and public is not None  # signing_key made or checked them
    private.value = box.seal(key.private_bytes_raw().hex())
    public.value = new
    retired = retired_public_keys(db) + [old]
    row = db.get(Meta, RETIRED_KEYS_META)
    if row is None:
        db.add(Meta(key=RETIRED_KEYS_META, value=" ".join(retired)))
    else:
        row.value = " ".join(retired)
    audit.record(
        db,
        actor,
        "compliance.signing_key_rotate",
        "compliance-signing-key",
        {"algorithm": ALGORITHM, "old_public_key": old, "public_key": new},
    )
    return old, new


Part = Literal["html", "pdf"]


def digest(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def message(part: Part, report_id: int, sha256: str) -> bytes:
    """What is signed for report ``report_id``: its ``part`` has digest ``sha256``."""
    return f"watchkeeper-compliance-report:v1:{part}:{report_id}:{sha256}".encode()


def sign(key: Ed25519PrivateKey, part: Part, report_id: int, sha256: str) -> str:
    """The signature (hex) of ``part`` of report ``report_id`` whose digest is ``sha256``."""
    return key.sign(message(part, report_id, sha256)).hex()


def signed_by(
    key: Ed25519PublicKey, part: Part, report_id: int, sha256: str, signature: str
) -> bool:
    """True when ``signature`` (hex) was made by ``key``'s private key over ``part`` of
    report ``report_id`` with digest ``sha256``."""
    try:
        key.verify(bytes.fromhex(signature), message(part, report_id, sha256))
    except (InvalidSignature, ValueError):
        return False
    return True
