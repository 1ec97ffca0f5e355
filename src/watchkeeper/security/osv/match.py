"""OSV matching: is a package version affected by an ``affected[]`` entry, and which fixed
version to upgrade to.

The evaluation follows the OSV schema's algorithm: a version is affected when it is listed
in ``versions`` or lies in one of the ranges. A range's events are sorted by version
(``introduced: "0"`` before every version); walking them, ``introduced`` at or below the
version makes it affected, ``fixed`` at or below it (fixed is exclusive) and
``last_affected`` below it (last_affected is inclusive) make it unaffected; a range with
``limit`` events only covers versions below one of them (``*`` is infinity). ``SEMVER``
ranges are ordered by SemVer, ``ECOSYSTEM`` ranges by the ecosystem's ordering; ``GIT``
ranges name commits, not package versions, and are not used.

The fix to upgrade to is taken from the ranges that contain the installed version only, and
must itself be unaffected by every entry of the vulnerability: ``[1.0, 2.0)`` and
``[2.0, 2.5)`` give 1.2 the fix 2.5, not 2.0 (see :func:`evaluate_entries`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from watchkeeper.security.versions import SEMVER, Ordering, VersionError

log = logging.getLogger(__name__)

_KINDS = ("introduced", "fixed", "last_affected", "limit")


@dataclass(frozen=True)
class Match:
    """The outcome for one installed version."""

    affected: bool
    fixed: str | None = None
    """The smallest fixed version above the installed one that is not affected itself: the
    upgrade that fixes it (None: no fix is known)."""


NOT_AFFECTED = Match(False)


def _event(raw: dict[str, Any]) -> tuple[str, str] | None:
    for kind in _KINDS:
        value = raw.get(kind)
        if isinstance(value, str) and value:
            return kind, value
    return None


def _events(raw_range: dict[str, Any]) -> list[tuple[str, str]]:
    found = (_event(e) for e in raw_range.get("events") or [] if isinstance(e, dict))
    return [e for e in found if e is not None]


def _ordering(raw_range: dict[str, Any], ecosystem: Ordering | None) -> Ordering | None:
    kind = raw_range.get("type")
    if kind == "SEMVER":
        return SEMVER
    if kind == "ECOSYSTEM":
        return ecosystem
    return None  # GIT: commits, not versions


def in_range(version: str, events: list[tuple[str, str]], ordering: Ordering) -> bool:
    """Whether ``version`` lies in one range (its ``(kind, version)`` events); raise
    VersionError when ``version`` or an event's version cannot be read."""
    compare = ordering.compare
    limits = [v for kind, v in events if kind == "limit"]
    if limits and not any("*" in v or compare(version, v) < 0 for v in limits):
        return False

    def order(a: tuple[str, str], b: tuple[str, str]) -> int:
        if a[1] == b[1]:
            return 0
        if a == ("introduced", "0"):
            return -1
        if b == ("introduced", "0"):
            return 1
        return compare(a[1], b[1])

    affected = False
    for kind, value in sorted(
        (e for e in events if e[0] != "limit"), key=functools.cmp_to_key(order)
    ):
        if kind == "introduced":
            if value == "0" or compare(version, value) >= 0:
                affected = True
        elif kind == "fixed":
            if compare(version, value) >= 0:
                affected = False
        elif kind == "last_affected" and compare(version, value) > 0:
            affected = False
    return affected


def _listed(version: str, versions: Iterable[str], ordering: Ordering | None) -> bool:
    for listed in versions:
        if listed == version:
            return True
        if ordering is not None:
            try:
                if ordering.compare(listed, version) == 0:
                    return True
            except VersionError:
                continue
    return False


Entry = tuple[list[dict[str, Any]], list[str]]
"""One ``affected[]`` entry: its ``ranges`` and its listed ``versions``."""


