"""Password hashing (argon2id) and policy (NIST SP 800-63B-4)."""

from __future__ import annotations

import unicodedata
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1. Hashes with weaker parameters are
# upgraded at the next successful sign-in.
HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
MIN_LENGTH = 15
MIN_LENGTH_WITH_MFA = 8
MAX_LENGTH = 256
# Verified against when the user does not exist, so that unknown users cost the same time.
_DUMMY_HASH = HASHER.hash("watchkeeper-dummy-password-for-timing")
_CONTEXT_WORDS = ("watchkeeper",)


def normalise(password: str) -> str:
    """NFKC-normalise, as NIST asks, so the same characters always hash the same."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return HASHER.hash(normalise(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return True if ``password`` matches; spend the same time when there is no hash."""
    try:
        return HASHER.verify(password_hash or _DUMMY_HASH, normalise(password)) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn's list of the 30,000 passwords most seen in breaches; imported when a password
    # is first judged (its module holds ≈11 MB of word lists a server rarely needs).
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def _is_repetitive(password: str) -> bool:
    """True for one short chunk repeated: ``aaaa…``, ``abcabc…``, ``1212…``."""
    for size in range(1, 5):
        chunk = password[:size]
        if len(password) >= 2 * size and (chunk * (len(password) // size + 1)).startswith(password):
            return True
    return False


def password_problems(password: str, username: str = "", *, has_mfa: bool = False) -> list[str]:
    """Return why ``password`` is refused (empty when acceptable). No composition rules."""
    password = normalise(password)
    problems = []
    minimum = MIN_LENGTH_WITH_MFA if has_mfa else MIN_LENGTH
    if len(password) < minimum:
        hint = "" if has_mfa else " (8 once you have two-factor sign-in)"
        problems.append(f"must be at least {minimum} characters{hint}; a passphrase works well")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    folded = password.casefold()
    if folded in _common_passwords() or folded.strip("0123456789!.") in _common_passwords():
        problems.append("is one of the most common passwords found in data breaches")
    elif _is_repetitive(folded):
        problems.append("is a short sequence repeated; choose something less predictable")
    if username and len(username) >= 3 and username.casefold() in folded:
        problems.append("must not contain the user name")
    for word in _CONTEXT_WORDS:
        if folded.strip() == word or folded.replace(" ", "") == word * 2:
            problems.append(f'must not be just "{word}"')
    return problems
