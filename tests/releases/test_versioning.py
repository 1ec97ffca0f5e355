"""Versions checked against the service's convention: the full SemVer 2.0.0 grammar and its
precedence, CalVer by the plan's pattern; every refusal says what is wrong."""

from __future__ import annotations

import random

import pytest

from watchkeeper.releases.versioning import VersionInvalid, calver_tokens, parse, parse_semver


@pytest.mark.parametrize(
    "text",
    [
        "0.0.4",
        "1.2.3",
        "10.20.30",
        "1.1.2-prerelease+meta",
        "1.1.2+meta",
        "1.1.2+meta-valid",
        "1.0.0-alpha",
        "1.0.0-alpha.beta.1",
        "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
        "1.0.0-0A.is.legal",
        "1.0.0-rc.1+build.123",
        "2.0.0+build.1848",
        "99999999999999999999999.999999999999999999.99999999999999999",
    ],
)
def test_valid_semver(text: str) -> None:
    assert str(parse(text, "semver")) == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1.4", "1.4 is not SemVer: it needs three numbers MAJOR.MINOR.PATCH (it has 2)"),
        ("1.2.3.4", "it needs three numbers MAJOR.MINOR.PATCH (it has 4)"),
        ("01.1.1", 'the major version "01" has a leading zero'),
        ("1.02.1", 'the minor version "02" has a leading zero'),
        ("1.2.a", 'the patch version "a" is not a non-negative whole number'),
        ("v1.2.3", 'drop the leading "v" (1.2.3)'),
        ("1.2.3-", 'the pre-release after "-" is empty'),
        ("1.2.3-0123", 'the numeric pre-release identifier "0123" has a leading zero'),
        ("1.2.3-alpha..1", "the pre-release has an empty identifier"),
        ("1.2.3-alpha_beta", 'identifier "alpha_beta" may only hold ASCII letters'),
        ("1.2.3+", 'the build metadata after "+" is empty'),
        ("1.2.3+build..1", "the build metadata has an empty identifier"),
        ("1.2.-3", 'the patch version "" is not a non-negative whole number'),
        ("", "the version is empty"),
        (" 1.2.3", "has spaces around it"),
    ],
)
def test_invalid_semver_says_why(text: str, why: str) -> None:
    with pytest.raises(VersionInvalid) as caught:
        parse(text, "semver")
    assert why in str(caught.value)


def test_build_metadata_may_have_leading_zeros() -> None:
    assert parse_semver("1.0.0+001").build == ("001",)


def test_semver_precedence_follows_the_specification() -> None:
    # SemVer 2.0.0 §11, in order.
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
        "10.0.0",
    ]
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=lambda v: parse(v, "semver")) == ordered
    assert parse("1.0.0+build.1", "semver") == parse("1.0.0+build.2", "semver")


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("YYYY.0M.MICRO", "2026.12.3"),
        ("YYYY.0M.MICRO", "2026.01.0-rc1"),
        ("YYYY.MM.DD", "2026.2.28"),
        ("YY.0M.0D", "26.02.09"),
        ("0Y.0W", "06.07"),
        ("YYYY.MINOR.MICRO", "2026.4.11"),
        ("YYYY.0M.0D", "2024.02.29"),
    ],
)
def test_valid_calver(pattern: str, text: str) -> None:
    assert str(parse(text, "calver", pattern)) == text


@pytest.mark.parametrize(
    ("pattern", "text", "why"),
    [
        ("YYYY.0M.MICRO", "2026.12", "it needs 3 dot-separated part(s), it has 2"),
        ("YYYY.0M.MICRO", "2026.2.1", '0M "2" is not a zero-padded month from 01 to 12'),
        ("YYYY.MM.MICRO", "2026.02.1", 'MM "02" is not a month from 1 to 12'),
        ("YYYY.0M.MICRO", "2026.13.1", '0M "13" is not a zero-padded month'),
        ("YYYY.0M.MICRO", "26.12.1", 'YYYY "26" is not a four-digit year'),
        ("YYYY.0M.0D", "2026.02.30", "2026-02-30 is not a date"),
        ("YYYY.0M.MICRO", "2026.12.01", 'MICRO "01" is not a number'),
        ("YYYY.0M.MICRO", "2026.12.x", 'MICRO "x" is not a number'),
        ("YYYY.0M.MICRO", "2026.12.1-", "the suffix after"),
    ],
)
def test_invalid_calver_says_why(pattern: str, text: str, why: str) -> None:
    with pytest.raises(VersionInvalid) as caught:
        parse(text, "calver", pattern)
    assert f"{text} is not CalVer {pattern}: " in str(caught.value)
    assert why in str(caught.value)


def test_calver_orders_by_its_parts_and_suffixed_first() -> None:
    versions = ["2026.12.1-rc1", "2026.12.1", "2026.12.2", "2027.01.0"]
    shuffled = ["2027.01.0", "2026.12.1", "2026.12.2", "2026.12.1-rc1"]
    assert sorted(shuffled, key=lambda v: parse(v, "calver")) == versions


def test_unknown_calver_part_is_named() -> None:
    with pytest.raises(VersionInvalid, match='"YYY" in the CalVer pattern YYY.MM'):
        calver_tokens("YYY.MM")
    with pytest.raises(VersionInvalid, match="names the year twice"):
        calver_tokens("YYYY.YY")
