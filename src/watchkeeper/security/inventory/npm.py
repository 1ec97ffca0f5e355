"""npm lock files (``package-lock.json``, ``npm-shrinkwrap.json``): every package in the
installed tree, with its exact version.

- lockfileVersion 2 and 3 list the tree under ``packages``, keyed by install path
  (``node_modules/a``, ``node_modules/a/node_modules/@scope/b``): the name is the part after
  the last ``node_modules/`` (or the entry's ``name``, for an alias). The root (``""``),
  workspace folders and links to them are the project's own code and are left out.
- lockfileVersion 1 nests the tree under ``dependencies``; an alias's version reads
  ``npm:real-name@1.2.3``.

Versions that are not semver (git, file and tarball dependencies) are skipped and counted:
no advisory range can match them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from watchkeeper.security.inventory.model import NPM, Collected, CollectError, finish
from watchkeeper.security.inventory.pylocks import read_text

Pairs = list[tuple[str, str]]
MODULES = "node_modules/"
MAX_DEPTH = 200
"""Deepest ``dependencies`` nesting followed in a version 1 lock file."""

_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")


def _version(name: str, version: Any) -> tuple[str, str] | None:
    """``(name, version)`` for a registry version (an alias resolved), else None."""
    if not isinstance(version, str):
        return None
    if version.startswith("npm:"):
        real, sep, version = version[4:].rpartition("@")
        if not sep or not real:
            return None
        name = real
    return (name, version) if _SEMVER.match(version) else None


def _from_packages(packages: dict[str, Any]) -> tuple[Pairs, int]:
    pairs: Pairs = []
    skipped = 0
    for path, entry in packages.items():
        if MODULES not in path or not isinstance(entry, dict) or entry.get("link"):
            continue  # the root, a workspace folder, or a link to one
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            name = path.rsplit(MODULES, 1)[1]
        found = _version(name, entry.get("version"))
        if found is None:
            skipped += 1
        else:
            pairs.append(found)
    return pairs, skipped


def _from_dependencies(dependencies: dict[str, Any], where: str) -> tuple[Pairs, int]:
    pairs: Pairs = []
    skipped = 0
    stack: list[tuple[dict[str, Any], int]] = [(dependencies, 0)]
    while stack:
        level, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CollectError(f"{where}: dependencies nested more than {MAX_DEPTH} deep")
        for name, entry in level.items():
            if not isinstance(entry, dict):
                skipped += 1
                continue
            found = _version(name, entry.get("version"))
            if found is None:
                skipped += 1
            else:
                pairs.append(found)
            nested = entry.get("dependencies")
            if isinstance(nested, dict):
                stack.append((nested, depth + 1))
    return pairs, skipped


def parse_package_lock(text: str, where: str = "package-lock.json") -> tuple[Pairs, int]:
    """Return the packages of an npm lock file and how many were skipped; raise
    CollectError naming ``where`` when it is not one."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CollectError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CollectError(f"{where}: not an npm lock file (no JSON object)")
    packages = doc.get("packages")
    if isinstance(packages, dict):  # lockfileVersion 2 and 3
        return _from_packages(packages)
    dependencies = doc.get("dependencies")
    if isinstance(dependencies, dict):  # lockfileVersion 1
        return _from_dependencies(dependencies, where)
    if "lockfileVersion" not in doc:
        raise CollectError(f"{where}: not an npm lock file (no lockfileVersion)")
    return [], 0  # a project without dependencies


def collect_npm_lock(location: str) -> Collected:
    """Return the inventory of an npm lock file; raise CollectError."""
    pairs, skipped = parse_package_lock(read_text(Path(location)), location)
    return finish(NPM, location, pairs, skipped=skipped)
