"""The secrets service: sealed at rest, tamper-evident, key rotation."""

from __future__ import annotations

import pytest

from watchkeeper.auth.secrets import SecretBox, SecretError, mask


def test_seal_and_open() -> None:
    box = SecretBox("k" * 48)
    sealed = box.seal("postgres://app:s3cret@db/app")
    assert "s3cret" not in sealed and sealed.startswith("wk1:")
    assert box.open(sealed) == "postgres://app:s3cret@db/app"
    assert box.seal("same") != box.seal("same")  # fresh nonce every time


def test_tampering_is_detected() -> None:
    box = SecretBox("k" * 48)
    sealed = box.seal("value")
    body = sealed.rsplit(":", 1)[1]
    flipped = sealed[: -len(body)] + ("A" if body[0] != "A" else "B") + body[1:]
    with pytest.raises(SecretError):
        box.open(flipped)
    with pytest.raises(SecretError):
        box.open("plain text")


def test_values_sealed_with_a_previous_key_still_open() -> None:
    old = SecretBox("old key " * 6)
    sealed = old.seal("value")
    new = SecretBox("new key " * 6, previous=["old key " * 6])
    assert new.open(sealed) == "value"
    assert new.needs_reseal(sealed) and not new.needs_reseal(new.seal("value"))
    with pytest.raises(SecretError, match="unknown key"):
        SecretBox("new key " * 6).open(sealed)


def test_mask_never_shows_content() -> None:
    assert mask("hunter2") == "••••••••" and mask("") == ""
