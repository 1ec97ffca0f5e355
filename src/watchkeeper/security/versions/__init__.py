"""Version ordering per ecosystem, so that OSV ranges can be evaluated offline.

Each module holds one ordering, a ``compare(a, b) -> int`` (-1, 0, 1) raising a subclass of
:class:`VersionError` for a string it cannot read. :func:`ordering_for` maps an OSV
ecosystem string (``PyPI``, ``npm``, ``Go``, ``crates.io``, ``Maven``, ``Debian``,
``Debian:12``) to its ordering and to how that ecosystem normalises package names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from watchkeeper.security.versions import debian, maven, pep440, semver
from watchkeeper.security.versions.errors import VersionError

__all__ = ["Ordering", "VersionError", "ordering_for", "SEMVER"]


def _same(name: str) -> str:
    return name


@dataclass(frozen=True)
class Ordering:
    """How one ecosystem orders its versions and writes its package names."""

    name: str
    compare: Callable[[str, str], int]
    """-1, 0 or 1 as the first version sorts before, equal to or after the second; raises
    VersionError for a version this ordering cannot read."""
    normalise: Callable[[str], str] = _same
    """The package name as the ecosystem compares names (PEP 503 for PyPI)."""


SEMVER = Ordering("SemVer", semver.compare)
"""The ordering of OSV ``SEMVER`` ranges, whatever the ecosystem."""

_ORDERINGS = {
    "PyPI": Ordering("PEP 440", pep440.compare, pep440.normalise_name),
    "npm": Ordering("SemVer (npm)", semver.compare),
    "crates.io": Ordering("SemVer (crates.io)", semver.compare),
    "Go": Ordering("SemVer (Go)", semver.compare_go),
    "Maven": Ordering("Maven", maven.compare),
    "Debian": Ordering("dpkg", debian.compare),
}


def ordering_for(ecosystem: str) -> Ordering | None:
    """The ordering of an OSV ecosystem string; a release or repository suffix is ignored
    (``Debian:12`` is ``Debian``, ``Maven:https://maven.google.com`` is ``Maven``). None for
    an ecosystem Watchkeeper cannot order (its records then match by listed versions only)."""
    return _ORDERINGS.get(ecosystem) or _ORDERINGS.get(ecosystem.split(":", 1)[0])
