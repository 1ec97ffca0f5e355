"""Which files a files backup covers, and checksums of a random sample of them.

The patterns follow restic's ``--exclude`` closely enough for sampling: a pattern starting
with ``/`` matches the full path (or a directory above it), any other pattern matches a
path component or the path's tail.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

CHUNK = 1 << 20


def excluded(path: str, patterns: Sequence[str]) -> bool:
    """Return True when ``path`` (absolute) matches one of restic-style ``patterns``."""
    parts = path.strip("/").split("/")
    for pattern in patterns:
        if pattern.startswith("/"):
            bare = pattern.rstrip("/")
            if fnmatch.fnmatchcase(path, bare) or path.startswith(bare + "/"):
                return True
            continue
        if any(fnmatch.fnmatchcase(p, pattern) for p in parts):
            return True
        if fnmatch.fnmatchcase(path, "*/" + pattern.rstrip("/")):
            return True
    return False


def included(path: str, patterns: Sequence[str]) -> bool:
    """Return True when there are no ``patterns`` or the file matches one of them."""
    if not patterns:
        return True
    name = os.path.basename(path)
    return any(
        fnmatch.fnmatchcase(name, p)
        or fnmatch.fnmatchcase(path, p)
        or fnmatch.fnmatchcase(path, "*/" + p)
        for p in patterns
    )


def walk(
    roots: Sequence[Path], exclude: Sequence[str] = (), include: Sequence[str] = ()
) -> Iterator[str]:
    """Yield the absolute paths of the regular files under ``roots`` that are backed up."""
    for root in roots:
        top = str(root.absolute())
        if os.path.isfile(top):
            if not excluded(top, exclude) and included(top, include):
                yield top
            continue
        for directory, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not excluded(os.path.join(directory, d), exclude))
            for name in sorted(files):
                full = os.path.join(directory, name)
                if (
                    os.path.isfile(full)
                    and not os.path.islink(full)
                    and not excluded(full, exclude)
                    and included(full, include)
                ):
                    yield full


def pick(paths: Iterator[str], count: int, rng: random.Random | None = None) -> list[str]:
    """Return up to ``count`` paths chosen uniformly at random in one pass (reservoir)."""
    rng = rng or random.Random()
    chosen: list[str] = []
    for i, path in enumerate(paths):
        if i < count:
            chosen.append(path)
        else:
            j = rng.randint(0, i)
            if j < count:
                chosen[j] = path
    return sorted(chosen)


def sha256_of(path: str | Path) -> str | None:
    """Return the file's sha256 in hex, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def checksums(paths: Sequence[str]) -> dict[str, str]:
    """sha256 of each readable path."""
    out: dict[str, str] = {}
    for path in paths:
        digest = sha256_of(path)
        if digest is not None:
            out[path] = digest
    return out


def stable(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """The checksums that did not change while the backup ran: a file written to during
    the backup may legitimately differ from its snapshot, so it is left out of the sample."""
    return {p: d for p, d in before.items() if after.get(p) == d}
