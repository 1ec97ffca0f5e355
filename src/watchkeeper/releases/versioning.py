"""Version conventions a service's deploys are checked against: Semantic Versioning 2.0.0
(the full grammar and its precedence rules) and Calendar Versioning by the pattern the plan
gives (``YYYY.0M.MICRO``).

``parse(version, versioning, calver_format)`` returns a comparable :class:`Version` or
raises :class:`VersionInvalid` saying what is wrong ("1.4 is not SemVer: ...").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from watchkeeper.exceptions import WatchkeeperError

MAX_LENGTH = 128
_NUMERIC = re.compile(r"0|[1-9][0-9]*")
_DIGITS = re.compile(r"[0-9]+")
_IDENTIFIER = re.compile(r"[0-9A-Za-z-]+")
_SUFFIX = re.compile(r"[0-9A-Za-z][0-9A-Za-z.-]*")

# CalVer tokens: (smallest, largest, zero-padded width or 0 for none)
CALVER_TOKENS: dict[str, tuple[int, int, int]] = {
    "YYYY": (1, 9999, 4),
    "YY": (0, 999, 0),
    "0Y": (0, 999, 2),
    "MM": (1, 12, 0),
    "0M": (1, 12, 2),
    "WW": (1, 53, 0),
    "0W": (1, 53, 2),
    "DD": (1, 31, 0),
    "0D": (1, 31, 2),
    "MAJOR": (0, 2**63 - 1, 0),
    "MINOR": (0, 2**63 - 1, 0),
    "MICRO": (0, 2**63 - 1, 0),
}
_TOKEN_MEANING = {
    "YYYY": "a four-digit year",
    "YY": "a short year (2026 is 26, 2106 is 106)",
    "0Y": "a zero-padded short year (06, 26, 106)",
    "MM": "a month from 1 to 12",
    "0M": "a zero-padded month from 01 to 12",
    "WW": "a week from 1 to 53",
    "0W": "a zero-padded week from 01 to 53",
    "DD": "a day from 1 to 31",
    "0D": "a zero-padded day from 01 to 31",
    "MAJOR": "a number",
    "MINOR": "a number",
    "MICRO": "a number",
}


class VersionInvalid(WatchkeeperError):
    """A version does not follow the service's convention; the message says why."""


# A pre-release identifier sorts as (0, number) or (1, text): numeric ones first.
Identifier = tuple[int, int | str]


