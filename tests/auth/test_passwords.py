"""Password policy (NIST SP 800-63B-4) and argon2id hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from watchkeeper.auth import passwords
from watchkeeper.auth.passwords import (
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)


@pytest.mark.parametrize(
    ("password", "username", "has_mfa", "reason"),
    [
        ("short one", "", False, "at least 15 characters"),
        ("eight ch", "", True, None),
        ("seven c", "", True, "at least 8 characters"),
        ("qwertyuiop123456", "", False, "most common passwords"),
        ("Password1234567!", "", False, "most common passwords"),
        ("aaaaaaaaaaaaaaaaaaaa", "", False, "repeated"),
        ("abcabcabcabcabcabc", "", False, "repeated"),
        ("alice-likes-long-walks", "alice", False, "user name"),
        ("ALICE likes long walks", "alice", False, "user name"),
        ("x" * 257, "", False, "at most 256"),
        ("correct horse battery staple", "alice", False, None),
        ("Zwölf Boxkämpfer jagen Viktor", "", False, None),  # any Unicode
        ("パスワードは長い方がいいですね本当に", "", False, None),
        ("no composition rules needed here", "", False, None),
    ],
)
def test_policy(password: str, username: str, has_mfa: bool, reason: str | None) -> None:
    problems = password_problems(password, username, has_mfa=has_mfa)
    if reason is None:
        assert problems == []
    else:
        assert any(reason in p for p in problems), problems


def test_64_characters_are_accepted() -> None:
    assert password_problems("a long sentence " * 4) == []


def test_hash_is_argon2id_with_at_least_owasp_parameters() -> None:
    encoded = hash_password("correct horse battery staple")
    assert encoded.startswith("$argon2id$")
    params = dict(p.split("=") for p in encoded.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1


def test_verify_normalises_unicode() -> None:
    composed, decomposed = "caf\u00e9 au lait tous les jours", "cafe\u0301 au lait tous les jours"
    assert verify_password(hash_password(composed), decomposed)


def test_verify_refuses_wrong_and_missing_hashes() -> None:
    assert not verify_password(hash_password("the right passphrase"), "the wrong passphrase")
    assert not verify_password(None, "anything at all here")
    assert not verify_password("not-a-hash", "anything at all here")


def test_weaker_hashes_are_flagged_for_upgrade() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    assert needs_rehash(weak.hash("correct horse battery staple"))
    assert not needs_rehash(passwords.hash_password("correct horse battery staple"))
