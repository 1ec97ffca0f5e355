"""Debian package versions, ordered as dpkg orders them (``dpkg --compare-versions``).

A version is ``[epoch:]upstream[-revision]``: the epoch is a number (0 when absent), the
revision is what follows the last hyphen (empty when there is none, which sorts equal to
``0``). Upstream and revision are compared piecewise: a run of non-digits, compared
character by character where ``~`` sorts before everything (even the end of the string),
letters before every other character; then a run of digits, compared as a number.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from watchkeeper.security.versions.errors import VersionError

_UPSTREAM = re.compile(r"[A-Za-z0-9.+~:-]+")
_REVISION = re.compile(r"[A-Za-z0-9.+~]+")


class DebianVersionError(VersionError):
    """A string that is not a Debian version."""


class DebianVersion(NamedTuple):
    epoch: int
    upstream: str
    revision: str


@lru_cache(maxsize=65536)
def parse(text: str) -> DebianVersion:
    """Return ``text`` split into epoch, upstream and revision; raise DebianVersionError if
    it is not a Debian version (the same checks as dpkg's ``parseversion``)."""
    value = text.strip()
    if not value:
        raise DebianVersionError("an empty string is not a Debian version")
    epoch = 0
    rest = value
    if ":" in value:
        head, rest = value.split(":", 1)
        if not head.isdigit():
            raise DebianVersionError(f'"{text}": the epoch "{head}" is not a number')
        epoch = int(head)
    upstream, revision = rest, ""
    if "-" in rest:
        upstream, revision = rest.rsplit("-", 1)
        if not revision:
            raise DebianVersionError(f'"{text}": the revision after "-" is empty')
    if not upstream:
        raise DebianVersionError(f'"{text}": the upstream version is empty')
    if not upstream[0].isdigit():
        raise DebianVersionError(f'"{text}": the version does not start with a digit')
    if not _UPSTREAM.fullmatch(upstream) or (revision and not _REVISION.fullmatch(revision)):
        raise DebianVersionError(f'"{text}": it has a character a Debian version cannot have')
    return DebianVersion(epoch, upstream, revision)


def _order(char: str) -> int:
    """dpkg's weight of one character of a non-digit run."""
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


_END = ((0,), 0)
"""The end of a string: an empty non-digit run (weight 0) and the number 0."""


def _part_key(text: str) -> tuple[tuple[tuple[int, ...], int], ...]:
    """A sort key equivalent to dpkg's ``verrevcmp`` for an upstream version or revision:
    alternating (non-digit run, number) pairs, each run its characters' weights closed by
    0 (the end of the run sorts after ``~`` and before everything else), then the end of
    the string, so that a string that goes on with ``~`` sorts before one that stops."""
    parts = []
    i = 0
    while i < len(text):
        start = i
        while i < len(text) and not text[i].isdigit():
            i += 1
        run = tuple(_order(c) for c in text[start:i]) + (0,)
        start = i
        while i < len(text) and text[i].isdigit():
            i += 1
        parts.append((run, int(text[start:i] or "0")))
    while parts and parts[-1] == _END:  # "0" and "" are the same revision
        parts.pop()
    parts.append(_END)
    return tuple(parts)


@lru_cache(maxsize=65536)
def sort_key(text: str) -> tuple[int, tuple[object, ...], tuple[object, ...]]:
    """A key that sorts Debian versions as dpkg does; raise DebianVersionError if ``text``
    is not a Debian version."""
    version = parse(text)
    return version.epoch, _part_key(version.upstream), _part_key(version.revision)


def compare(a: str, b: str) -> int:
    """Return -1, 0 or 1 as Debian version ``a`` sorts before, equal to or after ``b``;
    raise DebianVersionError if either is not a Debian version."""
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)
