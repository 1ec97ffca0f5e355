"""Python package versions, ordered by PEP 440 (through ``packaging.version``), and
package names normalised by PEP 503 (``Foo_Bar.baz`` and ``foo-bar-baz`` are one package)."""

from __future__ import annotations

import re
from functools import lru_cache

from packaging.version import InvalidVersion, Version

from watchkeeper.security.versions.errors import VersionError

_SEPARATORS = re.compile(r"[-_.]+")


class Pep440VersionError(VersionError):
    """A string that is not a PEP 440 version."""


@lru_cache(maxsize=65536)
def parse(text: str) -> Version:
    """Return ``text`` as a PEP 440 version; raise Pep440VersionError if it is not one."""
    try:
        return Version(text)
    except InvalidVersion:
        raise Pep440VersionError(f'"{text}" is not a PEP 440 version') from None


def compare(a: str, b: str) -> int:
    """Return -1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` (``1.0 == 1.0.0``);
    raise Pep440VersionError if either is not a PEP 440 version."""
    va, vb = parse(a), parse(b)
    return -1 if va < vb else (1 if va > vb else 0)


def normalise_name(name: str) -> str:
    """The PEP 503 normalised form of a distribution name."""
    return _SEPARATORS.sub("-", name).lower()
