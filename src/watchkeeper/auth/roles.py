"""Roles, from least to most privileged; each includes the ones before it."""

from __future__ import annotations

ROLES: tuple[str, ...] = ("viewer", "responder", "operator", "admin")


def role_allows(role: str, needed: str) -> bool:
    """Return True if a user with ``role`` may do what needs ``needed``."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)
