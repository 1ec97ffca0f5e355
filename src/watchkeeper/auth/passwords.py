"""Password hashing (argon2id) and policy."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP minimum for argon2id: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
MIN_LENGTH = 15
MAX_LENGTH = 1024
# Verified against when the user does not exist, so that unknown users cost the same time.
_DUMMY_HASH = HASHER.hash("watchkeeper-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return True if ``password`` matches; spend the same time when there is no hash."""
    try:
        return HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


def password_problems(password: str, username: str = "") -> list[str]:
    """Return the reasons ``password`` is refused (empty when acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters (a passphrase works well)")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    if username and len(username) >= 3 and username.casefold() in password.casefold():
        problems.append("must not contain the user name")
    return problems
