"""One inventory as the collectors return it: the packages of one Python environment, lock
file, the Debian packages, the running kernel or the available OS updates of a host.

The packages are rows of strings: ``[name, version]``, and for ``os-updates`` ``[name,
candidate, installed, origin]``. They are kept sorted and without duplicates so that the
same software always gives the same ``digest``, which the agent and the server compare to
send and store an inventory only when it changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from watchkeeper.exceptions import WatchkeeperError

PYPI = "PyPI"
NPM = "npm"
DEBIAN = "Debian"
KERNEL = "kernel"
OS_UPDATES = "os-updates"
INVENTORY_ECOSYSTEMS: tuple[str, ...] = (PYPI, NPM, DEBIAN, KERNEL, OS_UPDATES)
"""The ``ecosystem`` of a stored inventory (``HostPackages.ecosystem``)."""

MAX_PACKAGES = 100_000
"""Most rows one inventory may hold."""
MAX_FIELD = 255
"""Longest package name, version or origin (``SecurityFinding.package`` is 255 long)."""
MAX_LOCATION = 1024
MAX_DISTRO = 64
MAX_ERROR = 1000

_PEP503 = re.compile(r"[-_.]+")


class CollectError(WatchkeeperError):
    """One location could not be inventoried: unreadable, malformed, or too slow. The
    message names the file (and line where known)."""


def normalise_pypi(name: str) -> str:
    """Return the PEP 503 normalised form of a Python distribution name (``Foo_Bar`` ->
    ``foo-bar``), the form OSV's PyPI records use."""
    return _PEP503.sub("-", name.strip()).lower()


def packages_digest(distro: str, packages: Iterable[Sequence[str]]) -> str:
    """Return the hex SHA-256 of an inventory's distro and packages (in any order)."""
    rows = sorted({tuple(row) for row in packages})
    text = json.dumps([distro, rows], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Collected:
    """One location's inventory, or why it could not be taken (``error``).

    ``skipped`` counts entries left out: unpinned requirements, packages without a version
    or with overlong fields."""

    ecosystem: str
    location: str
    packages: tuple[tuple[str, ...], ...] = ()
    distro: str = ""
    error: str = ""
    skipped: int = 0

    @property
    def digest(self) -> str:
        """The digest of the packages; empty for a failed collection."""
        return "" if self.error else packages_digest(self.distro, self.packages)

    @property
    def key(self) -> tuple[str, str]:
        return (self.ecosystem, self.location)


def finish(
    ecosystem: str,
    location: str,
    rows: Iterable[Sequence[str]],
    *,
    distro: str = "",
    skipped: int = 0,
) -> Collected:
    """Return the inventory of ``rows``: duplicates merged, sorted, rows with an empty or
    overlong field skipped (and counted); an error if more than MAX_PACKAGES remain."""
    kept: set[tuple[str, ...]] = set()
    for row in rows:
        if all(0 < len(field) <= MAX_FIELD for field in row[:2]) and all(
            len(field) <= MAX_FIELD for field in row[2:]
        ):
            kept.add(tuple(row))
        else:
            skipped += 1
    if len(kept) > MAX_PACKAGES:
        return Collected(
            ecosystem,
            location,
            distro=distro,
            error=f"{location}: {len(kept)} packages, more than the {MAX_PACKAGES} an "
            "inventory may hold",
        )
    return Collected(ecosystem, location, tuple(sorted(kept)), distro, skipped=skipped)


def failed(ecosystem: str, location: str, error: str) -> Collected:
    """Return a failed inventory of ``location`` (the message cut to MAX_ERROR)."""
    return Collected(ecosystem, location, error=error[:MAX_ERROR] or "failed")
