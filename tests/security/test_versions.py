"""Version ordering per ecosystem: dpkg's (epochs, tildes, revisions), PEP 440, SemVer 2.0
(npm, crates.io, Go) and Maven's ComparableVersion, as ordered tables."""

from __future__ import annotations

import pytest

from watchkeeper.security.versions import VersionError, debian, maven, ordering_for, pep440, semver


def _assert_ascending(compare: object, versions: list[str]) -> None:
    """Every pair of the table compares as its positions do."""
    assert callable(compare)
    for i, a in enumerate(versions):
        for j, b in enumerate(versions):
            expected = (i > j) - (i < j)
            assert compare(a, b) == expected, f"{a} vs {b}: {compare(a, b)}, want {expected}"


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        ("1:1.0", ">", "2.0"),  # the epoch decides first
        ("0:1.0", "=", "1.0"),  # epoch 0 is no epoch
        ("1.0~rc1", "<", "1.0"),  # a tilde sorts before the end of the string
        ("1.0~~", "<", "1.0~"),
        ("1.0~~a", "<", "1.0~"),
        ("1.0~rc1", "<", "1.0~rc2"),
        ("1.0-1", "<", "1.0-1+deb12u1"),  # a stable update sorts after its base
        ("1.0", "=", "1.0-0"),  # an empty revision equals revision 0
        ("1.0", "<", "1.0-1"),
        ("1.0a", "<", "1.0+"),  # letters sort before non-letters
        ("1.0a", "<", "1.0."),
        ("1.0", "<", "1.0a"),
        ("1.2.10", ">", "1.2.9"),  # digit runs compare as numbers
        ("1.002", "=", "1.2"),
        ("3.0.11-1~deb12u2", "<", "3.0.11-1~deb12u3"),
        ("3.0.11-1~deb12u2", "<", "3.0.11-1"),
        ("2.36.1-8+deb11u1", ">", "2.36.1-8"),
        ("1:9.18.19-1~deb12u1", "<", "1:9.18.24-1"),
        ("6.1.76-1", ">", "6.1.69-1"),
        ("1.2-3+b1", ">", "1.2-3"),  # a binNMU
        ("2.0-1-1", ">", "2.0-1"),  # the revision is after the last hyphen
    ],
)
def test_debian_order(a: str, op: str, b: str) -> None:
    want = {"<": -1, "=": 0, ">": 1}[op]
    assert debian.compare(a, b) == want
    assert debian.compare(b, a) == -want


def test_debian_table() -> None:
    _assert_ascending(
        debian.compare,
        ["0.9", "1.0~~", "1.0~~a", "1.0~", "1.0~rc1", "1.0", "1.0-1", "1.0-1+deb12u1",
         "1.0-2", "1.0a", "1.0+dfsg", "1.1", "2.0", "1:0.1"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("a:1.0", "epoch"),
        ("1.0-", "revision"),
        ("abc", "start with a digit"),
        ("1.0 beta", "character"),
        ("1.0-b@d", "character"),
        ("1:", "upstream version is empty"),
    ],
)
def test_debian_rejects(text: str, reason: str) -> None:
    with pytest.raises(debian.DebianVersionError, match=reason):
        debian.compare(text, "1.0")


def test_pep440_table_and_names() -> None:
    _assert_ascending(
        pep440.compare,
        ["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.1", "2.0", "10.0"],
    )
    assert pep440.compare("1.0", "1.0.0") == 0
    assert pep440.compare("1!0.1", "2.0") == 1  # epoch
    assert pep440.normalise_name("Foo_Bar.baz") == "foo-bar-baz"
    assert pep440.normalise_name("requests") == "requests"
    with pytest.raises(pep440.Pep440VersionError, match="not a PEP 440 version"):
        pep440.compare("not a version", "1.0")


def test_semver_precedence() -> None:
    # SemVer 2.0 section 11's own example, then numbers and build metadata.
    _assert_ascending(
        semver.compare,
        ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
         "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"],
    )  # fmt: skip
    assert semver.compare("1.0.0+build.1", "1.0.0+build.2") == 0
    assert semver.compare("v1.2.3", "1.2.3") == 0
    assert semver.compare("1.2", "1.2.0") == 0
    with pytest.raises(semver.SemverError, match="not a semantic version"):
        semver.compare("1.2.3.4.5", "1.0.0")


