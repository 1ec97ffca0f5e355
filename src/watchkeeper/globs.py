"""Shell-style globs (``web-*``, ``db-?``, ``[ab]-1``) as the plan uses them: for host names,
suppressions, inventories and hardening profiles (any case), and for the names of checks,
policies and databases in compliance evidence (case-sensitive, as the plan spells them).

A module of its own, importing only the standard library, so that ``agent/`` and
``security/`` can both use it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

GLOB_CHARACTERS = "*?["


def matches(value: str, pattern: str, *, case_sensitive: bool = False) -> bool:
    """Return True when ``value`` matches the glob ``pattern``; any case unless
    ``case_sensitive``. Path separators get no special meaning."""
    if case_sensitive:
        return fnmatchcase(value, pattern)
    return fnmatchcase(value.lower(), pattern.lower())


def matches_any(value: str, patterns: Iterable[str], *, case_sensitive: bool = False) -> bool:
    """Return True when ``value`` matches one of the globs ``patterns`` (none: False); any
    case unless ``case_sensitive``."""
    if not case_sensitive:
        value = value.lower()
    return any(
        fnmatchcase(value, pattern if case_sensitive else pattern.lower()) for pattern in patterns
    )


def is_glob(pattern: str) -> bool:
    """Return True when ``pattern`` has a wildcard (otherwise it names one value)."""
    return any(char in pattern for char in GLOB_CHARACTERS)
