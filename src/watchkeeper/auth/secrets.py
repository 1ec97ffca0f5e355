"""The secrets service: encrypt secrets stored in the store, show them only masked.

AES-256-GCM with a key derived (HKDF-SHA256) from the server's secret key. Sealed values
carry a key id, so that after a key rotation values sealed with a previous key
(``WATCHKEEPER_SECRET_KEY_PREVIOUS``) still open and can be re-sealed with the current one.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from watchkeeper.exceptions import WatchkeeperError

PREFIX = "wk1"
MASK = "••••••••"


class SecretError(WatchkeeperError):
    """A sealed value cannot be opened (wrong key, tampered, or not a sealed value)."""


def _derive(secret_key: str) -> tuple[str, AESGCM]:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"watchkeeper-secrets-v1", info=b"aes-256-gcm"
    ).derive(secret_key.encode())
    key_id = hashlib.sha256(key).hexdigest()[:8]
    return key_id, AESGCM(key)


class SecretBox:
    """Seal with the current key; open with the current or any previous key."""

    def __init__(self, current: str, previous: Sequence[str] = ()) -> None:
        self._current = _derive(current)
        self._keys = dict([self._current, *(_derive(k) for k in previous)])

    def seal(self, plaintext: str) -> str:
        """Return ``wk1:<key id>:<base64 nonce+ciphertext>``."""
        key_id, aead = self._current
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, plaintext.encode(), key_id.encode())
        return f"{PREFIX}:{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str) -> str:
        """Return the plaintext; raise SecretError if it cannot be opened."""
        try:
            prefix, key_id, body = sealed.split(":", 2)
            raw = base64.urlsafe_b64decode(body)
        except (ValueError, TypeError):
            raise SecretError("not a sealed secret") from None
        aead = self._keys.get(key_id)
        if prefix != PREFIX or aead is None:
            raise SecretError(
                "sealed with an unknown key (set WATCHKEEPER_SECRET_KEY_PREVIOUS "
                "to the key it was sealed with)"
            )
        try:
            return aead.decrypt(raw[:12], raw[12:], key_id.encode()).decode()
        except InvalidTag:
            raise SecretError("sealed secret is corrupt or was tampered with") from None

    def needs_reseal(self, sealed: str) -> bool:
        return not sealed.startswith(f"{PREFIX}:{self._current[0]}:")


def mask(value: str | None) -> str:
    """Return how a secret is shown: never its content."""
    return MASK if value else ""