def test_go_versions() -> None:
    _assert_ascending(
        semver.compare_go,
        ["v0.0.0-20210101000000-abcdef123456", "v0.1.0", "v1.2.3", "v2.0.0+incompatible",
         "v2.1.0"],
    )  # fmt: skip
    assert semver.compare_go("v2.0.0+incompatible", "2.0.0") == 0


def test_maven_qualifiers() -> None:
    # The orderings Apache Maven's own ComparableVersion tests check.
    _assert_ascending(
        maven.compare,
        ["1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2",
         "1-m11", "1-rc", "1-cr2", "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123",
         "1-abc", "1-def", "1-pom-1", "1-1-snapshot", "1-1", "1-2", "1-123"],
    )  # fmt: skip


def test_maven_numbers() -> None:
    _assert_ascending(
        maven.compare,
        ["2.0", "2-1", "2.0.a", "2.0.0.a", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b",
         "2.1-c", "2.1-1", "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11",
         "11.m2", "11.m11", "11", "11.a", "11b", "11c", "11m"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b"),
    [("1", "1.0"), ("1", "1.0.0"), ("1-ga", "1"), ("1-final", "1"), ("1.0.0-GA", "1"),
     ("1-cr", "1-rc"), ("1.0-RC1", "1.0-cr1"), ("1a1", "1-alpha-1"), ("1.0alpha1", "1.0-alpha-1")],
)  # fmt: skip
def test_maven_equal(a: str, b: str) -> None:
    assert maven.compare(a, b) == 0


def test_maven_release_and_empty() -> None:
    assert maven.compare("2.17.1", "2.17.0") == 1
    assert maven.compare("2.15.0-rc2", "2.15.0") == -1
    with pytest.raises(maven.MavenVersionError):
        maven.compare("", "1")


@pytest.mark.parametrize(
    ("ecosystem", "name"),
    [("PyPI", "PEP 440"), ("npm", "SemVer (npm)"), ("crates.io", "SemVer (crates.io)"),
     ("Go", "SemVer (Go)"), ("Maven", "Maven"), ("Maven:https://maven.google.com", "Maven"),
     ("Debian", "dpkg"), ("Debian:12", "dpkg")],
)  # fmt: skip
def test_ordering_for(ecosystem: str, name: str) -> None:
    ordering = ordering_for(ecosystem)
    assert ordering is not None and ordering.name == name


def test_ordering_for_unknown_and_errors_are_version_errors() -> None:
    assert ordering_for("Hackage") is None
    pypi = ordering_for("PyPI")
    assert pypi is not None and pypi.normalise("Django_Rest") == "django-rest"
    for ordering, bad in ((ordering_for("Debian:12"), "x"), (ordering_for("npm"), "x.y")):
        assert ordering is not None
        with pytest.raises(VersionError):
            ordering.compare(bad, "1.0")


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp, character by character as lib/dpkg/version.c writes it: the
    reference the sort keys are checked against."""

    def order(c: str) -> int:
        return (
            0
            if not c or c.isdigit()
            else -1
            if c == "~"
            else ord(c)
            if c.isalpha()
            else ord(c) + 256
        )

    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac, bc = order(a[i] if i < len(a) else ""), order(b[j] if j < len(b) else "")
            if ac != bc:
                return (ac > bc) - (ac < bc)
            i, j = i + 1, j + 1
        si, sj = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        na, nb = int(a[si:i] or 0), int(b[sj:j] or 0)
        if na != nb:
            return (na > nb) - (na < nb)
    return 0


def test_debian_keys_agree_with_dpkg_verrevcmp() -> None:
    import random

    rng = random.Random(7)
    alphabet = "0123456789~.+ab"
    for _ in range(20000):
        a = "1" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        b = "1" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        assert debian.compare(a, b) == _verrevcmp(a, b), (a, b)
        assert debian.compare(f"1.0-{a}", f"1.0-{b}") == _verrevcmp(a, b), (a, b)