@dataclass(frozen=True, order=True)
class Version:
    """A parsed version; instances of one convention compare by precedence."""

    key: tuple[object, ...] = field(repr=False)
    text: str = field(compare=False)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class SemVer:
    """A Semantic Version: MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def precedence(self) -> tuple[object, ...]:
        """The sort key of SemVer 2.0.0 §11: build metadata is ignored; a pre-release sorts
        before its release; identifiers compare numerically or in ASCII order, numeric ones
        lower; a longer list of equal identifiers is higher."""
        pre: tuple[int, tuple[Identifier, ...]] = (
            (0, tuple((0, int(i)) if i.isdigit() else (1, i) for i in self.prerelease))
            if self.prerelease
            else (1, ())
        )
        return (self.major, self.minor, self.patch, pre)


def _not_semver(text: str, why: str) -> VersionInvalid:
    return VersionInvalid(f"{text} is not SemVer: {why}")


def _check_identifiers(text: str, part: str, what: str, numeric_rule: bool) -> tuple[str, ...]:
    identifiers = tuple(part.split("."))
    for ident in identifiers:
        if not ident:
            raise _not_semver(
                text, f"the {what} has an empty identifier (two dots, or a dot at an end)"
            )
        if not _IDENTIFIER.fullmatch(ident):
            raise _not_semver(
                text,
                f'the {what} identifier "{ident}" may only hold ASCII letters, digits and hyphens',
            )
        if numeric_rule and ident.isdigit() and not _NUMERIC.fullmatch(ident):
            raise _not_semver(
                text, f'the numeric pre-release identifier "{ident}" has a leading zero'
            )
    return identifiers


def parse_semver(text: str) -> SemVer:
    """Return ``text`` as a SemVer; raise VersionInvalid saying what is wrong."""
    if not text:
        raise VersionInvalid("the version is empty")
    if text[0] in "vV" and len(text) > 1 and text[1].isdigit():
        raise _not_semver(text, f'drop the leading "{text[0]}" ({text[1:]})')
    core, plus, build = text.partition("+")
    if plus and not build:
        raise _not_semver(text, 'the build metadata after "+" is empty')
    core, dash, pre = core.partition("-")
    if dash and not pre:
        raise _not_semver(text, 'the pre-release after "-" is empty')
    numbers = core.split(".")
    if len(numbers) != 3:
        raise _not_semver(
            text,
            f"it needs three numbers MAJOR.MINOR.PATCH (it has {len(numbers)}), e.g. 1.4.0",
        )
    for name, number in zip(("major", "minor", "patch"), numbers, strict=True):
        if not _DIGITS.fullmatch(number):
            raise _not_semver(
                text, f'the {name} version "{number}" is not a non-negative whole number'
            )
        if not _NUMERIC.fullmatch(number):
            raise _not_semver(text, f'the {name} version "{number}" has a leading zero')
    return SemVer(
        int(numbers[0]),
        int(numbers[1]),
        int(numbers[2]),
        _check_identifiers(text, pre, "pre-release", True) if dash else (),
        _check_identifiers(text, build, "build metadata", False) if plus else (),
    )


def calver_tokens(pattern: str) -> list[str]:
    """The tokens of a CalVer pattern; raise VersionInvalid naming an unknown one."""
    tokens = pattern.split(".")
    for token in tokens:
        if token not in CALVER_TOKENS:
            raise VersionInvalid(
                f'"{token}" in the CalVer pattern {pattern} is not a CalVer part (use '
                f"{', '.join(CALVER_TOKENS)})"
            )
    years = [t for t in tokens if t in ("YYYY", "YY", "0Y")]
    if len(years) > 1:
        raise VersionInvalid(f"the CalVer pattern {pattern} names the year twice")
    return tokens


def _year(token: str, value: int) -> int:
    return value if token == "YYYY" else 2000 + value


def parse_calver(text: str, pattern: str) -> tuple[tuple[int, ...], str]:
    """Return ``text``'s numbers and its suffix by ``pattern``; raise VersionInvalid saying
    what is wrong."""
    tokens = calver_tokens(pattern)
    if not text:
        raise VersionInvalid("the version is empty")
    head, dash, suffix = text.partition("-")
    if dash and not _SUFFIX.fullmatch(suffix):
        raise VersionInvalid(
            f"{text} is not CalVer {pattern}: the suffix after "
            '"-" must be letters, digits, dots or hyphens, starting with a letter or digit'
        )
    parts = head.split(".")
    if len(parts) != len(tokens):
        raise VersionInvalid(
            f"{text} is not CalVer {pattern}: it needs {len(tokens)} dot-separated "
            f"part(s), it has {len(parts)}"
        )
    values: list[int] = []
    for token, part in zip(tokens, parts, strict=True):
        low, high, width = CALVER_TOKENS[token]
        meaning = _TOKEN_MEANING[token]
        if not _DIGITS.fullmatch(part):
            raise VersionInvalid(
                f'{text} is not CalVer {pattern}: {token} "{part}" is not {meaning}'
            )
        value = int(part)
        padded = f"{value:0{width}d}" if width else str(value)
        if part != padded or not low <= value <= high:
            raise VersionInvalid(
                f'{text} is not CalVer {pattern}: {token} "{part}" is not {meaning}'
            )
        values.append(value)
    found = dict(zip(tokens, values, strict=True))
    year = next((_year(t, found[t]) for t in ("YYYY", "YY", "0Y") if t in found), None)
    month = found.get("MM", found.get("0M"))
    day = found.get("DD", found.get("0D"))
    if year is not None and month is not None and day is not None:
        try:
            date(year, month, day)
        except ValueError:
            raise VersionInvalid(
                f"{text} is not CalVer {pattern}: {year}-{month:02d}-{day:02d} is not a date"
            ) from None
    return tuple(values), suffix


def parse(text: str, versioning: str, calver_format: str = "YYYY.0M.MICRO") -> Version:
    """Return ``text`` as a comparable Version of ``versioning`` (``semver`` or ``calver``
    with ``calver_format``); raise VersionInvalid saying what is wrong."""
    if len(text) > MAX_LENGTH:
        raise VersionInvalid(f"the version is longer than {MAX_LENGTH} characters")
    if text != text.strip():
        raise VersionInvalid(f'"{text}" has spaces around it')
    if versioning == "semver":
        return Version(parse_semver(text).precedence, text)
    if versioning == "calver":
        values, suffix = parse_calver(text, calver_format)
        # A suffixed version (2026.12.1-rc1) sorts before the one without, like a pre-release.
        return Version((values, (0, suffix) if suffix else (1, "")), text)
    raise VersionInvalid(f'"{versioning}" is not a versioning convention (semver or calver)')


def describe(versioning: str, calver_format: str) -> str:
    """The convention in words, for forms and errors."""
    return "SemVer (1.4.2, 2.0.0-rc.1)" if versioning == "semver" else f"CalVer {calver_format}"
