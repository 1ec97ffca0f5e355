"""Semantic versions, ordered by SemVer 2.0 precedence (section 11): major, minor and patch
as numbers; a version with a pre-release sorts before the same version without one;
pre-release identifiers compare one by one, numeric ones as numbers and before
alphanumeric ones, which compare in ASCII order, and a shorter set of identifiers sorts
first when all before are equal. Build metadata (``+...``) is ignored.

Used for npm and crates.io, and for Go modules through :func:`compare_go` (a leading
``v`` and the ``+incompatible`` suffix dropped). A leading ``v`` or ``=`` is accepted
everywhere, and a missing minor or patch number reads as 0 (``1.2`` is ``1.2.0``), as
version strings in lock files and advisories sometimes have them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from watchkeeper.security.versions.errors import VersionError

_SEMVER = re.compile(
    r"(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


class SemverError(VersionError):
    """A string that is not a semantic version."""


class SemVer(NamedTuple):
    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...]


@lru_cache(maxsize=65536)
def parse(text: str) -> SemVer:
    """Return ``text`` as a semantic version; raise SemverError if it is not one."""
    value = text.strip().lstrip("=")
    if value[:1] in ("v", "V"):
        value = value[1:]
    found = _SEMVER.fullmatch(value)
    if found is None:
        raise SemverError(f'"{text}" is not a semantic version')
    pre: tuple[int | str, ...] = ()
    if found["pre"]:
        pre = tuple(int(p) if p.isdigit() else p for p in found["pre"].split("."))
    return SemVer(int(found["major"]), int(found["minor"] or 0), int(found["patch"] or 0), pre)


def _compare_pre(a: tuple[int | str, ...], b: tuple[int | str, ...]) -> int:
    if a == b:
        return 0
    if not a:  # a release sorts after its pre-releases
        return 1
    if not b:
        return -1
    for x, y in zip(a, b, strict=False):
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        if isinstance(x, int):  # numeric identifiers sort before alphanumeric ones
            return -1
        if isinstance(y, int):
            return 1
        return -1 if x < y else 1
    return -1 if len(a) < len(b) else 1


def compare(a: str, b: str) -> int:
    """Return -1, 0 or 1 as ``a`` has lower, equal or higher precedence than ``b``; raise
    SemverError if either is not a semantic version."""
    va, vb = parse(a), parse(b)
    if va[:3] != vb[:3]:
        return -1 if va[:3] < vb[:3] else 1
    return _compare_pre(va.pre, vb.pre)


def _go(text: str) -> str:
    return text.removesuffix("+incompatible")


def compare_go(a: str, b: str) -> int:
    """:func:`compare` for Go module versions (``v1.2.3``, ``v2.0.0+incompatible``,
    pseudo-versions ``v0.0.0-20240101000000-abcdef123456``)."""
    return compare(_go(a), _go(b))
