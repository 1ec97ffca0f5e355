"""OSV range evaluation: introduced/fixed/last_affected/limit, listed versions, several
ranges, SEMVER vs ECOSYSTEM ordering, GIT ranges ignored, and the fix to upgrade to."""

from __future__ import annotations

from typing import Any

import pytest

from watchkeeper.security.osv.match import Match, evaluate, evaluate_entries
from watchkeeper.security.versions import VersionError, ordering_for

PYPI = ordering_for("PyPI")
DEBIAN = ordering_for("Debian:12")


def _range(*events: tuple[str, str], kind: str = "ECOSYSTEM") -> dict[str, Any]:
    return {"type": kind, "events": [{k: v} for k, v in events]}


FIXED = _range(("introduced", "0"), ("fixed", "2.0"))
TWO = _range(("introduced", "1.0"), ("fixed", "1.0.5"), ("introduced", "2.0"), ("fixed", "2.0.3"))
LAST = _range(("introduced", "1.2"), ("last_affected", "1.4"))
LIMITED = _range(("introduced", "0"), ("limit", "3.0"))
UNFIXED = _range(("introduced", "0"))
ADJACENT_A = _range(("introduced", "1.0"), ("fixed", "2.0"))
ADJACENT_B = _range(("introduced", "2.0"), ("fixed", "2.5"))


@pytest.mark.parametrize(
    ("version", "ranges", "want"),
    [
        ("1.9", [FIXED], Match(True, "2.0")),
        ("2.0", [FIXED], Match(False)),  # fixed is exclusive
        ("0.0.1", [FIXED], Match(True, "2.0")),  # introduced "0": before everything
        ("0.9", [TWO], Match(False)),
        ("1.0", [TWO], Match(True, "1.0.5")),
        ("1.0.5", [TWO], Match(False)),
        ("1.9", [TWO], Match(False)),
        ("2.0.1", [TWO], Match(True, "2.0.3")),  # the smallest fix above the version
        ("2.0.3", [TWO], Match(False)),
        ("1.1", [LAST], Match(False)),
        ("1.4", [LAST], Match(True)),  # last_affected is inclusive, and no fix is known
        ("1.4.1", [LAST], Match(False)),
        ("2.9", [LIMITED], Match(True)),
        ("3.0", [LIMITED], Match(False)),  # at or past the limit: not covered
        ("99", [UNFIXED], Match(True)),
        # events need not be sorted in the record
        ("1.5", [_range(("fixed", "2.0"), ("introduced", "1.0"))], Match(True, "2.0")),
        # several ranges: affected when any says so; the fix is the smallest fix of a range
        # containing the version that is not affected itself; 2.0 still is (by the first
        # range), so that range's fix is followed
        ("1.5", [_range(("introduced", "1.0"), ("fixed", "3.0")), FIXED], Match(True, "3.0")),
        ("0.5", [_range(("introduced", "1.0"), ("fixed", "3.0")), FIXED], Match(True, "3.0")),
        ("2.5", [_range(("introduced", "1.0"), ("fixed", "3.0")), FIXED], Match(True, "3.0")),
        # adjacent ranges: the first's fix opens the second, whose fix is the upgrade
        ("1.2", [ADJACENT_A, ADJACENT_B], Match(True, "2.5")),
        # no fix in the range containing it: another range's fix is not its upgrade
        ("1.2", [LAST, _range(("introduced", "5.0"), ("fixed", "5.1"))], Match(True)),
        # a limit of "*" is infinity
        ("9.0", [_range(("introduced", "0"), ("limit", "*"))], Match(True)),
    ],
)
def test_ecosystem_ranges(version: str, ranges: list[dict[str, Any]], want: Match) -> None:
    assert evaluate(version, ranges, [], PYPI) == want


def test_the_fix_is_unaffected_by_every_entry_of_the_vulnerability() -> None:
    # A record listing the package twice: the second entry covers 2.0 up to 2.5.
    entries = [([ADJACENT_A], []), ([ADJACENT_B], [])]
    assert evaluate_entries("1.2", entries, PYPI) == Match(True, "2.5")
    assert evaluate_entries("2.1", entries, PYPI) == Match(True, "2.5")
    assert evaluate_entries("2.5", entries, PYPI) == Match(False)
    # A listed version of another entry is not a fix either.
    assert evaluate_entries("1.2", [([ADJACENT_A], []), ([], ["2.0"])], PYPI) == Match(True)
    # One entry that cannot be read is left out; all of them: undecided.
    broken = ([_range(("introduced", "bogus version"))], [])
    assert evaluate_entries("1.2", [broken, ([ADJACENT_A], [])], PYPI) == Match(True, "2.0")
    with pytest.raises(VersionError):
        evaluate_entries("not-a-version", [([FIXED], [])], PYPI)


def test_pep440_equivalents() -> None:
    assert evaluate("2.0.0", [FIXED], [], PYPI) == Match(False)
    assert evaluate("2.0rc1", [FIXED], [], PYPI) == Match(True, "2.0")


def test_listed_versions() -> None:
    assert evaluate("1.3", [], ["1.2", "1.3"], PYPI) == Match(True)
    assert evaluate("1.3.0", [], ["1.3"], PYPI) == Match(True)  # equal in the ordering
    assert evaluate("1.4", [], ["1.2", "1.3"], PYPI) == Match(False)
    # an ecosystem without an ordering here: listed versions still match, by text
    assert evaluate("1.3", [FIXED], ["1.3"], None) == Match(True)
    assert evaluate("1.4", [FIXED], ["1.3"], None) == Match(False)


def test_semver_ranges_use_semver_whatever_the_ecosystem() -> None:
    semver_range = _range(("introduced", "1.0.0-alpha"), ("fixed", "1.0.0"), kind="SEMVER")
    assert evaluate("1.0.0-beta.2", [semver_range], [], None) == Match(True, "1.0.0")
    assert evaluate("1.0.0", [semver_range], [], None) == Match(False)


def test_git_ranges_are_ignored() -> None:
    git = {"type": "GIT", "repo": "https://example.org/x.git", "events": [{"introduced": "0"}]}
    assert evaluate("1.0", [git], [], PYPI) == Match(False)


def test_debian_tilde_fix() -> None:
    dsa = _range(("introduced", "0"), ("fixed", "3.0.11-1~deb12u2"))
    assert evaluate("3.0.11-1~deb12u1", [dsa], [], DEBIAN) == Match(True, "3.0.11-1~deb12u2")
    assert evaluate("3.0.11-1~deb12u2", [dsa], [], DEBIAN) == Match(False)
    assert evaluate("3.0.13-1~deb12u1", [dsa], [], DEBIAN) == Match(False)


def test_unreadable_versions() -> None:
    # the installed version cannot be read: undecided, the caller counts it
    with pytest.raises(VersionError):
        evaluate("not-a-version", [FIXED], [], PYPI)
    # a range whose events cannot be read is skipped; the others still count
    broken = _range(("introduced", "bogus version"), ("fixed", "also bogus"))
    assert evaluate("1.5", [broken, FIXED], [], PYPI) == Match(True, "2.0")