def _affects(
    version: str, entry: Entry, ecosystem: Ordering | None
) -> tuple[bool, list[tuple[str, Ordering]]]:
    """Whether ``version`` is affected by ``entry``, and the fixed versions above it that
    the ranges containing it name. A range that cannot be read is skipped; raise
    VersionError when no range could be evaluated and the version is not listed."""
    ranges, versions = entry
    affected = _listed(version, versions, ecosystem)
    fixes: list[tuple[str, Ordering]] = []
    undecided: VersionError | None = None
    evaluated = False
    for raw_range in ranges:
        ordering = _ordering(raw_range, ecosystem)
        if ordering is None:
            continue
        events = _events(raw_range)
        try:
            inside = in_range(version, events, ordering)
        except VersionError as exc:
            undecided = exc
            continue
        evaluated = True
        if not inside:
            continue
        affected = True
        for kind, value in events:
            if kind != "fixed":
                continue
            try:
                if ordering.compare(value, version) > 0:
                    fixes.append((value, ordering))
            except VersionError:
                continue
    if not affected and undecided is not None and not evaluated:
        raise undecided
    return affected, fixes


def evaluate(
    version: str,
    ranges: list[dict[str, Any]],
    versions: list[str],
    ecosystem: Ordering | None,
) -> Match:
    """Whether ``version`` is affected by one ``affected[]`` entry (its ``ranges`` and
    listed ``versions``), and the fix to upgrade to (see :func:`evaluate_entries`).

    ``ecosystem`` orders ECOSYSTEM ranges (None: the ecosystem has no ordering here, and
    only SEMVER ranges and listed versions count). A range whose events cannot be read in
    its ordering is skipped, as is every range when ``version`` itself cannot be read in
    it; raise VersionError only when no range could be evaluated and the version is not
    listed (the caller counts such versions as undecided)."""
    return evaluate_entries(version, [(ranges, versions)], ecosystem)


def evaluate_entries(version: str, entries: list[Entry], ecosystem: Ordering | None) -> Match:
    """Whether ``version`` is affected by one vulnerability that has ``entries`` for the
    package (a record may list a package more than once): affected when one entry says so.

    The fix is found from the ranges that contain ``version``: the smallest fixed version
    they name that no entry finds affected. When each of them is affected still (it opens
    another range: ``[1.0, 2.0)`` and ``[2.0, 2.5)``), the fixes of the ranges containing
    the smallest one are tried next, a few steps at most. A fixed event of a range not on
    that path is not an upgrade that fixes ``version`` (None: no fix known). An entry that
    cannot be evaluated for ``version`` is left out; raise VersionError when none could."""
    decided: list[Entry] = []
    candidates: dict[str, Ordering] = {}
    affected = False
    error: VersionError | None = None
    for entry in entries:
        try:
            hit, fixes = _affects(version, entry, ecosystem)
        except VersionError as exc:
            error = exc
            continue
        decided.append(entry)
        if hit:
            affected = True
            candidates.update(fixes)
    if not affected:
        if error is not None and not decided:
            raise error
        return NOT_AFFECTED
    return Match(True, _upgrade(candidates, decided, ecosystem))


MAX_STEPS = 8
"""Affected fixed versions followed to the next range's fix, at most."""


def _upgrade(
    candidates: dict[str, Ordering], entries: list[Entry], ecosystem: Ordering | None
) -> str | None:
    """The smallest of ``candidates`` no entry finds affected; when all are, the next
    step from the smallest of them (see :func:`evaluate_entries`)."""
    for _ in range(MAX_STEPS):
        following: dict[str, Ordering] | None = None
        for value, _ordering_of in _ascending(candidates):
            affected, fixes = _across(value, entries, ecosystem)
            if not affected:
                return value
            if following is None:
                following = fixes
        if not following:
            return None
        candidates = following
    return None


def _across(
    version: str, entries: list[Entry], ecosystem: Ordering | None
) -> tuple[bool, dict[str, Ordering]]:
    """Whether any of ``entries`` finds ``version`` affected (True when one cannot tell:
    not a proven fix), with the fixes above it of the ranges containing it."""
    affected = False
    fixes: dict[str, Ordering] = {}
    for entry in entries:
        try:
            hit, found = _affects(version, entry, ecosystem)
        except VersionError:
            return True, {}
        if hit:
            affected = True
            fixes.update(found)
    return affected, fixes


def _ascending(candidates: dict[str, Ordering]) -> list[tuple[str, Ordering]]:
    """``candidates`` smallest first, each compared in its own range's ordering (as text
    when that cannot read the other)."""

    def compare(a: tuple[str, Ordering], b: tuple[str, Ordering]) -> int:
        try:
            return a[1].compare(a[0], b[0])
        except VersionError:
            return (a[0] > b[0]) - (a[0] < b[0])

    return sorted(candidates.items(), key=functools.cmp_to_key(compare))
